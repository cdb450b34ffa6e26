"""Detect job: Flink SQL detection rules over audit.events -> deduplicated alerts on audit.alerts.

    flink run -py jobs/detect.py [--rules AUTH-001,K8S-001] [--startup-mode latest-offset]

Reads `audit.events` (Avro, registry) once, through one Kafka source every statement shares
(read_events_once), into the `events` view, registers every enabled rule
(`[detect] rules` / `disabled`, or --rules) from sql/detections/ and validates each (parse and
plan) before anything is submitted: one bad rule stops the submission with its file and line.
All rules run in one job: their matches are unioned, keyed by rule + dedup key, and folded by
the rule's dedup window (udfs.detect.suppress.Suppressor) so a storm gives one alert and one
rollup with the total count. Alerts go exactly once (Kafka transactions on checkpoints) to
`audit.alerts` as Confluent-wire Avro (schemas/alert.avsc). Events that arrive behind the
watermark, which windows, patterns and temporal joins no longer take, are written per rule to
`[detect] late_topic`, where `auditflow rules late` (auditflow/late.py) evaluates them. The dedup
operator counts matches, alerts and suppressed matches per rule (`auditflow rules status`).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time

from pyflink.common import Configuration, Row, Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor
from pyflink.table import Schema, StreamTableEnvironment

from auditflow import config, flink, kafka, registry, rules_runner, sql
from udfs import wire
from udfs.detect import rules as R
from udfs.detect import suppress as S

JOB_NAME = flink.job_prefix("detect")
ROLE = "detect"  # auditflow/roles.toml: its Kafka user and grants
OUT_TYPE = Types.ROW_NAMED(["key", "value"],
                           [Types.PRIMITIVE_ARRAY(Types.BYTE()), Types.PRIMITIVE_ARRAY(Types.BYTE())])


class Suppress(KeyedProcessFunction):
    """Keyed by rule + dedup key: the first match alerts at once, later ones in the rule's dedup
    window are folded into a rollup emitted when the watermark passes the window's end."""

    def __init__(self, settings: dict):
        self.settings = settings

    def open(self, runtime_context: RuntimeContext) -> None:
        self.encode = wire.Encoder(self.settings["alert_schema_id"], self.settings["alert_schema"])
        self.metas = self.settings["rules"]
        self.state = runtime_context.get_state(
            ValueStateDescriptor("suppression", Types.PICKLED_BYTE_ARRAY()))
        group = runtime_context.get_metrics_group().add_group("detect")
        self.alerts_counter = group.counter("alerts")
        self.folded_counter = group.counter("folded_matches")
        # per rule, for `auditflow rules status` (metric ids `...detect.rule.<ID>.<name>`)
        self.lag: dict[str, int] = {}
        self.per_rule = {}
        for rule_id in self.metas:
            g = group.add_group("rule", rule_id)
            self.per_rule[rule_id] = {name: g.counter(name) for name in ("matches", "alerts", "suppressed")}
            # processing time minus the newest matched event's time, at the rule's latest match
            g.gauge("eval_lag_ms", lambda r=rule_id: self.lag.get(r, 0))

    def _suppressor(self, rule_id: str) -> S.Suppressor:
        sup = S.Suppressor(self.metas[rule_id], self.settings["max_evidence"])
        blob = self.state.value()
        if blob is not None:
            key, suppression = pickle.loads(blob)
            sup.state[key] = suppression
        return sup

    def _save(self, sup: S.Suppressor) -> None:
        if sup.state:
            self.state.update(pickle.dumps(next(iter(sup.state.items()))))
        else:
            self.state.clear()

    def _emit(self, alerts: list[dict]):
        for alert in alerts:
            self.alerts_counter.inc()
            self.per_rule[alert["rule_id"]]["alerts"].inc()
            yield Row(key=alert["dedup_key"].encode(), value=self.encode(alert))

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context):
        match = S.as_match(dict(zip(R.MATCH_COLUMNS, list(value), strict=True)))
        sup = self._suppressor(match["rule_id"])
        now = int(time.time() * 1000)
        counters = self.per_rule[match["rule_id"]]
        counters["matches"].inc()
        self.lag[match["rule_id"]] = now - match["last_seen"]
        alerts = sup.admit(match, now)
        if alerts:  # a new dedup period opened: wake up at its end to emit the rollup, if any
            for suppression in sup.state.values():
                ctx.timer_service().register_event_time_timer(suppression.period_end)
        else:
            self.folded_counter.inc()
            counters["suppressed"].inc()
        self._save(sup)
        yield from self._emit(alerts)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        blob = self.state.value()
        if blob is None:
            return
        _key, suppression = pickle.loads(blob)
        sup = self._suppressor(suppression.first["rule_id"])
        alerts = sup.expire(timestamp, int(time.time() * 1000))
        self._save(sup)
        yield from self._emit(alerts)


def read_events_once(t_env: StreamTableEnvironment) -> None:
    """Make the `events` view one DataStream conversion of itself, read by every statement.

    The rules' union goes through to_data_stream (for the dedup operator) and is planned on its
    own, apart from the late-event INSERTs of the statement set: each planning made its own Kafka
    source on audit.events, so the topic was read and decoded twice, with two watermarks moving
    apart. Planned once here, both read the same DataStream. The columns and types stay as they
    were (event_time TIMESTAMP(3), not TIMESTAMP_LTZ, as temporal joins with the reference tables
    need); SOURCE_WATERMARK() keeps event_time the rowtime and passes the source's watermarks
    (out-of-orderness bound, idle partitions) on unchanged, instead of deriving new ones."""
    stream = t_env.to_data_stream(t_env.from_path("events"))
    t_env.drop_temporary_view("events")
    t_env.create_temporary_view("events", t_env.from_data_stream(
        stream, Schema.new_builder().watermark("event_time", "SOURCE_WATERMARK()").build()))


def options(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rules", default="", help="comma-separated rule ids (default: [detect] rules)")
    p.add_argument("--events-topic", default=None, help="default: [detect] events_topic")
    p.add_argument("--alerts-topic", default=None, help="default: [detect] alerts_topic")
    p.add_argument("--late-topic", default=None, help="default: [detect] late_topic")
    p.add_argument("--group-id", default=None, help="default: [detect] group_id")
    p.add_argument("--startup-mode", default="group-offsets",
                   choices=["group-offsets", "earliest-offset", "latest-offset"])
    p.add_argument("--profile", default=None, help="auditflow config profile")
    return p.parse_args(argv)


def kafka_source_options(cfg: config.Config, topic: str, group_id: str, startup_mode: str) -> dict[str, str]:
    """The `events` source on audit.events (rules_runner.create_events' `options`)."""
    return {
        "connector": "kafka",
        "topic": topic,
        "properties.bootstrap.servers": cfg.get("kafka.bootstrap_servers"),
        **kafka.flink_options(cfg, ROLE),
        "properties.group.id": group_id,
        "properties.isolation.level": "read_committed",
        "scan.startup.mode": startup_mode,
        "properties.auto.offset.reset": "earliest",
        "scan.watermark.idle-timeout": f"{cfg.get('detect.idle_timeout_s')} s",
        "value.format": "avro-confluent",
        **registry.flink_options(cfg, "detect"),
    }


def job_settings(cfg: config.Config, selected: list[R.Rule], alerts_topic: str) -> dict:
    """Picklable settings for the workers; registers the alert schema once, on the client."""

    schema = json.loads(registry.load_schema("alert").schema_str)
    schema_id = registry.schema_id(cfg, ROLE, alerts_topic, "alert")
    return {"alert_schema": schema, "alert_schema_id": schema_id,
            "rules": {r.id: r.meta() for r in selected}, "max_evidence": int(cfg.get("detect.max_evidence"))}


def ensure_topic(cfg: config.Config, topic: str) -> None:
    """Create the topic when missing (brokers usually do not auto-create); 30 days retention."""
    if topic not in kafka.admin(cfg, ROLE).list_topics(timeout=10).topics:
        # as the job's own role: where it may not create topics the broker refuses, by name
        kafka.apply_topics(cfg, [kafka.TopicSpec(topic, 3, 1, {"retention.ms": "2592000000"})], role=ROLE)


def main(argv: list[str]) -> None:
    args = options(argv)
    cfg = config.load(args.profile)
    events_topic = args.events_topic or cfg.get("detect.events_topic")
    alerts_topic = args.alerts_topic or cfg.get("detect.alerts_topic")
    late_topic = args.late_topic or cfg.get("detect.late_topic")
    group_id = args.group_id or cfg.get("detect.group_id")
    selected = rules_runner.enabled_rules(cfg, [r for r in args.rules.split(",") if r])
    if not selected:
        sys.exit("no detection rules enabled: check [detect] rules / disabled or --rules")

    flink_conf = Configuration()
    # keep the last checkpoint when the job is cancelled: `auditflow jobs start` resumes from it
    flink_conf.set_string("execution.checkpointing.externalized-checkpoint-retention",
                          "RETAIN_ON_CANCELLATION")
    env = StreamExecutionEnvironment.get_execution_environment(flink_conf)
    env.enable_checkpointing(int(cfg.get("detect.checkpoint_interval_ms")))
    t_env = StreamTableEnvironment.create(env)
    rules_runner.configure(t_env)
    t_env.get_config().set("pipeline.name", flink.pipeline_job_name("detect", events_topic))
    # Python operators hand on their output per bundle; the 1 s default would add up to a
    # second to every alert (they see only matches, so small bundles cost little)
    t_env.get_config().set("python.fn-execution.bundle.time", "100")
    # per-key state of unbounded rules (DATA-002's first-seen counts) is dropped after this long
    # without an update, so the job's state stays bounded by the active keys, not by history
    t_env.get_config().set("table.exec.state.ttl", str(cfg.get("detect.state_ttl")))
    rules_runner.create_events(t_env, kafka_source_options(cfg, events_topic, group_id, args.startup_mode),
                               int(cfg.get("detect.out_of_orderness_ms")))
    # reference tables are watched, not read once (see create_reference_tables), and go idle
    idle_s = int(cfg.get("detect.idle_timeout_s"))
    t_env.get_config().set("table.exec.source.idle-timeout", f"{idle_s} s")
    rules_runner.create_reference_tables(t_env, monitor_s=60)
    read_events_once(t_env)  # after every setting that planning the source reads

    # validate every rule before submitting anything: a broken rule must not half-deploy
    selects, errors = [], []
    for rule in selected:
        try:
            columns = rules_runner.register_rule(t_env, rule)
            rules_runner.validate_select(t_env, rule, columns)
            selects.append(R.wrapped_select(rule, columns))
        except R.RuleError as exc:
            errors.append(str(exc))
    if errors:
        sys.exit("detection rules failed validation, nothing submitted:\n" + "\n".join(errors))
    print(f"{JOB_NAME}: {len(selected)} rule(s) valid: {', '.join(r.id for r in selected)}", flush=True)

    settings = job_settings(cfg, selected, alerts_topic)
    for topic in (alerts_topic, late_topic):  # a missing topic would block the transactional sinks
        ensure_topic(cfg, topic)
    matches = t_env.to_data_stream(t_env.sql_query("\nUNION ALL\n".join(selects)))
    metas = settings["rules"]

    def flink_key(row: Row) -> str:  # the rule's dedup key: one key's state is one Suppression
        return S.dedup_key(metas[row[0]], dict(zip(R.MATCH_COLUMNS, row, strict=True)))

    alerts = (
        matches.key_by(flink_key, key_type=Types.STRING())
        .process(Suppress(settings), output_type=OUT_TYPE)
        .name("dedup-suppress-encode")
    )
    t_env.create_temporary_view("alerts_out", t_env.from_data_stream(alerts))

    statements = t_env.create_statement_set()
    bootstrap, security = cfg.get("kafka.bootstrap_servers"), kafka.flink_sql(cfg, ROLE)
    t_env.execute_sql(sql.render("ddl/kafka_bytes_sink.sql", name="sink_alerts", topic=alerts_topic,
                                 bootstrap_servers=bootstrap, kafka_security=security,
                                 transactional_id_prefix=f"{group_id}-alerts",
                                 max_record_bytes=cfg.get("kafka.max_record_bytes")))
    statements.add_insert_sql("INSERT INTO sink_alerts SELECT `key`, `value` FROM alerts_out")
    for rule in (r for r in selected if r.input):  # rules without `input:` are stateless filters
        name = f"late_{rule.view_name}"
        t_env.execute_sql(sql.render("ddl/detect_late_sink.sql", name=name, topic=late_topic,
                                     bootstrap_servers=bootstrap, kafka_security=security,
                                     transactional_id_prefix=f"{group_id}-{name}"))
        statements.add_insert_sql(f"INSERT INTO {name} {R.late_select(rule)}")
    statements.execute()


if __name__ == "__main__":
    main(sys.argv[1:])
