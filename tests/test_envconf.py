"""The env loader: every bad value is one error naming file, line and key; secrets never print."""

from __future__ import annotations

from pathlib import Path

import pytest

from obs_conformance.envconf import EnvFileError, Secret, load_environment
from obs_conformance.envconf.environment import ENVIRONMENTS_DIR
from obs_conformance.envconf.schema import TARGETS as SCHEMA_TARGETS
from obs_conformance.envconf.targets import TARGETS

LOCAL = (ENVIRONMENTS_DIR / "local" / "local.env").read_text()


def write_env(tmp_path: Path, text: str, name: str = "x") -> Path:
    directory = tmp_path / name
    directory.mkdir()
    path = directory / f"{name}.env"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["local", "kind", "dev"])
def test_shipped_environments_load(name: str) -> None:
    env = load_environment(name, environ={})
    assert env.name == name


def test_dev_holds_the_design_values() -> None:
    env = load_environment("dev", environ={})
    assert env.quantity("PROMETHEUS_STORAGE_SIZE").text == "35Gi"
    assert env.quantity("LOKI_STORAGE_SIZE").text == "10Gi"
    assert env.quantity("ALERTMANAGER_STORAGE_SIZE").text == "2Gi"
    assert env.quantity("TEMPO_STORAGE_SIZE").text == "10Gi"
    assert env.text("STORAGE_CLASS") == "sbs-default"
    assert env.duration("SCRAPE_INTERVAL").seconds == 30
    assert env.duration("LOG_RETENTION").hours_text == "720h"
    assert env.host("loki") == "dev-poc-odooswfjips-loki.jips.io"
    assert env.quantity("PROMETHEUS_MEMORY_LIMIT").text == "1.9Gi"


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ('SCRAPE_INTERVAL="1s"', 'SCRAPE_INTERVAL="5 seconds"', "SCRAPE_INTERVAL: '5 seconds' is not a duration"),
        ('LOKI_STORAGE_SIZE="10Gi"', 'LOKI_STORAGE_SIZE="10GB"', "LOKI_STORAGE_SIZE: '10GB' is not a size"),
        ('LOCAL_POSTGRES_PORT="15432"', 'LOCAL_POSTGRES_PORT="99999"', "LOCAL_POSTGRES_PORT: '99999' is not a port"),
        ('DNS_DOMAIN="localhost"', 'DNS_DOMAIN="Local_Host"', "DNS_DOMAIN: 'Local_Host' is not a hostname"),
        ('TARGET="local"', 'TARGET="docker"', "TARGET: 'docker' is not one of local, kind, kwok, scaleway"),
        ('PROMETHEUS_URL="http://127.0.0.1:19090"', 'PROMETHEUS_URL="127.0.0.1:19090"', "is not an http(s) URL"),
        ('SLACK_CHANNEL="#monitoring"', 'SLACK_CHANNEL="#monitoring', 'unterminated " quote'),
        ('ENV_NAME="local"', "ENV_NAME local", 'not a KEY="value" line'),
    ],
)
def test_bad_value_names_file_line_and_key(tmp_path: Path, replace: str, by: str, message: str) -> None:
    assert replace in LOCAL
    path = write_env(tmp_path, LOCAL.replace(replace, by))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if by in text)
    with pytest.raises(EnvFileError) as caught:
        load_environment("x", root=tmp_path, environ={})
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_key_names_file_and_key(tmp_path: Path) -> None:
    write_env(tmp_path, LOCAL.replace('LOG_RETENTION="30d"\n', ""))
    with pytest.raises(EnvFileError, match=r"x\.env: LOG_RETENTION: missing required key"):
        load_environment("x", root=tmp_path, environ={})


def test_unknown_and_repeated_keys_are_errors(tmp_path: Path) -> None:
    write_env(tmp_path, LOCAL + 'SCRAPE_INTERVALL="5s"\n')
    with pytest.raises(EnvFileError, match="SCRAPE_INTERVALL: unknown key"):
        load_environment("x", root=tmp_path, environ={})
    (tmp_path / "x" / "x.env").write_text(LOCAL + 'SCRAPE_INTERVAL="9s"\n')
    with pytest.raises(EnvFileError, match=r"SCRAPE_INTERVAL: set twice \(first on line \d+\)"):
        load_environment("x", root=tmp_path, environ={})


def test_secret_in_env_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    hook = "https://hooks.example.invalid/services/T1/B1/s3cr3tt0k3n"
    write_env(tmp_path, LOCAL + f'SLACK_WEBHOOK_URL="{hook}"\n')
    with pytest.raises(EnvFileError) as caught:
        load_environment("x", root=tmp_path, environ={})
    assert "secrets never go in the env file" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


def test_secrets_come_from_environ_or_secrets_file_and_are_masked(tmp_path: Path) -> None:
    path = write_env(tmp_path, LOCAL)
    (path.parent / "secrets.env").write_text('POSTGRES_EXPORTER_PASSWORD="hunter2hunter2"\n')
    hook = "https://hooks.example.invalid/services/T1/B1/s3cr3tt0k3n"
    env = load_environment("x", root=tmp_path, environ={"SLACK_WEBHOOK_URL": hook})
    assert env.secret("SLACK_WEBHOOK_URL").reveal() == hook
    assert env.secret("POSTGRES_EXPORTER_PASSWORD").reveal() == "hunter2hunter2"
    assert str(env.secret("SLACK_WEBHOOK_URL")) == "****"
    assert "s3cr3t" not in repr(env) and "hunter2" not in repr(env)
    assert env.mask(f"posting to {hook} with hunter2hunter2") == "posting to **** with ****"


def test_missing_secret_says_where_to_put_it(tmp_path: Path) -> None:
    write_env(tmp_path, LOCAL)
    env = load_environment("x", root=tmp_path, environ={})
    with pytest.raises(EnvFileError, match=r"export SLACK_WEBHOOK_URL or put it in .*secrets\.env"):
        env.secret("SLACK_WEBHOOK_URL")


def test_unknown_env_lists_known_ones(tmp_path: Path) -> None:
    write_env(tmp_path, LOCAL, name="local")
    with pytest.raises(EnvFileError, match=r"no \.env file for --env prod \(known: local\)"):
        load_environment("prod", root=tmp_path, environ={})


def test_secret_type_never_prints() -> None:
    secret = Secret("abcdefgh")
    assert f"{secret} {secret!r}" == "**** Secret(****)"


def test_k8s_quantities_compare_by_value() -> None:
    from obs_conformance.envconf.values import k8s_quantity_value

    assert k8s_quantity_value("1.5") == k8s_quantity_value("1500m")
    assert k8s_quantity_value("1.9Gi") == k8s_quantity_value("2040109465600m")
    assert k8s_quantity_value("512Mi") == 512 * 2**20
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        k8s_quantity_value("lots")


def test_every_target_has_a_profile() -> None:
    """A check asks the target's profile; a TARGET the schema accepts without one would fail there."""
    assert set(TARGETS) == set(SCHEMA_TARGETS)


def test_app_namespaces_in_env_order() -> None:
    env = load_environment("kind", environ={})
    assert env.app_namespaces == ("odoo", "keycloak", "jips")
    assert env.profile.serves_pods and not load_environment("kwok", environ={}).profile.serves_pods
