"""udfs.rules: rule headers, fixtures, suppression (dedup windows) and the alert diff."""

from __future__ import annotations

from pathlib import Path

import fastavro
import pytest

from udfs import rules as R
from udfs import wire

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
HEADER = """-- id: TEST-001
-- title: A test rule
-- description: Something happened
--   twice over.
-- severity: High
-- mitre: T1110, T1078
-- compliance: PCI-DSS-10.2.4
-- dedup_window: 15m
-- owner: me
SELECT * FROM events;
"""


def write_rule(tmp_path: Path, text: str = HEADER, name: str = "TEST-001_test_rule.sql") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def match(entity: str = "alice", start: int = 0, count: int = 1, ids: tuple[str, ...] = ("e1",),
          tenant: str = "t", end: int | None = None, severity: str | None = None) -> dict:
    return {"rule_id": "TEST-001", "severity": severity, "tenant_id": tenant, "entity_type": "user",
            "entity_value": entity, "window_start": start,
            "window_end": end if end is not None else start + 1,
            "event_count": count,
            "evidence": [{"event_id": i, "chain_id": tenant, "sequence": start + n, "event_hash": "0" * 64}
                         for n, i in enumerate(ids, 1)],
            "first_seen": start, "last_seen": start}


def test_header_parsed_with_continuation_lists_and_defaults(tmp_path):
    rule = R.load_rule(write_rule(tmp_path))
    assert rule.description == "Something happened twice over."
    assert rule.severity == "high" and rule.severity_id == 4
    assert rule.mitre == ("T1110", "T1078") and rule.compliance == ("PCI-DSS-10.2.4",)
    assert rule.dedup_window_ms == 15 * 60_000 and rule.dedup_key == ("tenant_id", "entity_value")
    assert rule.sql.endswith("FROM events")  # trailing ';' dropped
    assert rule.view_name == "rule_test_001"


@pytest.mark.parametrize("text, message", [
    (HEADER.replace("-- owner: me\n", ""), "header lacks owner"),
    (HEADER.replace("severity: High", "severity: urgent"), "severity 'urgent' is not one of"),
    (HEADER.replace("dedup_window: 15m", "dedup_window: soon"), "dedup_window: 'soon' is not a duration"),
    (HEADER.replace("-- owner: me", "-- owner: me\n-- colour: red"), ":10: unknown header key 'colour'"),
    (HEADER.replace("id: TEST-001", "id: TEST-002"), "differs from the file name"),
    (HEADER.replace("FROM events;", "FROM events; DROP TABLE x"), "one SELECT statement"),
    (HEADER.replace("-- owner: me", "-- owner: me\n-- dedup_key: tenant_id, user"), "not output columns"),
])
def test_bad_headers_name_the_file_and_problem(tmp_path, text, message):
    with pytest.raises(R.RuleError, match=message) as err:
        R.load_rule(write_rule(tmp_path, text))
    assert str(err.value).startswith(str(tmp_path / "TEST-001_test_rule.sql"))


def test_file_name_and_duplicate_ids(tmp_path):
    with pytest.raises(R.RuleError, match="file name must be"):
        R.load_rule(write_rule(tmp_path, name="brute.sql"))
    (tmp_path / "brute.sql").unlink()
    write_rule(tmp_path)
    write_rule(tmp_path, name="TEST-001_other.sql")
    with pytest.raises(R.RuleError, match="also used by"):
        R.discover(tmp_path)


def test_select_by_id_stem_star_and_disabled(tmp_path):
    write_rule(tmp_path)
    write_rule(tmp_path, HEADER.replace("TEST-001", "TEST-002"), "TEST-002_second.sql")
    rules = R.discover(tmp_path)
    assert [r.id for r in R.select(rules, ["*"], ["TEST-001"])] == ["TEST-002"]
    assert [r.id for r in R.select(rules, ["TEST-002_second"])] == ["TEST-002"]
    with pytest.raises(R.RuleError, match="unknown rule.*known: TEST-001, TEST-002"):
        R.select(rules, ["NOPE-1"])


def test_sql_error_location_uses_flink_line(tmp_path):
    rule = R.load_rule(write_rule(tmp_path))
    where = "From line 12, column 7 to line 12, column 9: oops"
    msg = f"org.apache.flink.table.api.ValidationException: {where}"
    assert R.sql_error_location(rule, msg) == f"{rule.path}:12: {where}"


def test_fixtures_expand_repeat_every_and_require_both_kinds(tmp_path):
    rule = R.load_rule(write_rule(tmp_path))
    rule.fixtures_path().write_text("""
cases:
  - name: pos
    events:
      - {event_time: "2025-01-12T06:30:00Z", user_name: "u{i}", class_uid: 3002, repeat: 3, every: 10s}
    expect:
      - {entity_value: u0, window_start: "2025-01-12T06:30:00Z"}
  - name: neg
    events: [{id: x, event_time: 1736663400000}]
    reference:
      change_windows: [{starts_at: "2025-01-12T06:00:00Z"}]
""")
    pos, neg = R.load_fixtures(rule)
    assert [e["user_name"] for e in pos.events] == ["u0", "u1", "u2"]
    assert [e["event_time"] - pos.events[0]["event_time"] for e in pos.events] == [0, 10_000, 20_000]
    assert pos.events[0]["event_id"] == "pos-1" and pos.tenant_id == "TEST-001/pos"
    assert pos.expected[0]["window_start"] == 1736663400000
    assert neg.events[0]["event_id"] == "x"
    assert neg.reference["change_windows"][0]["tenant_id"] == "TEST-001/neg"
    rule.fixtures_path().write_text("cases: [{name: only, events: [], expect: [{entity_value: a}]}]")
    with pytest.raises(R.RuleError, match="positive case .* and one negative case"):
        R.load_fixtures(rule)


def test_unknown_fixture_field_is_an_error(tmp_path):
    rule = R.load_rule(write_rule(tmp_path))
    rule.fixtures_path().write_text("cases: [{name: a, events: [{event_time: 0, usr_name: x}]}]")
    with pytest.raises(R.RuleError, match="unknown field.*usr_name"):
        R.load_fixtures(rule)


def test_canonical_event_nests_fields_and_fills_ids():
    ev = R.canonical_event({"event_id": "e", "tenant_id": "t", "event_time": 5, "class_uid": 3002,
                            "activity_id": 1, "user_name": "alice", "geo_lat": 1.5,
                            "resource_type": "pods/exec", "resource2_name": "p"}, 7)
    assert ev["time"] == 5 and ev["type_uid"] == 300201 and ev["category_uid"] == 3
    assert ev["actor"]["user"]["name"] == "alice" and ev["enrichment"]["geo"]["lat"] == 1.5
    assert ev["resources"] == [{"type": "pods/exec"}, {"name": "p"}]
    assert ev["chain"]["sequence"] == 7 and len(ev["chain"]["event_hash"]) == 64


META = {"id": "TEST-001", "title": "T", "severity": "medium", "mitre": ["T1110"], "compliance": [],
        "dedup_window_ms": 60_000, "dedup_key": ["tenant_id", "entity_value"]}


def test_first_match_alerts_at_once_storm_folds_into_one_rollup():
    sup = R.Suppressor(META)
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
    alerts = R.suppress(META, [match("alice", 0), match("bob", 10), match("alice", 70_000, ids=("later",))])
    assert [(a["entity_value"], a["event_count"]) for a in alerts] == [("alice", 1), ("bob", 1), ("alice", 1)]


def test_rollup_takes_highest_severity_and_caps_evidence():
    alerts = R.suppress(META, [match(start=0, ids=("a", "b"), count=2, severity="medium"),
                               match(start=5, ids=("c", "d"), count=2, severity="high")], max_evidence=3)
    assert [a["severity"] for a in alerts] == ["medium", "high"]
    assert alerts[1]["event_count"] == 4 and [e["event_id"] for e in alerts[1]["evidence"]] == ["a", "b", "c"]


def test_alert_is_a_valid_avro_record_with_deterministic_id():
    schema = wire.plain_schema(__import__("json").loads((SCHEMAS / "alert.avsc").read_text()))
    alert = R.make_alert(META, match(severity="HIGH"), created_at=9)
    assert alert["severity"] == "high" and alert["severity_id"] == 4 and alert["mitre"] == ["T1110"]
    assert alert["compliance"] is None and alert["dedup_key"] == "TEST-001|t|alice"
    assert fastavro.validate(alert, schema)
    assert R.make_alert(META, match(), created_at=10)["alert_id"] == alert["alert_id"]


def test_compare_reports_missing_unexpected_and_field_differences():
    actual = [R.make_alert(META, match("alice", count=5, ids=("e1", "e2")), 0)]
    ok, lines = R.compare([{"entity_value": "alice", "event_count": 5, "evidence": ["e1", "e2"]}], actual)
    assert ok and lines == []
    ok, lines = R.compare([{"entity_value": "alice", "event_count": 6}], actual)
    assert not ok
    assert lines[0].startswith("- expected") and "event_count: expected 6, got 5" in lines[1]
    assert lines[2].startswith("+ unexpected")
    ok, lines = R.compare([], actual)
    assert not ok and lines[0].startswith("+ unexpected")


def test_parse_duration_and_time():
    assert [R.parse_duration(x) for x in ("250ms", "30s", "5m", "2h", "1d")] == [250, 30_000, 300_000,
                                                                               7_200_000, 86_400_000]
    assert R.parse_time("2025-01-12T06:30:00Z", "x") == R.parse_time("2025-01-12T07:30:00+01:00", "x")
    assert R.iso(1736663400000) == "2025-01-12T06:30:00.000Z"
