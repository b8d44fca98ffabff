"""Loading an environment by name (``--env dev``) into a validated, typed view."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from obs_conformance.envconf.envfile import Entry, parse_env_file
from obs_conformance.envconf.errors import EnvFileError
from obs_conformance.envconf.paths import PROJECT_ROOT
from obs_conformance.envconf.schema import KEYS, SECRET_KEYS
from obs_conformance.envconf.secrets import Secret, mask
from obs_conformance.envconf.targets import TARGETS, Target
from obs_conformance.envconf.values import Duration, Endpoint, Quantity

# $OBSCONF_ENVIRONMENTS, else environments/ of the checkout (or of the current directory, when installed)
ENVIRONMENTS_DIR = Path(os.environ.get("OBSCONF_ENVIRONMENTS") or PROJECT_ROOT / "environments")
SECRETS_FILE = "secrets.env"
DEFAULT_FRONT_DOOR_USER = "obs-conformance"
# the OTLP senders' user: not the front door's, so an app's credentials read nothing and silence nothing
DEFAULT_OTLP_USER = "otlp-sender"

T = TypeVar("T")


@dataclass(frozen=True)
class Environment:
    """A validated environment: typed getters over the keys of :mod:`envconf.schema`."""

    name: str
    path: Path
    values: Mapping[str, object]
    secrets: Mapping[str, Secret] = field(default_factory=dict)

    def _get(self, key: str, kind: type[T]) -> T:
        value = self.values.get(key)
        if not isinstance(value, kind):
            raise KeyError(f"{self.path}: {key} is not set as a {kind.__name__}")
        return value

    def text(self, key: str) -> str:
        return self._get(key, str)

    def duration(self, key: str) -> Duration:
        return self._get(key, Duration)

    def quantity(self, key: str) -> Quantity:
        return self._get(key, Quantity)

    def fraction(self, key: str) -> float:
        return self._get(key, float)

    def integer(self, key: str) -> int:
        return self._get(key, int)

    def port(self, key: str) -> int:
        return self._get(key, int)

    def endpoint(self, key: str) -> Endpoint:
        return self._get(key, Endpoint)

    def secret(self, key: str) -> Secret:
        """The secret, or an error that says where it is expected to come from."""
        found = self.secrets.get(key)
        if found is None:
            raise EnvFileError(
                self.path,
                None,
                key,
                f"secret not set: export {key} or put it in {self.path.parent / SECRETS_FILE} (git-ignored)",
            )
        return found

    def mapping(self, key: str) -> dict[str, str]:
        """A ``a=1,b=2`` value as a dict."""
        pairs = [item.split("=", 1) for item in self.text(key).split(",") if item.strip()]
        return {name.strip(): value.strip() for name, value in pairs}

    @property
    def target(self) -> str:
        return self.text("TARGET")

    @property
    def profile(self) -> Target:
        """What this env's kind of target can do (:mod:`envconf.targets`): checks ask it, not the name."""
        return TARGETS[self.target]

    @property
    def app_namespaces(self) -> tuple[str, ...]:
        """``APP_NAMESPACES`` in order: the namespaces of the apps the stack watches."""
        return tuple(n.strip() for n in self.text("APP_NAMESPACES").split(",") if n.strip())

    @property
    def front_door_auth(self) -> bool:
        """Whether the front door asks for basic authentication: yes unless ``INGRESS_AUTH="off"``."""
        return self.values.get("INGRESS_AUTH", "basic") != "off"

    @property
    def otlp_auth(self) -> bool:
        """Whether the collector's OTLP receivers ask for basic authentication: yes unless ``OTLP_AUTH="off"``."""
        return self.values.get("OTLP_AUTH", "basic") != "off"

    @property
    def otlp_user(self) -> str:
        """The OTLP senders' basic-auth user (``OTLP_AUTH_USER``, else ``otlp-sender``)."""
        return str(self.values.get("OTLP_AUTH_USER") or DEFAULT_OTLP_USER)

    @property
    def canary(self) -> bool:
        """Whether a cluster ``up`` installs the conformance canary: only with ``CANARY="on"``."""
        return self.values.get("CANARY", "off") == "on"

    @property
    def front_door_user(self) -> str:
        """The front door's basic-auth user (``INGRESS_AUTH_USER``, else ``obs-conformance``)."""
        return str(self.values.get("INGRESS_AUTH_USER") or DEFAULT_FRONT_DOOR_USER)

    @property
    def is_local(self) -> bool:
        return self.target == "local"

    @property
    def is_kwok(self) -> bool:
        """The local Kubernetes control plane with kwok's fake nodes."""
        return self.target == "kwok"

    def repo_path(self, key: str) -> Path:
        """A path key of this env: absolute as written, or relative to the project (where .local-stack is)."""
        return PROJECT_ROOT / self.text(key)

    def host(self, service: str) -> str:
        """The ingress host of a service: ``<env>-<cluster>-<service>.<domain>``."""
        return f"{self.text('ENV_NAME')}-{self.text('CLUSTER_NAME')}-{service}.{self.text('DNS_DOMAIN')}"

    def mask(self, text: str) -> str:
        """``text`` with every secret of this environment replaced by ``****``."""
        return mask(text, self.secrets.values())


def find_env_file(name: str, root: Path = ENVIRONMENTS_DIR) -> Path:
    """``name`` is a directory under environments/ holding one .env file, or a path to a file."""
    as_path = Path(name)
    if as_path.suffix == ".env" and as_path.is_file():
        return as_path
    directory = root / name
    candidates = sorted(p for p in directory.glob("*.env") if p.name != SECRETS_FILE)
    if len(candidates) != 1:
        known = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        found = "no .env file" if not candidates else f"{len(candidates)} .env files"
        raise EnvFileError(directory, None, None, f"{found} for --env {name} (known: {', '.join(known)})")
    return candidates[0]


def _read_secrets(path: Path, environ: Mapping[str, str]) -> dict[str, Secret]:
    from_file: dict[str, Entry] = {}
    secrets_path = path.parent / SECRETS_FILE
    if secrets_path.is_file():
        from_file = parse_env_file(secrets_path)
        for key, entry in from_file.items():
            if key not in SECRET_KEYS:
                raise EnvFileError(secrets_path, entry.line, key, "only secrets belong in secrets.env")
    found: dict[str, Secret] = {}
    for key in SECRET_KEYS:
        raw = environ.get(key) or (from_file[key].value if key in from_file else "")
        if raw:
            try:
                KEYS[key].parse(raw)
            except ValueError:
                # never echo the value: it is a secret
                raise EnvFileError(secrets_path, None, key, "malformed secret value (not shown)") from None
            found[key] = Secret(raw)
    return found


def load_environment(name: str, root: Path = ENVIRONMENTS_DIR, environ: Mapping[str, str] | None = None) -> Environment:
    """Load and validate every key; the first problem raises :class:`EnvFileError`."""
    path = find_env_file(name, root)
    entries = parse_env_file(path)
    values: dict[str, object] = {}
    for key, entry in entries.items():
        spec = KEYS.get(key)
        if spec is None:
            raise EnvFileError(path, entry.line, key, "unknown key (see envconf/schema.py)")
        if spec.secret:
            raise EnvFileError(
                path,
                entry.line,
                key,
                "secrets never go in the env file (git): use secrets.env or the process environment",
            )
        try:
            values[key] = spec.parse(entry.value)
        except ValueError as e:
            raise EnvFileError(path, entry.line, key, str(e)) from None
    target = values.get("TARGET")
    for key, spec in KEYS.items():
        needed = spec.required or target in spec.required_on
        if needed and key not in values:
            raise EnvFileError(path, None, key, "missing required key")
    secrets = _read_secrets(path, os.environ if environ is None else environ)
    return Environment(name=str(values["ENV_NAME"]), path=path, values=values, secrets=secrets)
