"""udfs.detect.sigma.correlation: Sigma correlation rules compiled to Flink SQL.

The base rules' WHERE clauses and field columns are given here as plain strings (the base
backend is tested on its own), so these tests check what the correlation compiler adds: the
SQL of each type, the reasons it refuses a rule, and, on Flink's local mini-cluster, that every
compiled type finds its positive fixture and nothing in its negative one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from udfs.detect import rules as R
from udfs.detect.sigma import correlation as C

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "sql" / "detections" / "sigma" / "source"
IMPORTED = ROOT / "sql" / "detections" / "sigma" / "correlations"
WHERE = {
    "aws_secretsmanager_get_secret_value":
        "api_service = 'secretsmanager.amazonaws.com' AND api_operation = 'GetSecretValue'",
    "aws_discovery_call": "api_operation LIKE 'Describe%' OR api_operation LIKE 'List%'",
    "aws_iam_create_user": "api_service = 'iam.amazonaws.com' AND api_operation = 'CreateUser'",
    "aws_iam_create_user_named": "api_service = 'iam.amazonaws.com' AND api_operation = 'CreateUser'",
    "aws_iam_create_access_key": "api_service = 'iam.amazonaws.com' AND api_operation = 'CreateAccessKey'",
    "aws_console_login": "api_service = 'signin.amazonaws.com' AND api_operation = 'ConsoleLogin'",
    "base_a": "status_id = 2", "base_b": "status_id = 1",
}
COLUMNS = {"userIdentity.arn": "user_uid", "eventName": "api_operation",
           "requestParameters.userName": "resource_name", "userIdentity.userName": "user_name",
           "user": "user_name", "ip": "src_ip", "bytes": "unmapped['bytes']"}


def where(rule: SigmaRule) -> str:
    return WHERE[rule.name]


def column(rule: SigmaRule, field: str) -> str:
    return COLUMNS[field]


def correlations(*docs: str) -> list[SigmaCorrelationRule]:
    if docs:
        coll = SigmaCollection.from_yaml("\n---\n".join(docs))
    else:
        coll = SigmaCollection.load_ruleset([SOURCES])
    coll.resolve_rule_references()
    return [r for r in coll if isinstance(r, SigmaCorrelationRule)]


BASES = """title: a
name: base_a
logsource: {product: linux, service: sshd}
detection: {sel: {x: 1}, condition: sel}
---
title: b
name: base_b
logsource: {product: linux, service: sshd}
detection: {sel: {x: 2}, condition: sel}"""


def corr(body: str) -> str:
    return f"title: c\nid: 00000000-0000-4000-8000-000000000001\ncorrelation:\n{body}"


def test_interval_uses_the_largest_exact_unit():
    assert C.interval(300) == "INTERVAL '5' MINUTE"
    assert C.interval(90) == "INTERVAL '90' SECOND"
    assert C.interval(3600) == "INTERVAL '1' HOUR"
    assert C.interval(6000) == "INTERVAL '100' MINUTE(3)"
    assert C.interval(7 * 86400) == "INTERVAL '7' DAY"
    assert C.pattern_within(60) == "INTERVAL '60.001' SECOND(2, 3)"
    assert C.pattern_within(5) == "INTERVAL '5.001' SECOND(2, 3)"


def test_event_count_is_a_pattern_of_n_events_within_the_timespan_per_tenant_and_group():
    (rule,) = correlations(BASES, corr("  type: event_count\n  rules: [base_a, base_b]\n"
                                       "  group-by: [user]\n  timespan: 2m\n  condition: {gt: 4}"))
    out = C.compile_correlation(rule, where, column)
    assert "PARTITION BY tenant_id, g_0" in out.sql
    assert "PATTERN (E{5}) WITHIN INTERVAL '120.001' SECOND(3, 3)" in out.sql
    assert "SELECT *, 0 AS corr_rule, CAST(user_name AS STRING) AS g_0 FROM events\n" \
           "    WHERE (status_id = 2) AND user_name IS NOT NULL" in out.sql
    assert "SELECT *, 1 AS corr_rule" in out.sql and out.sql.count("UNION ALL") == 1
    assert out.input == "(status_id = 2) OR (status_id = 1)"
    assert out.entity_type == "user" and out.note is None


def test_aliases_name_a_field_per_rule_and_several_group_fields_join_the_entity():
    (rule,) = correlations(BASES, corr(
        "  type: temporal\n  rules: [base_a, base_b]\n  group-by: [who, ip]\n  timespan: 10m\n"
        "  aliases:\n    who: {base_a: user, base_b: userIdentity.userName}"))
    out = C.compile_correlation(rule, where, column)
    assert "CAST(user_name AS STRING) AS g_0, CAST(src_ip AS STRING) AS g_1" in out.sql
    assert out.entity_type == "who+ip" and "CONCAT_WS('|', g_0, g_1) AS entity_value" in out.sql
    assert "MAX(CASE WHEN corr_rule = 0 THEN 1 ELSE 0 END) OVER w + MAX(CASE WHEN corr_rule = 1" in out.sql
    assert "measure >= 2 AS holds" in out.sql


def test_value_sum_says_it_is_the_trailing_sum():
    (rule,) = correlations(BASES, corr("  type: value_sum\n  rules: base_a\n  group-by: [user]\n"
                                       "  timespan: 1h\n  condition: {field: bytes, gt: 1000}"))
    out = C.compile_correlation(rule, where, column)
    assert "SUM(TRY_CAST(corr_value AS DOUBLE)) OVER w AS measure" in out.sql
    assert "measure > 1000.0 AS holds" in out.sql
    assert out.note == ("Evaluated as the sum of bytes over the 1h before each matching event"
                        " (a sliding window ending at each event).")


@pytest.mark.parametrize(("body", "reason"), [
    ("  type: event_count\n  rules: base_a\n  timespan: 1m\n  condition: {lt: 3}",
     "condition 'lt' is not supported: only gte/gt have a sliding form"),
    ("  type: event_count\n  rules: base_a\n  timespan: 1m\n  condition: {eq: 3}",
     "condition 'eq' is not supported"),
    ("  type: event_count\n  rules: base_a\n  timespan: 1m\n  condition: {gte: 5000}",
     "event_count threshold 5000 is above 1000"),
    ("  type: value_median\n  rules: base_a\n  timespan: 1m\n  condition: {field: bytes, gte: 3}",
     "correlation type value_median is not supported"),
    ("  type: temporal_ordered\n  rules: [base_a, base_b]\n  timespan: 1m\n  condition: {gte: 1}",
     "temporal_ordered needs every referenced rule"),
    ("  type: temporal\n  timespan: 1m\n  condition: base_a and not base_b",
     "extended \\(boolean\\) correlation conditions are not supported"),
    ("  type: temporal\n  rules: [base_a, base_b]\n  group-by: [who]\n  timespan: 1m\n"
     "  aliases:\n    who: {base_a: user}", "alias 'who' names no field for rule 'base_b'"),
])
def test_unsupported_correlations_fail_with_their_reason(body, reason):
    (rule,) = correlations(BASES, corr(body))
    with pytest.raises(C.CorrelationError, match=reason):
        C.compile_correlation(rule, where, column)


def test_a_correlation_over_a_correlation_is_refused():
    inner = corr("  type: event_count\n  rules: base_a\n  timespan: 1m\n  condition: {gte: 2}") \
        .replace("title: c\n", "title: inner\nname: inner\n")
    outer = ("title: outer\nid: 00000000-0000-4000-8000-000000000002\ncorrelation:\n"
             "  type: event_count\n  rules: inner\n  timespan: 5m\n  condition: {gte: 2}")
    rules = correlations(BASES, inner, outer)
    with pytest.raises(C.CorrelationError, match="rule 'inner' is itself a correlation"):
        C.compile_correlation(rules[1], where, column)


# Inline correlations over base_a (status_id = 2) and base_b (status_id = 1), grouped by user:
# the timespan is inclusive for every type (events exactly 1m apart correlate, 1m 1s apart do
# not), and value_sum / value_avg over unmapped['bytes'].
BOUNDARY = """
cases:
  - name: exactly_one_timespan_apart
    events:
      - {event_time: "2025-04-01T10:00:00Z", status_id: 2, user_name: u}
      - {event_time: "2025-04-01T10:01:00Z", status_id: 1, user_name: u}
    expect:
      - {entity_type: user, entity_value: u, event_count: 2, window_start: "2025-04-01T10:00:00Z",
         window_end: "2025-04-01T10:01:00.001Z", last_seen: "2025-04-01T10:01:00Z"}
  - name: one_second_more
    events:
      - {event_time: "2025-04-01T11:00:00Z", status_id: 2, user_name: u}
      - {event_time: "2025-04-01T11:01:01Z", status_id: 1, user_name: u}
    expect: []
"""
# value_count: two distinct addresses, otherwise the same cases
BOUNDARY_IPS = """
cases:
  - name: exactly_one_timespan_apart
    events:
      - {event_time: "2025-04-01T10:00:00Z", status_id: 2, user_name: u, src_ip: 192.0.2.1}
      - {event_time: "2025-04-01T10:01:00Z", status_id: 1, user_name: u, src_ip: 192.0.2.2}
    expect:
      - {entity_type: user, entity_value: u, event_count: 2, window_start: "2025-04-01T10:00:00Z",
         window_end: "2025-04-01T10:01:00.001Z", last_seen: "2025-04-01T10:01:00Z"}
  - name: one_second_more
    events:
      - {event_time: "2025-04-01T11:00:00Z", status_id: 2, user_name: u, src_ip: 192.0.2.3}
      - {event_time: "2025-04-01T11:01:01Z", status_id: 1, user_name: u, src_ip: 192.0.2.4}
    expect: []
"""
INLINE = {
    "event_count": ("  type: event_count\n  rules: [base_a, base_b]\n  group-by: [user]\n  timespan: 1m\n"
                    "  condition: {gte: 2}", BOUNDARY),
    "temporal": ("  type: temporal\n  rules: [base_a, base_b]\n  group-by: [user]\n  timespan: 1m", BOUNDARY),
    "temporal_ordered": ("  type: temporal_ordered\n  rules: [base_a, base_b]\n  group-by: [user]\n"
                         "  timespan: 1m", BOUNDARY),
    "value_count": ("  type: value_count\n  rules: [base_a, base_b]\n  group-by: [user]\n  timespan: 1m\n"
                    "  condition: {field: ip, gte: 2}", BOUNDARY_IPS),
    "value_sum": ("  type: value_sum\n  rules: base_a\n  group-by: [user]\n  timespan: 10m\n"
                  "  condition: {field: bytes, gt: 1000}", """
cases:
  - name: three_transfers_over_a_thousand
    events:
      - {event_time: "2025-04-01T12:00:00Z", status_id: 2, user_name: v, unmapped: {bytes: "400"}, repeat: 3,
         every: 4m}
      - {event_time: "2025-04-01T12:09:00Z", status_id: 2, user_name: v, unmapped: {bytes: "400"}}
    expect:
      - {entity_value: v, event_count: 3, window_start: "2025-04-01T12:00:00Z",
         last_seen: "2025-04-01T12:08:00Z"}
  - name: exactly_a_thousand_or_spread
    events:
      - {event_time: "2025-04-01T13:00:00Z", status_id: 2, user_name: v, unmapped: {bytes: "500"}, repeat: 2,
         every: 1m}
      - {event_time: "2025-04-01T14:00:00Z", status_id: 2, user_name: w, unmapped: {bytes: "600"}, repeat: 3,
         every: 11m}
      - {event_time: "2025-04-01T15:00:00Z", status_id: 1, user_name: x, unmapped: {bytes: "5000"}}
    expect: []
"""),
    "value_avg": ("  type: value_avg\n  rules: base_a\n  group-by: [user]\n  timespan: 10m\n"
                  "  condition: {field: bytes, gte: 1000}", """
cases:
  - name: average_reaches_a_thousand
    events:
      - {event_time: "2025-04-01T12:00:00Z", status_id: 2, user_name: v, unmapped: {bytes: "200"}}
      - {event_time: "2025-04-01T12:01:00Z", status_id: 2, user_name: v, unmapped: {bytes: "1800"}}
      - {event_time: "2025-04-01T12:02:00Z", status_id: 2, user_name: v, unmapped: {bytes: "1500"}}
    expect:
      - {entity_value: v, event_count: 2, window_start: "2025-04-01T12:00:00Z",
         last_seen: "2025-04-01T12:01:00Z"}
  - name: average_below
    events:
      - {event_time: "2025-04-01T13:00:00Z", status_id: 2, user_name: v, unmapped: {bytes: "200"}}
      - {event_time: "2025-04-01T13:01:00Z", status_id: 2, user_name: v, unmapped: {bytes: "1700"}}
      - {event_time: "2025-04-01T13:02:00Z", status_id: 2, user_name: v, unmapped: {bytes: "not a number"}}
    expect: []
"""),
}


def _rule_file(directory: Path, n: int, rule: SigmaCorrelationRule, fixtures: str) -> R.Rule:
    out = C.compile_correlation(rule, where, column)
    path = directory / f"CORR-{n:03d}_{rule.type.name.lower()}.sql"
    path.write_text(f"-- id: CORR-{n:03d}\n-- title: {rule.title}\n-- description: x\n-- severity: high\n"
                    f"-- mitre: T1078\n-- compliance: SOC2-CC7.2\n-- dedup_window: 1h\n-- owner: t\n"
                    f"-- input: {out.input}\n{out.sql}\n")
    path.with_name(path.stem + ".fixtures.yaml").write_text(fixtures)
    return R.load_rule(path)


def test_each_correlation_type_finds_its_positive_case_and_nothing_in_its_negative(tmp_path):
    from auditflow import rules_runner

    files = []
    for n, (body, fixtures) in enumerate(INLINE.values(), 1):
        (rule,) = correlations(BASES, corr(body))
        files.append(_rule_file(tmp_path, n, rule, fixtures))
    run = rules_runner.run_fixtures(files, say=lambda _: None)
    assert run.errors == []
    failed = {f"{r.rule.id}/{r.case.name}": r.lines for r in run.results if not r.ok}
    assert failed == {}
    assert len(run.results) == 2 * len(INLINE) == 12


# ------------------------------------------------------------------ through `rules import-sigma`
def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "auditflow.cli", "rules", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


OWN = {"aws_secrets_bulk_read.yml": "SIGMA-65D114735663", "aws_discovery_burst.yml": "SIGMA-AF85C74DFB01",
       "aws_user_with_access_key.yml": "SIGMA-33B0E838AC9E", "aws_new_user_logs_in.yml": "SIGMA-C1D909BC3E67",
       "linux_sshd_password_guessing.yml": "SIGMA-13D8AA7DFBB8",
       "kubernetes_secrets_across_namespaces.yml": "SIGMA-F95E29740C24"}


def test_the_own_correlations_import_into_the_committed_files(tmp_path):
    proc = cli("import-sigma", str(SOURCES), "-o", str(tmp_path), "--json",
               "--source", "auditflow, this repository (Apache-2.0 like the code)")
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert {r["file"]: r["id"] for r in results if r["status"] == "compiled"} == OWN
    assert all(r["logsource"] == "correlation" for r in results if r["status"] == "compiled")
    bases = sorted((r["file"], r["reason"]) for r in results if r["status"] == "correlation base")
    assert len(bases) == 8 and len(results) == 14
    assert ("aws_new_user_logs_in.yml",
            "used by AWS IAM user created and then logging in to the console") in bases
    fresh = {p.name: p.read_text() for p in tmp_path.glob("*.sql")}
    committed = {p.name: p.read_text() for p in IMPORTED.glob("*.sql")}
    assert sorted(fresh) == sorted(committed) and len(fresh) == 6
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"re-run `auditflow rules import-sigma {SOURCES.relative_to(ROOT)} -o ...`: {stale}"
    rules = {R.load_rule(p).id: R.load_rule(p) for p in IMPORTED.glob("*.sql")}
    assert rules["SIGMA-65D114735663"].dedup_window_ms == 5 * 60_000
    assert rules["SIGMA-65D114735663"].input == (
        "(product_name = 'CloudTrail' AND (LOWER(api_service) = 'secretsmanager.amazonaws.com' AND"
        " LOWER(api_operation) = 'getsecretvalue'))")
    assert rules["SIGMA-C1D909BC3E67"].sigma_id == "c1d909bc-3e67-4eee-b8b9-c510d3c6875b"
    # every imported correlation has filled-in fixtures (run by test_detect_fixtures), not a skeleton
    from udfs.detect import fixtures as F
    for rule in rules.values():
        cases = F.load_fixtures(rule)
        assert any(c.expected for c in cases) and any(not c.expected for c in cases), rule.id


def test_an_unresolvable_or_unsupported_correlation_is_one_fail_line_and_the_rest_compile(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "base.yml").write_text("""title: console login
id: 5f1d1b7e-8a51-4f4e-9a55-1d2b3c4d5e6f
name: base_login
logsource: {product: aws, service: cloudtrail}
detection: {sel: {eventName: ConsoleLogin}, condition: sel}
""")
    (src / "corr.yml").write_text("""title: refers to nothing
id: 3f1d1b7e-8a51-4f4e-9a55-1d2b3c4d5e6f
correlation: {type: event_count, rules: [nope], timespan: 5m, condition: {gte: 3}}
---
title: fewer than three
id: 4f1d1b7e-8a51-4f4e-9a55-1d2b3c4d5e6f
correlation: {type: event_count, rules: [base_login], timespan: 5m, condition: {lt: 3}}
---
title: three logins
id: 6f1d1b7e-8a51-4f4e-9a55-1d2b3c4d5e6f
correlation: {type: event_count, rules: [base_login], group-by: [sourceIPAddress], timespan: 5m,
              condition: {gte: 3}}
---
title: unmapped group field
id: 7f1d1b7e-8a51-4f4e-9a55-1d2b3c4d5e6f
correlation: {type: event_count, rules: [base_login], group-by: [userIdentity.sessionContext.x],
              timespan: 5m, condition: {gte: 3}}
""")
    proc = cli("import-sigma", str(src), "-o", str(tmp_path / "out"), "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["title"]: r for r in json.loads(proc.stdout)}
    assert rows["refers to nothing"]["status"] == "unsupported"
    assert rows["refers to nothing"]["reason"] == "Rule 'nope' not found in rule collection"
    assert rows["fewer than three"]["reason"].startswith("condition 'lt' is not supported")
    assert rows["unmapped group field"]["reason"].startswith("referenced rule 'base_login': field"
                                                             " 'userIdentity.sessionContext.x'")
    assert rows["three logins"]["status"] == "compiled"
    assert rows["console login"]["status"] == "correlation base"
    assert [p.name for p in (tmp_path / "out").glob("*.sql")] == ["SIGMA-6F1D1B7E8A51_corr.sql"]
    # generate: true keeps the referenced rule's own alerts: both files, the base compiled once
    gen = tmp_path / "gen"
    gen.mkdir()
    (gen / "base.yml").write_text((src / "base.yml").read_text())
    (gen / "corr.yml").write_text("""title: three logins
id: 6f1d1b7e-8a51-4f4e-9a55-1d2b3c4d5e6f
correlation: {type: event_count, rules: [base_login], generate: true, timespan: 5m, condition: {gte: 3}}
""")
    again = cli("import-sigma", str(gen), "-o", str(gen), "--json")
    assert {r["title"]: r["status"] for r in json.loads(again.stdout)} == {
        "console login": "compiled", "three logins": "compiled"}
    assert sorted(p.name for p in gen.glob("*.sql")) == ["SIGMA-5F1D1B7E8A51_base.sql",
                                                        "SIGMA-6F1D1B7E8A51_corr.sql"]
    assert "LOWER(api_operation) = 'consolelogin'" in (gen / "SIGMA-6F1D1B7E8A51_corr.sql").read_text()
    human = cli("import-sigma", str(src), "--dry-run")
    assert "FAIL corr.yml  condition 'lt' is not supported" in human.stdout
    assert "Traceback" not in human.stderr
