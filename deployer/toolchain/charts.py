"""Where the pinned charts come from: their public repositories, or a local chart mirror.

Users install from the repositories in :mod:`deployer.pins`. Offline machines (CI, this
one) point ``--charts DIR`` or ``OBSCONF_CHARTS`` at a folder of packaged charts with a
``SHA256SUMS`` (``../shared/charts``); every package used is checked against it first,
so a tampered or half-copied mirror fails before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from obs_conformance.deployer import pins
from obs_conformance.envconf.paths import PROJECT_ROOT as REPO_ROOT

CHARTS_ENV = "OBSCONF_CHARTS"


class ChartError(Exception):
    """A chart of the local mirror is missing, unlisted in SHA256SUMS, or does not match it."""


@dataclass(frozen=True)
class ChartSource:
    """``directory`` None: the public repositories; else a local mirror of packaged charts."""

    directory: Path | None = None

    @classmethod
    def from_option(cls, option: str | None) -> ChartSource:
        """``--charts DIR``, else ``$OBSCONF_CHARTS``, else the repositories; relative to the repo root."""
        value = option or os.environ.get(CHARTS_ENV, "")
        if not value:
            return cls(None)
        path = Path(value)
        return cls(path if path.is_absolute() else (REPO_ROOT / path).resolve())

    def package(self, chart_name: str) -> Path:
        """The verified ``.tgz`` of a pinned chart in the local mirror."""
        if self.directory is None:
            raise ChartError("no local chart directory: charts come from their repositories")
        chart = pins.CHARTS[chart_name]
        package = self.directory / f"{chart.name}-{chart.version}.tgz"
        sums = self.directory / "SHA256SUMS"
        if not package.is_file():
            raise ChartError(f"{chart.name} {chart.version}: {package} is missing from the chart directory")
        try:
            lines = sums.read_text().splitlines()
        except OSError as e:
            raise ChartError(f"{sums}: unreadable ({e})") from e
        listed: dict[str, str] = {}
        for line in lines:
            digest, _, name = line.partition(" ")
            listed[name.strip().lstrip("*")] = digest
        expected = listed.get(package.name, "")
        if not expected:
            raise ChartError(f"{chart.name} {chart.version}: {package.name} is not listed in {sums}")
        actual = hashlib.sha256(package.read_bytes()).hexdigest()
        if actual != expected:
            raise ChartError(f"{package}: sha256 {actual}, but {sums} says {expected}")
        return package

    def reference(self, chart_name: str) -> tuple[str, ...]:
        """The chart arguments of ``helm upgrade --install``/``helm template`` after the release name."""
        chart = pins.CHARTS[chart_name]
        if self.directory is None:
            return (chart.name, "--repo", chart.repo, "--version", chart.version)
        return (str(self.package(chart_name)),)

    def describe(self) -> str:
        return "the charts' repositories" if self.directory is None else f"the local chart directory {self.directory}"


class _Loader(yaml.CSafeLoader):
    """libyaml's safe loader (the CRDs are megabytes); YAML 1.1's ``=`` (the "value"
    tag) is a plain string to Kubernetes, as in CRD enums."""


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))  # type: ignore[arg-type]


def load_all(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.load_all(text, Loader=_Loader) if isinstance(doc, dict)]
