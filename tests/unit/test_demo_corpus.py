"""The bundled demo corpus: event-time layout of the scenarios, for a first run and a re-run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from auditflow import demo_corpus

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def _scenarios(records):
    return {
        "AUTH-001": [t for t, _f, line in records if "Failed password for alice" in line],
        "PRIV-001": [t for t, fmt, line in records if "AttachUserPolicy" in line],
        "TAMP-001": [t for t, fmt, line in records if "StopLogging" in line],
        "K8S-001": [t for t, fmt, line in records if fmt == "k8s-audit" and '"exec"' in line],
    }


@pytest.mark.parametrize("span_s", [demo_corpus.SPAN_S, demo_corpus.MIN_SPAN_S, 300])
def test_corpus_lies_in_its_span_in_event_time_order(span_s):
    records = demo_corpus.build(NOW, background=50, span_s=span_s)
    times = [t for t, _fmt, _line in records]
    assert times == sorted(times)
    assert times[0] >= NOW - timedelta(seconds=span_s) and times[-1] <= NOW
    scenarios = _scenarios(records)
    assert {r: len(ts) for r, ts in scenarios.items()} == {"AUTH-001": 6, "PRIV-001": 1, "TAMP-001": 1,
                                                           "K8S-001": 1}
    failures = scenarios["AUTH-001"]
    assert failures[-1] - failures[0] <= timedelta(seconds=30)  # AUTH-001: five within a minute


def test_first_run_layout_is_unchanged():
    records = demo_corpus.build(NOW, background=50)
    start = NOW - timedelta(minutes=10)
    scenarios = _scenarios(records)
    assert scenarios["AUTH-001"][0] == start + timedelta(minutes=4)
    assert scenarios["PRIV-001"] == [start + timedelta(minutes=6)]
    assert scenarios["TAMP-001"] == [start + timedelta(minutes=6, seconds=20)]
    assert scenarios["K8S-001"] == [start + timedelta(minutes=7)]


def test_span_shorter_than_the_scenarios_is_refused():
    with pytest.raises(ValueError, match="at least 120 s"):
        demo_corpus.build(NOW, span_s=60)
