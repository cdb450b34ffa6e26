"""udfs.detect.fixtures: fixture cases, canonical events and the alert diff; and every rule's
fixture cases passing on Flink's local mini-cluster (no services: runs in CI)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from detect_support import META, match, write_rule

from udfs.detect import fixtures as F
from udfs.detect import rules as R
from udfs.detect import suppress as S


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
    pos, neg = F.load_fixtures(rule)
    assert [e["user_name"] for e in pos.events] == ["u0", "u1", "u2"]
    assert [e["event_time"] - pos.events[0]["event_time"] for e in pos.events] == [0, 10_000, 20_000]
    assert pos.events[0]["event_id"] == "pos-1" and pos.tenant_id == "TEST-001/pos"
    assert pos.expected[0]["window_start"] == 1736663400000
    assert neg.events[0]["event_id"] == "x"
    assert neg.reference["change_windows"][0]["tenant_id"] == "TEST-001/neg"
    rule.fixtures_path().write_text("cases: [{name: only, events: [], expect: [{entity_value: a}]}]")
    with pytest.raises(R.RuleError, match="positive case .* and one negative case"):
        F.load_fixtures(rule)


def test_unknown_fixture_field_is_an_error(tmp_path):
    rule = R.load_rule(write_rule(tmp_path))
    rule.fixtures_path().write_text("cases: [{name: a, events: [{event_time: 0, usr_name: x}]}]")
    with pytest.raises(R.RuleError, match="unknown field.*usr_name"):
        F.load_fixtures(rule)


def test_canonical_event_nests_fields_and_fills_ids():
    ev = F.canonical_event({"event_id": "e", "tenant_id": "t", "event_time": 5, "class_uid": 3002,
                            "activity_id": 1, "user_name": "alice", "geo_lat": 1.5,
                            "resource_type": "pods/exec", "resource2_name": "p"}, 7)
    assert ev["time"] == 5 and ev["type_uid"] == 300201 and ev["category_uid"] == 3
    assert ev["actor"]["user"]["name"] == "alice" and ev["enrichment"]["geo"]["lat"] == 1.5
    assert ev["resources"] == [{"type": "pods/exec"}, {"name": "p"}]
    assert ev["chain"]["sequence"] == 7 and len(ev["chain"]["event_hash"]) == 64


def test_compare_reports_missing_unexpected_and_field_differences():
    actual = [S.make_alert(META, match("alice", count=5, ids=("e1", "e2")), 0)]
    ok, lines = F.compare([{"entity_value": "alice", "event_count": 5, "evidence": ["e1", "e2"]}], actual)
    assert ok and lines == []
    ok, lines = F.compare([{"entity_value": "alice", "event_count": 6}], actual)
    assert not ok
    assert lines[0].startswith("- expected") and "event_count: expected 6, got 5" in lines[1]
    assert lines[2].startswith("+ unexpected")
    ok, lines = F.compare([], actual)
    assert not ok and lines[0].startswith("+ unexpected")


def test_all_rule_fixtures_pass_in_flink():
    """`auditflow rules test` for every rule, as an analyst runs it; its output is the diff."""
    proc = subprocess.run([sys.executable, "-m", "auditflow.cli", "rules", "test"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "FAIL" not in proc.stdout and "ERROR" not in proc.stdout
    assert " 0 error(s)" in proc.stdout
