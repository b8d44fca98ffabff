"""A failed Go build names the module and why; the collector manifest lists the stack's components;
a build lock held too long names its holder."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import pytest

from obs_conformance.clients.errors import WaitTimeout
from obs_conformance.deployer import pins
from obs_conformance.deployer.errors import BuildError
from obs_conformance.deployer.toolchain import gobuild, locks


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


def test_a_held_lock_times_out_naming_the_lock_and_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    with path.open("w") as held, path.open("w") as waiting:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        start = time.monotonic()
        with pytest.raises(WaitTimeout) as caught:
            locks.lock_exclusive(waiting, path, deadline=0.3, what="a test", first_interval=0.02, max_interval=0.05)
        assert time.monotonic() - start == pytest.approx(0.3, abs=0.2)
        text = str(caught.value)
        assert "the lock released by a test not seen within 0.3s" in text
        assert f"looked at: {path}" in text
        assert f"last seen: held by pid {os.getpid()}" in text
        fcntl.flock(held.fileno(), fcntl.LOCK_UN)
        locks.lock_exclusive(waiting, path, deadline=0.3, what="a test", first_interval=0.02, max_interval=0.05)
