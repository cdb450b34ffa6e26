"""udfs.detect.rules: rule headers, file names, discovery and selection, durations and times;
and the rule catalogue in sql/detections/: every rule well-formed, unique and with fixtures."""

from __future__ import annotations

import pytest
from detect_support import HEADER, write_rule

from auditflow import rules_runner
from udfs.detect import fixtures as F
from udfs.detect import rules as R


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


def test_parse_duration_and_time():
    assert [R.parse_duration(x) for x in ("250ms", "30s", "5m", "2h", "1d")] == [250, 30_000, 300_000,
                                                                               7_200_000, 86_400_000]
    assert R.parse_time("2025-01-12T06:30:00Z", "x") == R.parse_time("2025-01-12T07:30:00+01:00", "x")
    assert R.iso(1736663400000) == "2025-01-12T06:30:00.000Z"


def test_every_rule_has_a_valid_header_unique_id_and_fixtures():
    rules = R.discover(rules_runner.RULES_DIR)
    assert len(rules) >= 16
    for rule in rules:
        cases = F.load_fixtures(rule)  # raises unless there is a positive and a negative case
        assert rule.mitre and rule.compliance, rule.path
        assert len({c.name for c in cases}) == len(cases), f"{rule.fixtures_path()}: duplicate case names"
    assert len({r.title for r in rules}) == len(rules)


def test_reference_tables_have_ddl_and_data():
    tables = rules_runner.reference_tables()
    assert set(tables) >= {"change_windows", "patient_assignments", "working_hours"}
    for ddl in tables.values():
        assert ddl.with_suffix(".csv").exists(), ddl
