"""Flink wiring of detection rules, shared by jobs/detect.py and `auditflow rules`.

The `events` source and view, the reference tables, each rule registered as a temporary view
(`rule_<id>`) and checked against the output contract, and the union of all rules' matches in
one fixed shape. `run_fixtures` runs every rule's fixtures in one local mini-cluster job.
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
from udfs import rules as R

RULES_DIR = paths.DETECTIONS
REFERENCE_DIR = paths.REFERENCE
EVIDENCE_TYPE = "ARRAY<ROW<event_id STRING, chain_id STRING, `sequence` BIGINT, event_hash STRING>>"
# Fixture events are written in time order; a positive bound keeps events that share a timestamp
# on time (CEP treats an event at exactly the watermark as late).
FIXTURE_OUT_OF_ORDERNESS_MS = 1000
MATCH_COLUMNS = ("rule_id", "severity", "tenant_id", "entity_type", "entity_value", "window_start",
                 "window_end", "event_count", "evidence", "first_seen", "last_seen")


def rules_dir(cfg: Any | None) -> Path:
    configured = cfg.get("detect.rules_dir") if cfg is not None else ""
    return Path(configured).expanduser() if configured else RULES_DIR


def enabled_rules(cfg: Any, names: list[str] | tuple[str, ...] = ()) -> list[R.Rule]:
    """Rules named on the command line, else the ones [detect] rules/disabled select."""
    all_rules = R.discover(rules_dir(cfg))
    if names:
        return R.select(all_rules, list(names))
    return R.select(all_rules, cfg.get("detect.rules"), cfg.get("detect.disabled"))


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


def kafka_source_options(cfg: Any, topic: str, group_id: str, startup_mode: str) -> dict[str, str]:
    return {
        "connector": "kafka",
        "topic": topic,
        "properties.bootstrap.servers": cfg.get("kafka.bootstrap_servers"),
        "properties.group.id": group_id,
        "properties.isolation.level": "read_committed",
        "scan.startup.mode": startup_mode,
        "properties.auto.offset.reset": "earliest",
        "scan.watermark.idle-timeout": f"{cfg.get('detect.idle_timeout_s')} s",
        "value.format": "avro-confluent",
        "value.avro-confluent.url": cfg.get("registry.url"),
    }


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
    missing = [c for c in R.OUTPUT_COLUMNS if c not in columns]
    if missing:
        raise R.RuleError(f"{rule.path}:1: output lacks column(s) {', '.join(missing)}; a rule must"
                          f" select {', '.join(R.OUTPUT_COLUMNS)} (sql/detections/README.md)")
    return columns


def wrapped_select(rule: R.Rule, columns: list[str]) -> str:
    """The rule's rows in the one shape every rule shares (the union needs identical types)."""
    severity = "CAST(severity AS STRING)" if "severity" in columns else "CAST(NULL AS STRING)"
    return (
        f"SELECT CAST('{rule.id}' AS STRING) AS rule_id, {severity} AS severity,"
        " CAST(tenant_id AS STRING) AS tenant_id, CAST(entity_type AS STRING) AS entity_type,"
        " CAST(entity_value AS STRING) AS entity_value,"
        " CAST(window_start AS TIMESTAMP(3)) AS window_start, CAST(window_end AS TIMESTAMP(3)) AS window_end,"
        " CAST(event_count AS BIGINT) AS event_count,"
        f" CAST(evidence AS {EVIDENCE_TYPE}) AS evidence,"
        " CAST(first_seen AS TIMESTAMP(3)) AS first_seen, CAST(last_seen AS TIMESTAMP(3)) AS last_seen"
        f" FROM `{rule.view_name}`"
    )


def validate(t_env, rule: R.Rule) -> str:
    """Parse and plan the rule; returns the optimized plan, raises RuleError with file:line."""
    return validate_select(t_env, rule, register_rule(t_env, rule))


def validate_select(t_env, rule: R.Rule, columns: list[str]) -> str:
    """Plan the registered rule in its wrapped shape (types, streaming support of each operator)."""
    try:
        return t_env.explain_sql(wrapped_select(rule, columns))
    except Exception as exc:  # noqa: BLE001
        raise R.RuleError(R.sql_error_location(rule, _java_message(exc))) from None


def late_select(rule: R.Rule) -> str:
    """Events behind the watermark within the rule's declared input: the ones its windows,
    patterns and temporal joins no longer take. Counted per rule, never dropped silently.
    Only for rules with `input:`; stateless filter rules take late events like any other."""
    scope = rule.input or "TRUE"
    return (
        f"SELECT CAST('{rule.id}' AS STRING) AS rule_id, tenant_id, event_id, event_time,"
        " CURRENT_WATERMARK(event_time) AS watermark_time, lateness_ms FROM events"
        f" WHERE event_time <= CURRENT_WATERMARK(event_time) AND ({scope})"
    )


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
    case: R.Case
    ok: bool
    lines: list[str]
    alerts: list[dict[str, Any]]


@dataclass
class TestRun:
    results: list[CaseResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # rule or fixture files that could not run

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
    cases: dict[str, list[R.Case]] = {}
    for rule in rules:
        try:
            cases[rule.id] = R.load_fixtures(rule)
        except R.RuleError as exc:
            run.errors.append(str(exc))
    events: list[dict] = []
    reference_rows: dict[str, list[dict]] = {name: [] for name in reference_tables()}
    for rule_cases in cases.values():
        for case in rule_cases:
            for seq, ev in enumerate(case.events, 1):
                events.append(R.canonical_event(ev, seq))
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
            selects.append(wrapped_select(rule, columns))
            runnable.append(rule)
        matches: dict[str, list[dict]] = {r.id: [] for r in runnable}
        if selects:
            with t_env.execute_sql("\nUNION ALL\n".join(selects)).collect() as rows:
                for row in rows:
                    m = R.as_match(dict(zip(MATCH_COLUMNS, list(row), strict=True)))
                    matches[m["rule_id"]].append(m)
    for rule in runnable:
        alerts = R.suppress(rule.meta(), matches[rule.id], max_evidence)
        for case in cases[rule.id]:
            mine = [a for a in alerts if a["tenant_id"] == case.tenant_id]
            ok, lines = R.compare(case.expected, mine)
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
            selects.append(wrapped_select(rule, columns))
            runnable.append(rule)
            matches[rule.id] = []
        if selects and events:
            with t_env.execute_sql("\nUNION ALL\n".join(selects)).collect() as rows:
                for row in rows:
                    m = R.as_match(dict(zip(MATCH_COLUMNS, list(row), strict=True)))
                    matches[m["rule_id"]].append(m)
    return {r.id: R.suppress(r.meta(), matches[r.id], max_evidence) for r in runnable}, errors


# ------------------------------------------------------------------------------- producing
def avro_event(flat: dict[str, Any], sequence: int) -> dict[str, Any]:
    """A flat fixture-style event as a complete AuditEvent record (tests and benchmarks)."""
    ev = R.canonical_event(flat, sequence)
    ev["chain"]["prev_hash"] = "0" * 64
    if "lineage" in ev:
        ev["lineage"].setdefault("source_system", "app_json")
    if "actor" in ev:
        ev["actor"].setdefault("user", None)
        ev["actor"].setdefault("session", None)
    ev.setdefault("metadata", {})["version"] = "1.3.0"
    ev["metadata"].setdefault("log_name", None)
    if "resources" in ev:
        ev["resources"] = [{f: r.get(f) for f in R.RESOURCE_FIELDS} for r in ev["resources"]]
    return ev


def producer(cfg: Any, topic: str):
    """(produce(event dict, key bytes), flush() -> undelivered) with the registry's AvroSerializer."""
    from confluent_kafka import Producer
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    from auditflow import kafka, registry

    serializer = AvroSerializer(registry.client(cfg), registry.load_schema("audit_event").schema_str)
    prod = Producer(kafka.producer_conf(cfg, **{"linger.ms": 5}))
    ctx = SerializationContext(topic, MessageField.VALUE)
    errors: list[str] = []

    def on_delivery(err, _msg) -> None:
        if err is not None:
            errors.append(str(err))

    def produce(event: dict[str, Any], key: bytes) -> None:
        prod.produce(topic, key=key, value=serializer(event, ctx), on_delivery=on_delivery)
        prod.poll(0)

    def flush(timeout_s: float = 60) -> int:
        left = prod.flush(timeout_s)
        if errors:
            raise RuntimeError(f"produce to {topic} failed: {errors[:3]}")
        return left

    return produce, flush
