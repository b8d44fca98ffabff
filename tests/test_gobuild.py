"""A failed Go build names the module and why; the collector manifest lists the stack's components."""

from __future__ import annotations

from pathlib import Path

import pytest

from obs_conformance.deployer import pins
from obs_conformance.deployer.errors import BuildError
from obs_conformance.deployer.toolchain import gobuild


def test_unknown_module_version_names_module_and_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSCONF_CACHE", str(tmp_path))
    missing = pins.SourceModule(
        "jaeger", "github.com/jaegertracing/jaeger", "v0.0.0-20000101000000-000000000000", "./cmd/jaeger"
    )
    with pytest.raises(BuildError) as caught:
        gobuild.build_source_module(missing)
    message = str(caught.value)
    assert message.startswith(
        "github.com/jaegertracing/jaeger@v0.0.0-20000101000000-000000000000: go mod download failed: "
    )
    assert len(message.splitlines()[0]) > 80, "the reason from the Go toolchain must follow"


def test_collector_manifest_has_the_config_components(tmp_path: Path) -> None:
    manifest = gobuild.collector_manifest(tmp_path / "out")
    for component in ("otlpreceiver", "filelogreceiver", "batchprocessor", "memorylimiterprocessor", "resourceprocessor",
                      "otlpexporter", "otlphttpexporter", "prometheusexporter", "spanmetricsconnector"):  # fmt: skip
        assert f"/{component} {pins.OTELCOL_VERSION}" in manifest
    assert f"output_path: {tmp_path / 'out'}" in manifest
