"""The read-back queries that keep old data out and work on both Prometheus majors."""

from __future__ import annotations

import pytest

from obs_conformance.fixtures.readback import counter_growth, fresh, label_matcher


@pytest.mark.parametrize(
    ("value", "matcher"),
    [
        ("5.0", 'le=~"5|5\\\\.0"'),
        ("1", 'le=~"1|1\\\\.0"'),
        ("0.25", 'le="0.25"'),
        ("+Inf", 'le="+Inf"'),
    ],
)
def test_le_matches_both_spellings(value: str, matcher: str) -> None:
    """2.x keeps ``le="1"`` from a text-format exporter; 3.x stores ``le="1.0"``."""
    assert label_matcher("le", value) == matcher


def test_other_labels_match_exactly() -> None:
    assert label_matcher("probe_id", "5.0") == 'probe_id="5.0"'


def test_fresh_keeps_only_samples_newer_than_the_start() -> None:
    assert fresh('pg_up{job="x"}', 1700000000.5) == '(pg_up{job="x"} and timestamp(pg_up{job="x"}) > 1700000000.500)'


@pytest.mark.parametrize(
    ("value", "baseline", "growth"),
    [
        (12.0, 10.0, 2.0),  # grew
        (10.0, 10.0, 0.0),  # frozen: a stopped producer's last value, replayed
        (3.0, 10236.0, 3.0),  # fell below the baseline: the process restarted, the counter began at 0
        (5.0, None, 5.0),  # a series that was not there at the baseline
    ],
)
def test_counter_growth_reads_resets_as_increase_does(value: float, baseline: float | None, growth: float) -> None:
    assert counter_growth(value, baseline) == growth
