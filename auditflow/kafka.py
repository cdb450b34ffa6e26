"""Thin layer over confluent-kafka: client settings from the config, and declarative topics."""

from __future__ import annotations

import time
import tomllib
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from auditflow import paths
from auditflow.config import Config

DEFAULT_TOPICS_FILE = paths.TOPICS_FILE


def client_conf(cfg: Config, **extra: Any) -> dict[str, Any]:
    kafka = cfg.section("kafka")
    return {"bootstrap.servers": kafka["bootstrap_servers"], **kafka.get("client", {}), **extra}


def producer_conf(cfg: Config, **extra: Any) -> dict[str, Any]:
    """Producers never lose or duplicate on retry: acks=all plus idempotence; requests as large
    as the largest record the topics accept (kafka.max_record_bytes)."""
    return client_conf(
        cfg, **{"acks": "all", "enable.idempotence": True, "compression.type": "zstd",
                "message.max.bytes": int(cfg.get("kafka.max_record_bytes")), **extra}
    )


def admin(cfg: Config, timeout_s: float = 10) -> AdminClient:
    return AdminClient(client_conf(cfg, **{"socket.timeout.ms": int(timeout_s * 1000)}))


def reachable(cfg: Config, timeout_s: float = 3) -> bool:
    try:
        admin(cfg, timeout_s).list_topics(timeout=timeout_s)
        return True
    except KafkaException:
        return False


@dataclass
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


def load_topics(path: Path | None = None) -> list[TopicSpec]:
    with (path or DEFAULT_TOPICS_FILE).open("rb") as fh:
        data = tomllib.load(fh)
    defaults = data.get("defaults", {})
    specs = []
    for topic in data.get("topic", []):
        specs.append(TopicSpec(
            name=topic["name"],
            partitions=int(topic.get("partitions", defaults.get("partitions", 1))),
            replication_factor=int(
                topic.get("replication_factor", defaults.get("replication_factor", 1))
            ),
            config={**defaults.get("config", {}), **topic.get("config", {})},
        ))
    return specs


def apply_topics(cfg: Config, specs: list[TopicSpec], timeout_s: float = 30) -> list[str]:
    """Create missing topics, grow partitions, set configs. Returns what changed, in words."""
    client = admin(cfg)
    existing = client.list_topics(timeout=timeout_s).topics
    # one record size limit for every topic unless a topic sets its own
    limit = {"max.message.bytes": str(cfg.get("kafka.max_record_bytes"))}
    specs = [replace(s, config={**limit, **s.config}) for s in specs]
    changes: list[str] = []
    new = [
        NewTopic(s.name, s.partitions, s.replication_factor, config=s.config)
        for s in specs if s.name not in existing
    ]
    for name, fut in (client.create_topics(new, request_timeout=timeout_s) if new else {}).items():
        fut.result()
        changes.append(f"created {name}")
    grow = [
        NewPartitions(s.name, s.partitions) for s in specs
        if s.name in existing and len(existing[s.name].partitions) < s.partitions
    ]
    for name, fut in (client.create_partitions(grow) if grow else {}).items():
        fut.result()
        changes.append(f"grew {name}")
    resources = [
        ConfigResource(
            ConfigResource.Type.TOPIC, s.name,
            incremental_configs=[
                ConfigEntry(k, str(v), incremental_operation=AlterConfigOpType.SET)
                for k, v in s.config.items()
            ],
        )
        for s in specs if s.name in existing
    ]
    for res, fut in (client.incremental_alter_configs(resources) if resources else {}).items():
        fut.result()
        changes.append(f"configured {res.name}")
    return changes


class TopicMissing(KafkaException):
    """The topic does not exist (yet)."""


def read_spans(consumer: Consumer, topic: str, last: int | None = None) -> dict[int, tuple[int, int]]:
    """Per partition of `topic`, where a read of it starts (the beginning, or `last` offsets
    before the end) and the end it must reach. Raises if the topic does not exist."""
    meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
    if meta is None or meta.error is not None or not meta.partitions:
        raise TopicMissing(f"topic {topic!r} does not exist; create it with `auditflow topics apply`")
    spans = {}
    for p in meta.partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        spans[p] = (low if last is None else max(low, high - last), high)
    return spans


def drop_caught_up(consumer: Consumer, topic: str, ends: dict[int, int]) -> None:
    """Remove from `ends` the partitions whose position has reached their end. The position, not
    the last record's offset: it also steps over transaction markers, which are never delivered."""
    for tp in consumer.position([TopicPartition(topic, p) for p in list(ends)]):
        if tp.offset >= ends[tp.partition]:
            del ends[tp.partition]


def reached_end(consumer: Consumer, topic: str, partitions: set[int], reset: str) -> set[int]:
    """Those of a subscribed consumer's `partitions` whose next read starts at or past the
    partition's current end: from its position once it has read something, else from the
    group's committed offset, else from where auto.offset.reset (`reset`) starts. A check that
    does not rely on partition-EOF events arriving."""
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    position = {tp.partition: tp.offset for tp in consumer.position(tps)}
    committed = {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=10)}
    done = set()
    for p in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        start = low if reset in ("earliest", "smallest", "beginning") else high
        nxt = position[p] if position[p] >= 0 else committed[p] if committed[p] >= 0 else start
        if nxt >= high:
            done.add(p)
    return done


def reader(cfg: Config, group_id: str | None = None) -> Consumer:
    """A read_committed consumer that commits nothing by itself, in a throwaway group unless
    `group_id` names one (whose committed offsets the caller commits)."""
    return Consumer(client_conf(cfg, **{
        "group.id": group_id or f"auditflow-reader-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
        "isolation.level": "read_committed", "auto.offset.reset": "earliest",
        "enable.partition.eof": False}))


def read_topic(cfg: Config, topic: str, idle_s: float = 5.0, say=None, last: int | None = None, *,
               strict: bool = False, follow: bool = False, on_end: Callable[[], None] | None = None,
               stop: Callable[[], bool] = lambda: False, timeout_s: float | None = None,
               ) -> Iterator[Message]:
    """Every committed record of `topic` from the beginning (or the `last` offsets of each
    partition) to its current end, then stop; with `follow`, go on with new records until
    `stop()` (or `timeout_s`). `on_end()` is called once the end is reached.

    read_committed, so aborted transactions never show, and the end of a partition is its last
    stable offset (a transaction still open is not waited for): a partition is done when the
    consumer's position reaches it, which also steps over transaction markers. A partition that
    makes no progress towards its end for `idle_s` is reported through `say` and not waited on,
    or, `strict`, raises: a caller that must have every record (the router's delivered log)."""
    consumer = reader(cfg)
    try:
        spans = read_spans(consumer, topic, last)
        ends = {p: high for p, (start, high) in spans.items() if high > start}
        consumer.assign([TopicPartition(topic, p, start) for p, (start, _) in spans.items()])
        t0 = last_progress = time.monotonic()
        reading_to_end = True
        while not stop() and (timeout_s is None or time.monotonic() - t0 <= timeout_s):
            if reading_to_end:
                drop_caught_up(consumer, topic, ends)
                if ends and time.monotonic() - last_progress > idle_s:
                    stalled = f"{topic}: partitions {sorted(ends)} stop short of their end " \
                              f"(no progress for {idle_s:.0f}s)"
                    if strict:
                        raise KafkaException(f"could not read {stalled}")
                    if say:
                        say(f"{stalled}; read what was there")
                    ends.clear()
                if not ends:
                    reading_to_end = False
                    if on_end:
                        on_end()
                    if not follow:
                        break
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().fatal() or not follow:
                    raise KafkaException(msg.error())
                continue  # librdkafka recovers from the others by itself while following
            last_progress = time.monotonic()
            yield msg
    finally:
        consumer.close()


def key_counts(cfg: Config, topic: str, timeout_s: float = 10) -> Counter:
    """Records per key on `topic` (read_committed, from the beginning to now); none if it is missing."""
    counts: Counter = Counter()
    try:
        for msg in read_topic(cfg, topic, idle_s=timeout_s):
            counts[(msg.key() or b"?").decode()] += 1
    except TopicMissing:
        pass
    return counts


def event_producer(cfg: Config, topic: str, schema: str = "audit_event", role: str = "normalize"):
    """(produce(record dict, key bytes), flush() -> undelivered) of `schema` records (AuditEvent by
    default; "alert" for Alert) to `topic`, serialized by the registry's AvroSerializer
    (schemas/<schema>.avsc)."""
    from confluent_kafka import Producer
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    from auditflow import registry

    serializer = AvroSerializer(registry.client(cfg, role), registry.load_schema(schema).schema_str)
    prod = Producer(producer_conf(cfg, **{"linger.ms": 5}))
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
