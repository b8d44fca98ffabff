"""Smoke test of the scale scenario (bench/scale.py) at N=1 on a private kwok plane (about 30 s warm):
the workload is created and becomes Running/Ready, and the k8s suites run against it with their
API requests, peak RSS and per-file times reported by the plugin. No timing is asserted: the
figures are the benchmark's (``python -m bench.run --scale 1 10``)."""

from __future__ import annotations

import pytest

from bench import scale

pytestmark = [pytest.mark.stack, pytest.mark.slow]


def test_scale_one_unit() -> None:
    (measured,) = scale.measure([1])
    assert measured.objects == {
        "nodes": 10, "pods": 100, "services": 10, "monitors": 10, "pvcs": 10, "ingresses": 10, "certificates": 10,
    }  # fmt: skip
    assert measured.pods.startswith("100/100 Running"), measured.pods
    assert measured.certificates.startswith("10/10 Ready"), measured.certificates
    assert measured.api_calls > 0, "the plugin reported no Kubernetes API request"
    assert measured.peak_rss_mib > 0 and measured.tests_seconds > 0
    assert measured.coverage_seconds > 0, "the scrape coverage checks did not run"
    assert measured.coverage_failed == 0, f"scrape coverage failed on the bench's own workload: {measured.summary}"
