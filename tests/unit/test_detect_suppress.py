"""udfs.detect.suppress: suppression (dedup windows, rollups) and the Alert records."""

from __future__ import annotations

from pathlib import Path

import fastavro
from detect_support import META, match

from udfs import wire
from udfs.detect import suppress as S

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def test_first_match_alerts_at_once_storm_folds_into_one_rollup():
    sup = S.Suppressor(META)
    first = sup.admit(match(start=0, ids=("a",)), now_ms=1)
    assert len(first) == 1 and first[0]["event_count"] == 1
    for i in range(1, 100):  # a storm within the dedup window
        assert sup.admit(match(start=i * 100, ids=(f"s{i}",)), now_ms=1) == []
    assert sup.expire(59_999, now_ms=2) == []  # the window is still open
    (rollup,) = sup.expire(60_000, now_ms=2)
    assert rollup["event_count"] == 100 and rollup["window_start"] == 0 and rollup["window_end"] == 60_000
    assert len(rollup["evidence"]) == 100 and rollup["dedup_key"] == first[0]["dedup_key"]
    assert rollup["alert_id"] != first[0]["alert_id"] and sup.state == {}


def test_quiet_period_closes_without_rollup_and_keys_are_separate():
    alerts = S.suppress(META, [match("alice", 0), match("bob", 10), match("alice", 70_000, ids=("later",))])
    assert [(a["entity_value"], a["event_count"]) for a in alerts] == [("alice", 1), ("bob", 1), ("alice", 1)]


def test_rollup_takes_highest_severity_and_caps_evidence():
    alerts = S.suppress(META, [match(start=0, ids=("a", "b"), count=2, severity="medium"),
                               match(start=5, ids=("c", "d"), count=2, severity="high")], max_evidence=3)
    assert [a["severity"] for a in alerts] == ["medium", "high"]
    assert alerts[1]["event_count"] == 4 and [e["event_id"] for e in alerts[1]["evidence"]] == ["a", "b", "c"]


def test_alert_is_a_valid_avro_record_with_deterministic_id():
    schema = wire.plain_schema(__import__("json").loads((SCHEMAS / "alert.avsc").read_text()))
    alert = S.make_alert(META, match(severity="HIGH"), created_at=9)
    assert alert["severity"] == "high" and alert["severity_id"] == 4 and alert["mitre"] == ["T1110"]
    assert alert["compliance"] is None and alert["dedup_key"] == "TEST-001|t|alice"
    assert fastavro.validate(alert, schema)
    assert S.make_alert(META, match(), created_at=10)["alert_id"] == alert["alert_id"]
