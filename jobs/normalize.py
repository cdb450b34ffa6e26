"""Normalize job: raw audit records -> canonical, masked, enriched, hash-chained events.

    flink run -py jobs/normalize.py [--raw-topic-pattern RE | --raw-topics T,...] [--chains tenant|partition]

Reads every tenant's raw topic (`audit.raw.<tenant>.<source>`, subscribed to by pattern, so a
tenant added later is read without a restart) as bytes with its Kafka coordinates; the topic
names the record's tenant (udfs/sources.py). Per record:
parse -> validate -> filter policy -> mask PII -> geo enrichment (stateless, parallel), then,
keyed by chain: user enrichment from the `audit.users` directory (broadcast state, profile
valid at the event's time) -> lineage -> SHA-256 chain link (checkpointed keyed state).
`--chains` (`normalize.chains`) picks the chains: `tenant` (the default) keeps one chain per
tenant, merged from all raw partitions in Kafka-time order, so audit.events holds each tenant's
events in the order they were ingested, which the detect job's event-time rules rely on; one
worker links a tenant. `partition` keeps one chain per tenant and raw partition
(schemas/CHAIN.md version 2), linked as events arrive by as many workers as the tenant has raw
partitions, with nothing buffered (see LinkByPartition for what that gives up). Output goes
exactly once (Kafka transactions on checkpoints) to `audit.events` (Avro, registry), rejects to
`audit.dlq` with their reason, deliberately filtered records to `audit.filtered`, so that
raw = events + dead letters + filtered for every source and tenant (`auditflow reconcile`).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import uuid
from typing import Any

from pyflink.common import Configuration, Row, Types
from pyflink.datastream import OutputTag, StreamExecutionEnvironment
from pyflink.datastream.functions import (
    KeyedBroadcastProcessFunction,
    ProcessFunction,
    RuntimeContext,
)
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor
from pyflink.table import StreamTableEnvironment

from auditflow import config, flink, kafka, registry, sql
from udfs import chain, normalize, shard, sources
from udfs.record import RawRecord

JOB_NAME = normalize.JOB_NAME
ROLE = "normalize"  # auditflow/roles.toml: its Kafka user and grants
OUT_TYPE = Types.ROW_NAMED(
    ["kind", "key", "value"],
    [Types.STRING(), Types.PRIMITIVE_ARRAY(Types.BYTE()), Types.PRIMITIVE_ARRAY(Types.BYTE())],
)
USERS = MapStateDescriptor("users", Types.STRING(), Types.STRING())
FINAL = OutputTag("final", OUT_TYPE)  # dead letters and filter notes, encoded by Prepare
# what Prepare hands the keyed half: (key, order, pickled event); order TICK is a Ticks element
KEYED_TYPE = Types.ROW_NAMED(["key", "order", "payload"],
                             [Types.STRING(), Types.STRING(), Types.PRIMITIVE_ARRAY(Types.BYTE())])
TICK = ""
# fixed, so the key groups (udfs.shard) and with them every key's state stay where they are
MAX_PARALLELISM = 128


def raw_record(row: Row) -> RawRecord:
    """The RawRecord of a `raw_records` row (sql/ddl/normalize_raw_source.sql)."""
    return normalize.raw_record(
        topic=row["topic"], partition=row["partition"], offset=row["offset"], key=row["key"],
        value=row["value"], timestamp_ms=row["ts"].to_epoch_milli(), headers=row["headers"] or {},
    )


def update_directory(state, value: Row) -> None:
    """One audit.users record into the broadcast state (a tombstone removes the user)."""
    for key, record in normalize.directory_entries(value["key"], value["value"]).items():
        if record is None:
            state.remove(key)
        else:
            state.put(key, record)


def link(normalizer: normalize.Normalizer, event: dict, chain_id: str, head: str | None, users,
         watermark: int, job_id: str) -> tuple[Row, str | None]:
    """One event linked onto its chain's head ("<sequence> <hash>", None for a new chain) and
    encoded: the output row and the new head, None when the event became a dead letter (the
    chain is then not advanced)."""
    prev = None
    if head:
        seq, _, digest = head.partition(" ")
        prev = {"chain_id": chain_id, "sequence": int(seq), "event_hash": digest}
    kind, encoded, state = normalizer.finish_encoded(
        event,
        user_versions=lambda k: users.get(k) if k and users.contains(k) else None,
        chain_state=prev, watermark_ms=watermark, flink_job_id=job_id, chain_id=chain_id,
    )
    new_head = f"{state['sequence']} {state['event_hash']}" if state is not None else None
    return Row(kind=kind, key=event["tenant_id"].encode(), value=encoded), new_head


class Prepare(ProcessFunction):
    """The stateless half of both layouts (parse, validate, filter, mask, geo). Never raises on
    bad input.

    Dead letters and filter notes are final here, encoded and sent to their sinks as a side
    output, so only events cross to the keyed half, as (key, order, pickled event):
    - chains per tenant: the key of the tenant's key group (`udfs.shard.group_key`), and the
      event's place in Kafka (topic, partition, offset), the tie-breaker of the chain order;
    - chains per raw partition: the chain's routing key (`udfs.shard.routing_key`: tenant, raw
      topic, raw partition), so that a tenant's partitions are linked by different workers."""

    def __init__(self, settings: dict, chains: str):
        self.settings, self.chains = settings, chains
        self.normalizer: normalize.Normalizer | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.normalizer = normalize.Normalizer(self.settings)
        self.max_parallelism = runtime_context.get_max_number_of_parallel_subtasks()

    def process_element(self, row: Row, ctx: ProcessFunction.Context):
        record = raw_record(row)
        kind, tenant, payload = self.normalizer.prepare(record)
        if kind != "event":
            yield FINAL, Row(kind=kind, key=tenant.encode(), value=self.normalizer.encode(kind, payload))
            return
        # pickled here: PyFlink's own pickling of a Python object (cloudpickle) costs several
        # times more for a nested dict
        blob = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        if self.chains == "tenant":
            key = shard.group_key(shard.key_group(tenant, self.max_parallelism), self.max_parallelism)
            yield Row(key, f"{record.topic}|{record.partition:06d}|{record.offset:020d}", blob)
        else:
            slot = shard.slot_of(tenant, record.topic, record.partition)
            yield Row(shard.routing_key(chain.chain_id_of(payload), slot, self.max_parallelism), "-", blob)


def _unpack(value: bytes) -> tuple[str, bytes]:
    """A waiting entry (order NUL pickled event, as ChainByTenant writes it) as (order, event)."""
    order, _, blob = bytes(value).partition(b"\0")
    return order.decode(), blob


class ChainByTenant(KeyedBroadcastProcessFunction):
    """Chains per tenant (version 1, the default): user enrichment, lineage and the chain link,
    in replayable order, and events written per tenant in Kafka-time order.

    Events wait in keyed state until the watermark passes their Kafka timestamp and are then
    linked sorted by (timestamp, topic, partition, offset), an order that depends only on the
    raw records, so a replay after a failure produces the same sequence and hashes. A record
    that arrives behind the watermark is linked at once; its lateness is in lineage.lateness_ms.

    No timers: PyFlink 2.2 can leave out of a checkpoint the timers registered by the bundle it
    flushes for that checkpoint while keeping that bundle's state
    (scripts/repro_pyflink_timer_checkpoint.py), so after a restore a quiet tenant's waiting
    events would wait for its next record. Instead the state is keyed by key group (one key per
    group, `udfs.shard.group_key`; a tenant's chain head and waiting events live under its
    group's key) and a tick stream (sql/ddl/normalize_ticks.sql) visits every key
    `normalize.ticks_per_second` times a second. The ticks
    source's watermark is this clock less `normalize.out_of_orderness_s`, so when every raw
    partition is idle (`normalize.idle_timeout_s`) the watermark still moves and the newest
    events are linked; while raw records flow, their slower watermark rules.
    """

    def __init__(self, settings: dict):
        self.settings = settings

    def open(self, runtime_context: RuntimeContext) -> None:
        self.normalizer = normalize.Normalizer(self.settings)
        self.heads = runtime_context.get_map_state(
            MapStateDescriptor("heads", Types.STRING(), Types.STRING()))
        # waiting events: "<ts>|<i>" -> order NUL pickled event, the i-th of Kafka timestamp ts
        # (times: ts -> how many), so an event costs one small put however many share its
        # millisecond; a list per timestamp was re-written whole at each of them (a backlog
        # ingested at 300 records/ms re-wrote ~150 events per event)
        self.times = runtime_context.get_map_state(
            MapStateDescriptor("waiting-times", Types.LONG(), Types.INT()))
        self.waiting = runtime_context.get_map_state(
            MapStateDescriptor("waiting", Types.STRING(), Types.PRIMITIVE_ARRAY(Types.BYTE())))
        # that list per timestamp, still read so that a checkpoint taken before loses nothing
        self.pending = runtime_context.get_map_state(
            MapStateDescriptor("pending", Types.LONG(), Types.PICKLED_BYTE_ARRAY()))
        self.without_lists: set[str] = set()  # keys whose `pending` was found empty
        # the smallest Kafka timestamp waiting, so a tick with nothing due reads one value
        self.earliest = runtime_context.get_state(ValueStateDescriptor("earliest", Types.LONG()))
        self.job_id = self.settings["flink_job_id"]

    def process_element(self, value: Row, ctx: KeyedBroadcastProcessFunction.ReadOnlyContext):
        order, blob = value[1], value[2]
        watermark = ctx.timer_service().current_watermark()
        # first what the watermark has passed, as a timer would have fired before this element
        earliest = self.earliest.value()
        if earliest is not None and earliest <= watermark:
            yield from self._link_due(ctx, watermark)
            earliest = self.earliest.value()
        if order == TICK:
            return
        ts = ctx.timestamp()
        if ts is None or ts <= watermark:
            yield from self._link([(order, blob)], ctx, watermark)
            return
        n = self.times.get(ts) or 0
        self.waiting.put(f"{ts}|{n}", order.encode() + b"\0" + bytes(blob))
        self.times.put(ts, n + 1)
        if earliest is None or ts < earliest:
            self.earliest.update(ts)

    def _link_due(self, ctx, watermark: int):
        due: dict[int, list[tuple[str, bytes]]] = {}
        counts = list(self.times.items())
        due_times = [(ts, n) for ts, n in counts if ts <= watermark]
        later = min((ts for ts, n in counts if ts > watermark), default=None)
        if due_times and sum(n for _ts, n in due_times) * 2 >= sum(n for _ts, n in counts):
            # most of what waits is due (a burst the watermark has passed): one pass over the
            # map, which PyFlink fetches in batches, where a get is one round trip to the state
            # backend per event (200k of them kept a burst waiting for minutes)
            for key, value in list(self.waiting.items()):
                ts = int(key.partition("|")[0])
                if ts <= watermark:
                    due.setdefault(ts, []).append(_unpack(value))
                    if later is not None:
                        self.waiting.remove(key)
            if later is None:
                self.waiting.clear()
        else:
            for ts, n in due_times:
                items = due.setdefault(ts, [])
                for i in range(n):
                    key = f"{ts}|{i}"
                    items.append(_unpack(self.waiting.get(key)))
                    self.waiting.remove(key)
        if later is None:
            self.times.clear()
        else:
            for ts, _n in due_times:
                self.times.remove(ts)
        group = ctx.get_current_key()
        if group not in self.without_lists:
            for ts in list(self.pending.keys()):  # noqa: SIM118 (MapState)
                if ts > watermark:
                    later = ts if later is None else min(later, ts)
                    continue
                due.setdefault(ts, []).extend(self.pending.get(ts))
                self.pending.remove(ts)
            if self.pending.is_empty():
                self.without_lists.add(group)
        for ts in sorted(due):  # (timestamp, topic, partition, offset) order, as before
            yield from self._link(sorted(due[ts]), ctx, watermark)
        if later is None:
            self.earliest.clear()
        else:
            self.earliest.update(later)

    def _link(self, items: list, ctx, watermark: int):
        users = ctx.get_broadcast_state(USERS)
        for _order, blob in items:
            event = pickle.loads(blob)
            tenant = event["tenant_id"]
            row, head = link(self.normalizer, event, tenant, self.heads.get(tenant), users, watermark,
                             self.job_id)
            if head is not None:
                self.heads.put(tenant, head)
            yield row

    def process_broadcast_element(self, value: Row, ctx: KeyedBroadcastProcessFunction.Context):
        update_directory(ctx.get_broadcast_state(USERS), value)


class LinkByPartition(KeyedBroadcastProcessFunction):
    """Chains per raw partition: user enrichment, lineage and the chain link, as events arrive.

    A chain is one tenant's events from one raw partition (schemas/CHAIN.md, version 2), so
    its order is the partition's offset order: a function of the raw records alone, the same
    in a replay, with nothing to buffer or sort. Different partitions are different keys, so
    one tenant's events are linked by as many parallel workers as its raw topics have
    partitions. The only state is each chain's head (sequence and hash), checkpointed.

    What this gives up: a tenant's events leave in arrival order per partition, not merged
    across partitions in Kafka time, so after a backlog (or a replay faster than real time)
    audit.events holds one tenant's families out of event-time order, and the detect job's
    windowed rules count what falls behind their watermark as late instead of evaluating it."""

    def __init__(self, settings: dict):
        self.settings = settings

    def open(self, runtime_context: RuntimeContext) -> None:
        self.normalizer = normalize.Normalizer(self.settings)
        self.head = runtime_context.get_state(ValueStateDescriptor("head", Types.STRING()))
        self.job_id = self.settings["flink_job_id"]

    def process_element(self, value: Row, ctx: KeyedBroadcastProcessFunction.ReadOnlyContext):
        event = pickle.loads(value[2])
        row, head = link(self.normalizer, event, chain.chain_id_of(event), self.head.value(),
                         ctx.get_broadcast_state(USERS), ctx.timer_service().current_watermark(), self.job_id)
        if head is not None:
            self.head.update(head)
        yield row

    def process_broadcast_element(self, value: Row, ctx: KeyedBroadcastProcessFunction.Context):
        update_directory(ctx.get_broadcast_state(USERS), value)


def load_schema(name: str) -> dict:
    """A schema from schemas/ as parsed JSON, e.g. load_schema('audit_event')."""
    return json.loads(registry.load_schema(name).schema_str)


def job_settings(cfg: config.Config, events_topic: str, dlq_topic: str) -> dict[str, Any]:
    """Picklable settings for the workers (udfs.normalize.Normalizer): looks the schemas' ids up
    once, on the client (a schema-admin registered them), and hands the workers each schema with
    its id."""
    schemas = {"event": load_schema("audit_event"), "dlq": load_schema("dead_letter")}
    ids = {kind: registry.schema_id(cfg, "normalize", topic, name) for kind, topic, name in
           (("event", events_topic, "audit_event"), ("dlq", dlq_topic, "dead_letter"))}
    return {
        "schema_ids": ids,
        "schemas": schemas,
        "normalize": dict(cfg.section("normalize")),
        "limits": dict(cfg.values.get("limits", {})),
        "filter": dict(cfg.values.get("filter", {})),
        "mask": dict(cfg.values.get("mask", {})),
        "job_version": normalize.JOB_VERSION,
        "max_record_bytes": int(cfg.get("kafka.max_record_bytes")),
    }


def job_id() -> str:
    """The job id the Flink configuration pins (the Kubernetes operator does, in application
    mode, to track and recover the job), else a new one."""
    from pyflink.java_gateway import get_gateway
    conf = get_gateway().jvm.org.apache.flink.configuration.GlobalConfiguration.loadConfiguration()
    return conf.toMap().get("$internal.pipeline.job-id") or uuid.uuid4().hex


def options(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    raw = p.add_mutually_exclusive_group()
    raw.add_argument("--raw-topic-pattern", default=None,
                     help="regular expression of the raw topics, looked for every "
                          f"normalize.topic_discovery_s (default: {sources.raw_topic_pattern()})")
    raw.add_argument("--raw-topics", default=None, help="comma-separated raw topics, instead of a pattern")
    p.add_argument("--events-topic", default="audit.events")
    p.add_argument("--dlq-topic", default="audit.dlq")
    p.add_argument("--filtered-topic", default="audit.filtered")
    p.add_argument("--users-topic", default="audit.users")
    p.add_argument("--group-id", default=JOB_NAME)
    p.add_argument("--chains", choices=["tenant", "partition"], default=None,
                   help="one chain per tenant, linked in Kafka-time order (version 1; default: "
                        "normalize.chains), or per tenant and raw partition, linked by parallel "
                        "workers as events arrive (schemas/CHAIN.md version 2)")
    p.add_argument("--profile", default=None, help="auditflow config profile")
    return p.parse_args(argv)


def subscription(cfg: config.Config, args: argparse.Namespace) -> str:
    """The raw source's topic options: the explicit list, else the pattern and how often new
    matching topics are looked for."""
    if args.raw_topics:
        return "'topic' = '{}'".format(args.raw_topics.replace(",", ";"))
    pattern = args.raw_topic_pattern or sources.raw_topic_pattern()
    return (f"'topic-pattern' = '{pattern}', 'scan.topic-partition-discovery.interval' = "
            f"'{cfg.get('normalize.topic_discovery_s')} s'")


def main(argv: list[str]) -> None:
    args = options(argv)
    cfg = config.load(args.profile)
    args.chains = args.chains or cfg.get("normalize.chains")
    if args.chains not in ("tenant", "partition"):
        sys.exit(f"normalize.chains must be 'tenant' or 'partition', not {args.chains!r}")
    settings = job_settings(cfg, args.events_topic, args.dlq_topic)
    # the job id is known here so each event's lineage can name the job that linked it
    settings["flink_job_id"] = job_id()
    flink_conf = Configuration()
    flink_conf.set_string("$internal.pipeline.job-id", settings["flink_job_id"])
    # keep the last checkpoint when the job is cancelled, so it can be restarted from it (-s)
    flink_conf.set_string("execution.checkpointing.externalized-checkpoint-retention",
                          "RETAIN_ON_CANCELLATION")
    if args.chains == "tenant":  # waiting events are most of the state: see normalize.tenant_state_backend
        backend = str(cfg.get("normalize.tenant_state_backend"))
        flink_conf.set_string("state.backend.type", backend)
        if backend == "rocksdb":
            flink_conf.set_string("execution.checkpointing.incremental", "true")

    env = StreamExecutionEnvironment.get_execution_environment(flink_conf)
    env.set_max_parallelism(MAX_PARALLELISM)
    env.enable_checkpointing(int(cfg.get("flink.checkpoint_interval_ms")))
    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set("pipeline.name", flink.pipeline_job_name("normalize", args.events_topic))
    idle = f"{cfg.get('normalize.idle_timeout_s')} s"
    common = {"bootstrap_servers": cfg.get("kafka.bootstrap_servers"), "group_id": args.group_id,
              "kafka_security": kafka.flink_sql(cfg, ROLE)}
    t_env.execute_sql(sql.render(
        "ddl/normalize_raw_source.sql", subscription=subscription(cfg, args),
        out_of_orderness_s=cfg.get("normalize.out_of_orderness_s"), idle_timeout=idle, **common,
    ))
    t_env.execute_sql(sql.render(
        "ddl/normalize_users_source.sql", topic=args.users_topic, idle_timeout=idle, **common))

    raw = t_env.to_data_stream(t_env.from_path("raw_records"))
    users = t_env.to_data_stream(t_env.from_path("users_directory")).broadcast(USERS)
    prepared = raw.process(Prepare(settings, args.chains), output_type=KEYED_TYPE) \
        .name("parse-validate-mask-geo").uid("prepare")
    if args.chains == "partition":
        keyed, link = prepared, LinkByPartition(settings)
    else:
        t_env.execute_sql(sql.render(
            "ddl/normalize_ticks.sql", ticks_per_second=int(cfg.get("normalize.ticks_per_second")),
            out_of_orderness_s=cfg.get("normalize.out_of_orderness_s")))
        # each tick once to every key group's key (in SQL, so no Python worker of its own)
        keys = ", ".join(f"'{shard.group_key(g, MAX_PARALLELISM)}'" for g in range(MAX_PARALLELISM))
        ticks = t_env.to_append_stream(t_env.sql_query(
            f"SELECT CAST(k AS STRING) AS `key`, CAST('{TICK}' AS STRING) AS `order`,"
            f" CAST('' AS BYTES) AS payload FROM normalize_ticks CROSS JOIN UNNEST(ARRAY[{keys}]) AS t(k)"
        ), KEYED_TYPE)
        keyed, link = prepared.union(ticks), ChainByTenant(settings)
    linked = keyed.key_by(lambda r: r[0], key_type=Types.STRING()).connect(users).process(
        link, output_type=OUT_TYPE)
    finals = [prepared.get_side_output(FINAL)]
    # a slot of its own, so its Python worker is another process than the stateless half's:
    # the two halves run on two cores even at parallelism 1
    linked = linked.name("users-chain-lineage").uid(f"link-{args.chains}").slot_sharing_group("link")
    out = linked.union(*finals)
    t_env.create_temporary_view("normalized", t_env.from_data_stream(out))

    statements = t_env.create_statement_set()
    for kind, topic in (("event", args.events_topic), ("dlq", args.dlq_topic),
                        ("filtered", args.filtered_topic)):
        name = f"sink_{kind}"
        t_env.execute_sql(sql.render(
            "ddl/kafka_bytes_sink.sql", name=name, topic=topic,
            bootstrap_servers=cfg.get("kafka.bootstrap_servers"), kafka_security=common["kafka_security"],
            transactional_id_prefix=f"{args.group_id}-{kind}",
            max_record_bytes=settings["max_record_bytes"],
        ))
        statements.add_insert_sql(
            f"INSERT INTO {name} SELECT `key`, `value` FROM normalized WHERE kind = '{kind}'"
        )
    statements.execute()


if __name__ == "__main__":
    main(sys.argv[1:])
