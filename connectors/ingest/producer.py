"""Produce framed records to the tenant's ``audit.raw.<tenant>.<format>`` and rejects to ``audit.dlq``.

The topic is what makes a record the tenant's (only its principal may write there, and the
normalize job takes the tenant from the topic name); the key only keeps a tenant's records
together. Every record: key = tenant, spread over all partitions of the raw topic in runs of ``SPREAD``
records (the normalize job chains each (tenant, partition) separately, schemas/CHAIN.md version
2, so a tenant's volume is linked by as many workers as the topic has partitions), headers
``source`` (the format), ``file`` and ``line`` (where the record starts), producer settings from
the caller (acks=all, idempotence, zstd). A reject is reported with file:line and written to the
dead-letter topic as an Avro ``DeadLetter`` (schemas/dead_letter.avsc, Confluent wire format,
subject ``<dlq-topic>-value``) carrying the raw bytes and the reason.

No record is larger than ``Clients.max_bytes`` (``limits.max_bytes``): a larger one is a reject
(``ingest.oversize``) whose dead letter keeps only its first 64 kB (framing.KEEP_BYTES), so the
dead letter fits in a request too; the producer's ``message.max.bytes`` is set to
``max_bytes + MESSAGE_HEADROOM`` so that a record at the limit, with its key, headers and batch
framing, is accepted (the broker's and the topics' limits must allow as much).

The Kafka settings and the registry come from the caller as :class:`Clients`, so this package
imports nothing from auditflow (``auditflow.ingest.clients`` builds them from the config).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.serialization import MessageField, SerializationContext

from connectors.ingest.framing import (
    DEFAULT_MAX_BYTES,
    KEEP_BYTES,
    OVERSIZE,
    SOURCE_SYSTEM,
    Overlong,
    Record,
    Reject,
    oversize,
)

DLQ_TOPIC = "audit.dlq"
POLL_EVERY = 10_000
SPREAD = 1_000  # records in a row to one partition: large batches, every partition used
MAX_ERRORS_KEPT = 50
# room above limits.max_bytes in a produce request: key, headers (source, file, line, a path of up
# to a few kB), the record and batch framing of Kafka's protocol (under 200 bytes)
MESSAGE_HEADROOM = 64 << 10


def message_max_bytes(max_bytes: int) -> int:
    """The librdkafka ``message.max.bytes`` for records up to ``max_bytes``."""
    return max_bytes + MESSAGE_HEADROOM


class IngestError(RuntimeError):
    """Ingest cannot start or finish; the message says what to do."""


Serializer = Callable[[dict, SerializationContext], bytes]


@dataclass(frozen=True)
class Clients:
    """The Kafka and registry side of an ingest run, as the caller configured it."""

    # librdkafka settings of the producer (bootstrap.servers, acks, idempotence, compression, ...)
    producer_conf: Mapping[str, Any]
    # makes the Avro DeadLetter serializer (subject <dlq-topic>-value); called at the first reject
    dead_letter_serializer: Callable[[], Serializer]
    # where Kafka and the registry are, as messages name them
    bootstrap_servers: str
    registry_url: str
    # limits.max_bytes: the largest record; larger input is a reject (ingest.oversize)
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass
class Summary:
    records: int = 0
    value_bytes: int = 0
    input_bytes: int = 0
    rejects: int = 0
    dead_lettered: int = 0
    failed: int = 0
    blank_lines: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


def format_summary(s: Summary) -> str:
    """One human line per figure, e.g. for the end of `auditflow ingest`."""
    mb = s.value_bytes / 1e6
    lines = [
        f"records      {s.records:,}",
        f"bytes        {s.value_bytes:,} ({mb:.1f} MB of record values; {s.input_bytes:,} read)",
        f"rate         {s.rate:,.0f} records/s, {mb / s.seconds if s.seconds else 0:.1f} MB/s "
        f"over {s.seconds:.2f}s",
        f"rejects      {s.rejects:,}" + (f" ({s.dead_lettered:,} dead-lettered)" if s.rejects else ""),
    ]
    if s.blank_lines:
        lines.append(f"blank lines  {s.blank_lines:,} (not records)")
    if s.failed:
        lines.append(f"FAILED       {s.failed:,} records were not acknowledged by Kafka")
    return "\n".join(lines)


class RawProducer:
    """Sends records and rejects of one ingest run; :meth:`close` flushes and returns the figures."""

    def __init__(self, clients: Clients, fmt: str, tenant: str, topic: str,
                 dlq_topic: str | None = DLQ_TOPIC,
                 on_reject: Callable[[str], None] = lambda _msg: None,
                 **producer_overrides: Any) -> None:
        self.clients, self.fmt, self.tenant = clients, fmt, tenant
        self.topic, self.dlq_topic = topic, dlq_topic
        self.on_reject = on_reject
        self.summary = Summary()
        self.max_bytes = clients.max_bytes
        conf = {
            **clients.producer_conf,
            "message.max.bytes": max(int(clients.producer_conf.get("message.max.bytes", 0)),
                                     message_max_bytes(self.max_bytes)),
            "linger.ms": 20, "batch.size": 1_000_000, "queue.buffering.max.messages": 500_000,
            # a callback only for failures: the hot path pays nothing per delivered record
            "delivery.report.only.error": True, "on_delivery": self._delivery_failed,
            **producer_overrides,
        }
        self._producer = Producer(conf)
        self._key = tenant.encode()
        self._partitions = self._partition_count(topic)
        # where this tenant's first run goes: tenants of small files do not all start at 0
        self._first_partition = zlib.crc32(self._key) % self._partitions
        self._source = fmt.encode()
        self._file = b"-"
        self._dlq_serializer: Serializer | None = None
        self._since_poll = 0
        self._t0 = time.monotonic()

    def set_file(self, label: str) -> None:
        self._file = label.encode()

    def _delivery_failed(self, err: Any, msg: Any) -> None:
        if err is None:
            return
        self.summary.failed += 1
        if len(self.summary.errors) < MAX_ERRORS_KEPT:
            h = dict(msg.headers() or [])
            where = f"{h.get('file', b'?').decode()}:{h.get('line', b'?').decode()}"
            self.summary.errors.append(f"{where}: not delivered to {msg.topic()}: {err.str()}")

    def _partition_count(self, topic: str) -> int:
        meta = self._producer.list_topics(topic, timeout=10).topics.get(topic)
        return max(1, len(meta.partitions) if meta is not None and meta.error is None else 1)

    def _partition(self, n: int) -> int:
        return (self._first_partition + n // SPREAD) % self._partitions

    def _produce(self, topic: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        partition = self._partition(self.summary.records) if topic == self.topic else -1
        while True:
            try:
                self._producer.produce(topic, value, self._key, headers=headers, partition=partition)
                break
            except BufferError:
                self._producer.poll(0.05)     # local queue full: let deliveries drain
        self._since_poll += 1
        if self._since_poll >= POLL_EVERY:
            self._producer.poll(0)
            self._since_poll = 0

    def send(self, line: int, value: bytes) -> None:
        if len(value) > self.max_bytes:
            self.reject(oversize(line, value, len(value), self.max_bytes))
            return
        self._produce(self.topic, value,
                      [("source", self._source), ("file", self._file), ("line", b"%d" % line)])
        self.summary.records += 1
        self.summary.value_bytes += len(value)

    def send_lines(self, stream: Iterable[bytes | Overlong], progress: Callable[[], None],
                   every: int = POLL_EVERY) -> tuple[int, int, int]:
        """The hot path for one-line-one-record input: (lines, bytes read, blank lines).
        Same records and headers as :meth:`send`, with the per-record work inlined; a line over
        ``max_bytes`` (or an :class:`Overlong` from the reader) is a reject."""
        produce, poll, topic, key = self._producer.produce, self._producer.poll, self.topic, self._key
        max_bytes = self.max_bytes
        source, file = ("source", self._source), ("file", self._file)
        n = read = blank = records = value_bytes = 0
        done = self.summary.records
        partition = self._partition(done)
        for n, line in enumerate(stream, 1):
            if type(line) is not bytes:
                read += line.size + 1
                self.reject(oversize(n, line.head, line.size, max_bytes, "line"))
                continue
            read += len(line)
            value = line.rstrip(b"\r\n")
            if not value or value.isspace():
                blank += 1
                continue
            if len(value) > max_bytes:
                self.reject(oversize(n, value, len(value), max_bytes, "line"))
                continue
            headers = [source, file, ("line", b"%d" % n)]
            while True:
                try:
                    produce(topic, value, key, headers=headers, partition=partition)
                    break
                except BufferError:
                    poll(0.05)
            records += 1
            if (done + records) % SPREAD == 0:
                partition = self._partition(done + records)
            value_bytes += len(value)
            if n % every == 0:
                poll(0)
                progress()
        self.summary.records += records
        self.summary.value_bytes += value_bytes
        return n, read, blank

    def emit(self, item: Record | Reject) -> None:
        if isinstance(item, Record):
            self.send(item.line, item.value)
        else:
            self.reject(item)

    def reject(self, item: Reject) -> None:
        where = f"{self._file.decode()}:{item.line}"
        self.summary.rejects += 1
        self.on_reject(f"{where}: {item.reason}")
        if self.dlq_topic is None:
            return
        if len(item.raw) > self.max_bytes:   # framers keep less; a guard for callers that do not
            item = Reject(item.line, item.raw[:KEEP_BYTES],
                          f"{item.reason} (the dead letter keeps the first {KEEP_BYTES:,} of "
                          f"{len(item.raw):,} bytes)", item.error_class or OVERSIZE, item.lines)
        value = self._dead_letter(item, where)
        self._produce(self.dlq_topic, value, [
            ("source", self._source), ("file", self._file), ("line", b"%d" % item.line),
            ("target_topic", self.topic.encode()),
        ])
        self.summary.dead_lettered += 1

    def _dead_letter(self, item: Reject, where: str) -> bytes:
        if self._dlq_serializer is None:
            self._dlq_serializer = self.clients.dead_letter_serializer()
        record = {
            "source": SOURCE_SYSTEM[self.fmt], "raw": item.raw, "error_class": item.error_class,
            "error_message": f"{where}: {item.reason}", "stage": "frame",
            "raw_topic": None, "raw_partition": None, "raw_offset": None,
            "tenant_id": self.tenant, "time": int(time.time() * 1000), "job_name": "ingest",
            "job_version": _version(),
        }
        try:
            return self._dlq_serializer(record, SerializationContext(self.dlq_topic, MessageField.VALUE))
        except Exception as exc:  # registry down or refusing the schema: say so, do not drop
            raise IngestError(
                f"{where}: could not dead-letter a reject to {self.dlq_topic}: the registry at "
                f"{self.clients.registry_url} failed ({exc}); fix the registry or rerun with "
                "--no-dlq to only report rejects"
            ) from exc

    def poll(self) -> None:
        self._producer.poll(0)

    def close(self, timeout_s: float = 60) -> Summary:
        left = self._producer.flush(timeout_s)
        if left:
            self.summary.failed += left
            self.summary.errors.append(
                f"{left} records still unacknowledged after {timeout_s:.0f}s; is Kafka at "
                f"{self.clients.bootstrap_servers} up?")
        self.summary.seconds = time.monotonic() - self._t0
        return self.summary


def _version() -> str | None:
    try:
        return metadata.version("auditflow")
    except metadata.PackageNotFoundError:
        return None
