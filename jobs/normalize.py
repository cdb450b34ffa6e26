"""Normalize job: raw audit records -> canonical, masked, enriched, hash-chained events.

    flink run -py jobs/normalize.py [--from-config] [--raw-topics audit.raw.syslog,...]

Reads every `audit.raw.<source>` topic as bytes with its Kafka coordinates, and per record:
parse -> validate -> filter policy -> mask PII -> geo enrichment (stateless, parallel), then,
keyed by chain (tenant, raw topic, raw partition: schemas/CHAIN.md version 2): user enrichment
from the `audit.users` directory (broadcast state, profile valid at the event's time) ->
lineage -> SHA-256 chain link (each chain's head in checkpointed keyed state). Output goes
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

from confluent_kafka.schema_registry import Schema
from pyflink.common import Configuration, Row, Types
from pyflink.datastream import OutputTag, StreamExecutionEnvironment
from pyflink.datastream.functions import KeyedBroadcastProcessFunction, ProcessFunction, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor
from pyflink.table import StreamTableEnvironment

from auditflow import config, flink, registry, sql
from udfs import chain, normalize, shard, sources

JOB_NAME = normalize.JOB_NAME
OUT_TYPE = Types.ROW_NAMED(
    ["kind", "key", "value"],
    [Types.STRING(), Types.PRIMITIVE_ARRAY(Types.BYTE()), Types.PRIMITIVE_ARRAY(Types.BYTE())],
)
USERS = MapStateDescriptor("users", Types.STRING(), Types.STRING())
FINAL = OutputTag("final", OUT_TYPE)  # dead letters and filter notes, encoded by Prepare


class Prepare(ProcessFunction):
    """Stateless half: parse, validate, filter, mask, geo. Never raises on bad input.

    Events go on keyed by their chain (`udfs.chain.chain_id_of`: tenant, raw topic, raw
    partition), through `udfs.shard.routing_key` so that a tenant's partitions are linked by
    different workers; dead letters and filter notes are final here, encoded and sent to their
    sinks as a side output, so only events cross to the keyed half."""

    def __init__(self, settings: dict):
        self.settings = settings
        self.normalizer: normalize.Normalizer | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.normalizer = normalize.Normalizer(self.settings)
        self.max_parallelism = runtime_context.get_max_number_of_parallel_subtasks()

    def process_element(self, row: Row, ctx: ProcessFunction.Context):
        record = normalize.raw_record(
            topic=row[2], partition=row[3], offset=row[4], key=row[0], value=row[1],
            timestamp_ms=row[5].to_epoch_milli(), headers=row[6] or {},
        )
        kind, tenant, payload = self.normalizer.prepare(record)
        if kind == "event":
            slot = shard.slot_of(tenant, record.topic, record.partition)
            # pickled here: PyFlink's own pickling of a Python object (cloudpickle) costs several
            # times more for a nested dict
            yield (shard.routing_key(chain.chain_id_of(payload), slot, self.max_parallelism),
                   pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
        else:
            yield FINAL, Row(kind=kind, key=tenant.encode(), value=self.normalizer.encode(kind, payload))


class Link(KeyedBroadcastProcessFunction):
    """Keyed by chain: user enrichment, lineage and the chain link, as the events arrive.

    A chain is one tenant's events from one raw partition (schemas/CHAIN.md, version 2), so
    its order is the partition's offset order: a function of the raw records alone, the same
    in a replay, with nothing to buffer or sort. Different partitions are different keys, so
    one tenant's events are linked by as many parallel workers as its raw topics have
    partitions. The only state is each chain's head (sequence and hash), checkpointed."""

    def __init__(self, settings: dict):
        self.settings = settings

    def open(self, runtime_context: RuntimeContext) -> None:
        self.normalizer = normalize.Normalizer(self.settings)
        self.head = runtime_context.get_state(ValueStateDescriptor("head", Types.STRING()))
        self.job_id = self.settings["flink_job_id"]

    def process_element(self, value: tuple, ctx: KeyedBroadcastProcessFunction.ReadOnlyContext):
        event = pickle.loads(value[1])
        users = ctx.get_broadcast_state(USERS)
        head = self.head.value()
        prev = None
        if head:
            seq, _, digest = head.partition(" ")
            prev = {"chain_id": chain.chain_id_of(event), "sequence": int(seq), "event_hash": digest}
        linked, state = self.normalizer.finish(
            event,
            user_versions=lambda k: users.get(k) if k and users.contains(k) else None,
            chain_state=prev,
            watermark_ms=ctx.timer_service().current_watermark(),
            flink_job_id=self.job_id,
        )
        self.head.update(f"{state['sequence']} {state['event_hash']}")
        yield Row(kind="event", key=linked["tenant_id"].encode(),
                  value=self.normalizer.encode("event", linked))

    def process_broadcast_element(self, value: Row, ctx: KeyedBroadcastProcessFunction.Context):
        state = ctx.get_broadcast_state(USERS)
        for key, record in normalize.directory_entries(value["key"], value["value"]).items():
            if record is None:  # tombstone: the user was removed from the directory
                state.remove(key)
            else:
                state.put(key, record)


def load_schema(name: str) -> dict:
    """A schema from schemas/ as parsed JSON, e.g. load_schema('audit_event')."""
    return json.loads(registry.load_schema(name).schema_str)


def job_settings(cfg: config.Config, events_topic: str, dlq_topic: str) -> dict[str, Any]:
    """Picklable settings for the workers (udfs.normalize.Normalizer): registers the schemas
    once, on the client, and hands the workers each schema with the id it was registered as."""
    client = registry.client(cfg)
    schemas = {"event": load_schema("audit_event"), "dlq": load_schema("dead_letter")}
    ids = {
        kind: client.register_schema(f"{topic}-value", Schema(json.dumps(schemas[kind]), "AVRO"))
        for kind, topic in (("event", events_topic), ("dlq", dlq_topic))
    }
    return {
        "schema_ids": ids,
        "schemas": schemas,
        "normalize": dict(cfg.section("normalize")),
        "limits": dict(cfg.values.get("limits", {})),
        "filter": dict(cfg.values.get("filter", {})),
        "mask": dict(cfg.values.get("mask", {})),
        "job_version": normalize.JOB_VERSION,
    }


def job_id() -> str:
    """The job id the Flink configuration pins (the Kubernetes operator does, in application
    mode, to track and recover the job), else a new one."""
    from pyflink.java_gateway import get_gateway
    conf = get_gateway().jvm.org.apache.flink.configuration.GlobalConfiguration.loadConfiguration()
    return conf.toMap().get("$internal.pipeline.job-id") or uuid.uuid4().hex


def options(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--raw-topics", default=",".join(sources.RAW_TOPICS),
                   help="comma-separated raw topics (default: every audit.raw.<source>)")
    p.add_argument("--events-topic", default="audit.events")
    p.add_argument("--dlq-topic", default="audit.dlq")
    p.add_argument("--filtered-topic", default="audit.filtered")
    p.add_argument("--users-topic", default="audit.users")
    p.add_argument("--group-id", default=JOB_NAME)
    p.add_argument("--profile", default=None, help="auditflow config profile")
    return p.parse_args(argv)


def main(argv: list[str]) -> None:
    args = options(argv)
    cfg = config.load(args.profile)
    settings = job_settings(cfg, args.events_topic, args.dlq_topic)
    # the job id is known here so each event's lineage can name the job that linked it
    settings["flink_job_id"] = job_id()
    flink_conf = Configuration()
    flink_conf.set_string("$internal.pipeline.job-id", settings["flink_job_id"])
    # keep the last checkpoint when the job is cancelled, so it can be restarted from it (-s)
    flink_conf.set_string("execution.checkpointing.externalized-checkpoint-retention",
                          "RETAIN_ON_CANCELLATION")

    env = StreamExecutionEnvironment.get_execution_environment(flink_conf)
    env.enable_checkpointing(int(cfg.get("flink.checkpoint_interval_ms")))
    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set("pipeline.name", flink.pipeline_job_name("normalize", args.events_topic))
    idle = f"{cfg.get('normalize.idle_timeout_s')} s"
    common = {"bootstrap_servers": cfg.get("kafka.bootstrap_servers"), "group_id": args.group_id}
    t_env.execute_sql(sql.render(
        "ddl/normalize_raw_source.sql", topics=args.raw_topics.replace(",", ";"),
        out_of_orderness_s=cfg.get("normalize.out_of_orderness_s"), idle_timeout=idle, **common,
    ))
    t_env.execute_sql(sql.render(
        "ddl/normalize_users_source.sql", topic=args.users_topic, idle_timeout=idle, **common))

    prepared = t_env.to_data_stream(t_env.from_path("raw_records")).process(
        Prepare(settings), output_type=Types.TUPLE([Types.STRING(), Types.PRIMITIVE_ARRAY(Types.BYTE())]),
    ).name("parse-validate-mask-geo")
    users = t_env.to_data_stream(t_env.from_path("users_directory")).broadcast(USERS)
    linked = (
        prepared.key_by(lambda r: r[0], key_type=Types.STRING())
        .connect(users)
        .process(Link(settings), output_type=OUT_TYPE)
        .name("users-chain-lineage")
        # a slot of its own, so its Python worker is another process than Prepare's: the two
        # halves run on two cores even at parallelism 1
        .slot_sharing_group("link")
    )
    out = linked.union(prepared.get_side_output(FINAL))
    t_env.create_temporary_view("normalized", t_env.from_data_stream(out))

    statements = t_env.create_statement_set()
    for kind, topic in (("event", args.events_topic), ("dlq", args.dlq_topic),
                        ("filtered", args.filtered_topic)):
        name = f"sink_{kind}"
        t_env.execute_sql(sql.render(
            "ddl/kafka_bytes_sink.sql", name=name, topic=topic,
            bootstrap_servers=cfg.get("kafka.bootstrap_servers"),
            transactional_id_prefix=f"{args.group_id}-{kind}",
        ))
        statements.add_insert_sql(
            f"INSERT INTO {name} SELECT `key`, `value` FROM normalized WHERE kind = '{kind}'"
        )
    statements.execute()


if __name__ == "__main__":
    main(sys.argv[1:])
