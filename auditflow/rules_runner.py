"""Flink wiring of detection rules, shared by jobs/detect.py and `auditflow rules`.

Which rules run ([detect] rules_dir, rules, disabled), the `events` source and view, the
reference tables, each rule registered as a temporary view (`rule_<id>`) and checked against
the output contract, planned in the one shape all rules' matches share (udfs/detect/rules.py).
`run_fixtures` runs every rule's fixtures in one local mini-cluster job; `backfill` runs rules
over archived events the same way.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditflow import paths, sql
from udfs.detect import fixtures as F
from udfs.detect import rules as R
from udfs.detect import suppress as S

RULES_DIR = paths.DETECTIONS
REFERENCE_DIR = paths.REFERENCE
# Fixture events are written in time order; a positive bound keeps events that share a timestamp
# on time (CEP treats an event at exactly the watermark as late).
FIXTURE_OUT_OF_ORDERNESS_MS = 1000


def rules_dir(cfg: Any | None) -> Path:
    configured = cfg.get("detect.rules_dir") if cfg is not None else ""
    return Path(configured).expanduser() if configured else RULES_DIR


def enabled_rules(cfg: Any, names: list[str] | tuple[str, ...] = ()) -> list[R.Rule]:
    """Rules named on the command line, else the ones [detect] rules/disabled select, less the
    imported rules still pending fixtures (udfs/detect/fixtures.py is_pending)."""
    all_rules = R.discover(rules_dir(cfg))
    if names:
        return R.select(all_rules, list(names))
    chosen = R.select(all_rules, cfg.get("detect.rules"), cfg.get("detect.disabled"))
    return [r for r in chosen if not F.is_pending(r)]


def local_table_env(streaming: bool = True):
    """A TableEnvironment on Flink's local mini-cluster (this JVM), UTC, parallelism 1."""
    from pyflink.table import EnvironmentSettings, TableEnvironment

    settings = EnvironmentSettings.in_streaming_mode() if streaming else EnvironmentSettings.in_batch_mode()
    t_env = TableEnvironment.create(settings)
    configure(t_env)
    t_env.get_config().set("parallelism.default", "1")
    return t_env


def configure(t_env) -> None:
    t_env.get_config().set("table.local-time-zone", "UTC")


def _with(options: dict[str, str]) -> str:
    return ",\n    ".join(f"'{k}' = '{v}'" for k, v in options.items())


def fixture_source_options(path: Path) -> dict[str, str]:
    return {"connector": "filesystem", "path": str(path), "format": "json",
            "json.timestamp-format.standard": "ISO-8601", "json.fail-on-missing-field": "false"}


def create_events(t_env, options: dict[str, str], out_of_orderness_ms: int) -> None:
    t_env.execute_sql(sql.render("ddl/detect_events_source.sql", options=_with(options),
                                 out_of_orderness_s=f"{out_of_orderness_ms / 1000:.3f}"))
    t_env.execute_sql(sql.render("ddl/detect_events_view.sql"))


def reference_tables(directory: Path = REFERENCE_DIR) -> dict[str, Path]:
    """Reference table name -> its DDL template (the CSV of the same name holds the rows)."""
    return {p.stem: p for p in sorted(directory.glob("*.sql"))}


def create_reference_tables(t_env, data: dict[str, Path] | None = None,
                            directory: Path = REFERENCE_DIR, monitor_s: int | None = None) -> None:
    """Every reference table, reading `data[name]` or else the CSV beside its DDL.

    A streaming job passes `monitor_s`: the tables then keep watching their folder instead of
    finishing. A finished source sends the end-of-time watermark; while audit.events is idle
    (before the first event, say) that watermark alone reaches a temporal join, which then
    treats every later event as behind it and never emits. With `monitor_s` the table goes
    idle (table.exec.source.idle-timeout) and the events' watermark drives the join."""
    for name, ddl in reference_tables(directory).items():
        path = (data or {}).get(name) or ddl.with_suffix(".csv")
        text = ddl.read_text().replace("${path}", str(path))
        t_env.execute_sql(text)
        if monitor_s:
            t_env.execute_sql(f"ALTER TABLE `{name}` SET ('source.monitor-interval' = '{monitor_s} s')")


def register_rule(t_env, rule: R.Rule) -> list[str]:
    """Create the rule's view; returns its columns. Errors name the rule file and line."""
    try:
        # no newline added: Flink's line numbers are then the file's line numbers
        t_env.execute_sql(f"CREATE TEMPORARY VIEW `{rule.view_name}` AS " + rule.sql)
        columns = list(t_env.from_path(rule.view_name).get_schema().get_field_names())
    except Exception as exc:  # noqa: BLE001 - py4j wraps Flink's errors; we add the location
        raise R.RuleError(R.sql_error_location(rule, _java_message(exc))) from None
    R.check_output(rule, columns)
    return columns


def validate(t_env, rule: R.Rule) -> str:
    """Parse and plan the rule; returns the optimized plan, raises RuleError with file:line."""
    return validate_select(t_env, rule, register_rule(t_env, rule))


def validate_select(t_env, rule: R.Rule, columns: list[str]) -> str:
    """Plan the registered rule in its wrapped shape (types, streaming support of each operator)."""
    try:
        return t_env.explain_sql(R.wrapped_select(rule, columns))
    except Exception as exc:  # noqa: BLE001
        raise R.RuleError(R.sql_error_location(rule, _java_message(exc))) from None


def _java_message(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("org.apache.flink.table.api.ValidationException: ",
                   "org.apache.flink.table.api.SqlParserException: ",
                   "org.apache.calcite.runtime.CalciteContextException: "):
        if marker in text:
            text = text[text.rindex(marker) + len(marker):] if marker.startswith("org.apache.calcite") \
                else text[text.index(marker) + len(marker):]
            break
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("at "))[:2000]


# ------------------------------------------------------------------------------- fixtures
@dataclass
class CaseResult:
    rule: R.Rule
    case: F.Case
    ok: bool
    lines: list[str]
    alerts: list[dict[str, Any]]


@dataclass
class TestRun:
    results: list[CaseResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # rule or fixture files that could not run
    pending: list[R.Rule] = field(default_factory=list)  # imported rules without cases: not run

    @property
    def ok(self) -> bool:
        return not self.errors and all(r.ok for r in self.results)


def _flink_time(ms: int, sep: str = "T") -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime(f"%Y-%m-%d{sep}%H:%M:%S.%f")[:-3]


def _csv_value(value: Any) -> str:
    if isinstance(value, (int, datetime)) and not isinstance(value, bool) and value > 10**11:
        return _flink_time(value, " ")
    text = str(value)
    if isinstance(value, str) and ("T" in text and text[:4].isdigit() and ":" in text):
        return _flink_time(R.parse_time(text, "reference"), " ")
    return text


def run_fixtures(rules: list[R.Rule], say: Callable[[str], None] = print, max_evidence: int = 100) -> TestRun:
    """Run every rule's fixture cases in one local Flink job and compare the alerts.

    All cases share one event stream ordered by time; each case has its own tenant
    ('<rule id>/<case>'), and rules partition by tenant, so cases do not see each other."""
    run = TestRun()
    cases: dict[str, list[F.Case]] = {}
    for rule in rules:
        try:
            cases[rule.id] = F.load_fixtures(rule)
        except R.RuleError as exc:
            run.errors.append(str(exc))
            continue
        if not cases[rule.id]:
            run.pending.append(rule)
            del cases[rule.id]
    events: list[dict] = []
    reference_rows: dict[str, list[dict]] = {name: [] for name in reference_tables()}
    for rule_cases in cases.values():
        for case in rule_cases:
            for seq, ev in enumerate(case.events, 1):
                events.append(F.canonical_event(ev, seq))
            for table, rows in case.reference.items():
                if table not in reference_rows:
                    run.errors.append(f"{case.tenant_id}: unknown reference table {table!r}")
                    continue
                reference_rows[table].extend(rows)
    events.sort(key=lambda e: e["time"])

    with tempfile.TemporaryDirectory(prefix="auditflow-rules-") as tmp:
        tmpdir = Path(tmp)
        data = tmpdir / "events.json"
        with data.open("w") as fh:
            for ev in events:
                fh.write(json.dumps({**ev, "time": _flink_time(ev["time"])}) + "\n")
        ref_paths = {table: tmpdir / f"{table}.csv" for table in reference_tables()}

        say(f"starting Flink mini-cluster for {len(cases)} rule(s), {len(events)} fixture events")
        t_env = local_table_env()
        create_events(t_env, fixture_source_options(data), FIXTURE_OUT_OF_ORDERNESS_MS)
        create_reference_tables(t_env, ref_paths)
        for table, ddl in reference_tables().items():
            # the CSV is read only when the job runs: write it in the declared column order now
            columns = list(t_env.from_path(table).get_schema().get_field_names())
            delim = ";" if "'csv.field-delimiter' = ';'" in ddl.read_text() else ","
            ref_paths[table].write_text("".join(
                delim.join(_csv_value(r.get(c, "")) for c in columns) + "\n" for r in reference_rows[table]))
        selects = []
        runnable = []
        for rule in rules:
            if rule.id not in cases:
                continue
            try:
                columns = register_rule(t_env, rule)
                validate_select(t_env, rule, columns)
            except R.RuleError as exc:
                run.errors.append(str(exc))
                continue
            selects.append(R.wrapped_select(rule, columns))
            runnable.append(rule)
        matches: dict[str, list[dict]] = {r.id: [] for r in runnable}
        if selects:
            with t_env.execute_sql("\nUNION ALL\n".join(selects)).collect() as rows:
                for row in rows:
                    m = S.as_match(dict(zip(R.MATCH_COLUMNS, list(row), strict=True)))
                    matches[m["rule_id"]].append(m)
    for rule in runnable:
        alerts = S.suppress(rule.meta(), matches[rule.id], max_evidence)
        for case in cases[rule.id]:
            mine = [a for a in alerts if a["tenant_id"] == case.tenant_id]
            ok, lines = F.compare(case.expected, mine)
            run.results.append(CaseResult(rule, case, ok, lines, mine))
    return run


def backfill(rules: list[R.Rule], events: list[dict], say: Callable[[str], None] = print,
             max_evidence: int = 100) -> tuple[dict[str, list[dict]], list[str]]:
    """Run rules, unchanged, over archived events; returns (alerts per rule id, errors).

    The same `events` view, reference tables (the CSVs in sql/detections/reference/), rule
    SQL and dedup as jobs/detect.py, on Flink's local mini-cluster over a bounded source.
    It runs in streaming mode: MATCH_RECOGNIZE and event-time temporal joins have no batch
    form in Flink, and over a bounded, time-ordered input the result is the same."""
    events = sorted(events, key=lambda e: e["time"])
    errors: list[str] = []
    matches: dict[str, list[dict]] = {}
    runnable: list[R.Rule] = []
    with tempfile.TemporaryDirectory(prefix="auditflow-backfill-") as tmp:
        data = Path(tmp) / "events.json"
        with data.open("w") as fh:
            for ev in events:
                fh.write(json.dumps({**ev, "time": _flink_time(ev["time"])}) + "\n")
        say(f"starting Flink mini-cluster for {len(rules)} rule(s) over {len(events)} archived events")
        t_env = local_table_env()
        create_events(t_env, fixture_source_options(data), FIXTURE_OUT_OF_ORDERNESS_MS)
        create_reference_tables(t_env)
        selects = []
        for rule in rules:
            try:
                columns = register_rule(t_env, rule)
                validate_select(t_env, rule, columns)
            except R.RuleError as exc:
                errors.append(str(exc))
                continue
            selects.append(R.wrapped_select(rule, columns))
            runnable.append(rule)
            matches[rule.id] = []
        if selects and events:
            with t_env.execute_sql("\nUNION ALL\n".join(selects)).collect() as rows:
                for row in rows:
                    m = S.as_match(dict(zip(R.MATCH_COLUMNS, list(row), strict=True)))
                    matches[m["rule_id"]].append(m)
    return {r.id: S.suppress(r.meta(), matches[r.id], max_evidence) for r in runnable}, errors
