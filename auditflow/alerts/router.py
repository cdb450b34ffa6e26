"""Kafka layer of alert routing: read audit.alerts, deliver each alert to every matching
destination, remember what was delivered, dead-letter what cannot be, then commit.

Why a restart does not notify twice (README "Alert routing" has the long form):
  * the consumer offset of an alert is committed only after every destination of that alert is
    done (delivered, or dead-lettered), so nothing is skipped;
  * each (alert, destination) that is done is written, before the commit, to the compacted topic
    ``alerts.delivered_topic`` keyed by its idempotency key; a router reads that topic at start and
    skips pairs already done. The offset alone is not enough: an alert with three destinations can
    be stopped after one of them answered, and Slack webhooks have no idempotency of their own;
  * the one window left (a crash between a receiver's 2xx and our write to the delivered topic) is
    covered on the receiver side: every request carries the same ``Idempotency-Key`` header, and
    PagerDuty merges a repeated ``dedup_key`` into the open incident.
"""

from __future__ import annotations

import base64
import json
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import requests
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.common._httpx_compat import httpx  # the registry client's HTTP library
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from auditflow import kafka, registry
from auditflow.alerts import deliver, destinations
from auditflow.config import Config

ROLE = "router"  # auditflow/roles.toml: reads alerts, writes delivered pairs and dead letters
ASSIGN_TIMEOUT_S = 90.0
# with --once, how long without a record before the end offsets are checked directly
END_CHECK_S = 3.0


class RouterError(RuntimeError):
    """The router cannot start or go on; the message says what to do."""


def version() -> str:
    try:
        return metadata.version("auditflow")
    except metadata.PackageNotFoundError:
        return "dev"


@dataclass
class Settings:
    topic: str
    group_id: str
    delivered_topic: str
    dlq_topic: str
    auto_offset_reset: str
    instance_id: str
    policy: destinations.RetryPolicy
    destinations: list[destinations.Destination]

    @classmethod
    def from_config(cls, config: Config, topic: str | None = None,
                    group_id: str | None = None) -> Settings:
        a = config.section("alerts")
        try:
            dests = destinations.parse_destinations(a.get("destinations", {}))
            policy = destinations.retry_policy(a)
        except destinations.DestinationError as exc:
            raise RouterError(str(exc)) from exc
        return cls(topic=topic or a["topic"], group_id=group_id or a["group_id"],
                        delivered_topic=a["delivered_topic"], dlq_topic=a["dlq_topic"],
                        auto_offset_reset=a.get("auto_offset_reset", "earliest"),
                        instance_id=a.get("instance_id") or socket.gethostname(), policy=policy,
                        destinations=dests)


def preflight(cfg: Config, topics: list[str], timeout_s: float = 8) -> None:
    """Fail fast, in one line, when Kafka or the registry is unreachable or a topic is missing."""
    servers = cfg.get("kafka.bootstrap_servers")
    try:
        # librdkafka's own log would repeat every refused connection; the error below says it once
        probe = AdminClient(kafka.client_conf(cfg, ROLE, **{"socket.timeout.ms": int(timeout_s * 1000),
                                                      "log_level": 0}))
        existing = probe.list_topics(timeout=timeout_s).topics
    except KafkaException as exc:
        raise RouterError(f"Kafka at {servers} is not reachable ({exc.args[0].str() if exc.args else exc}); "
                          "start it with `auditflow stack up` or set kafka.bootstrap_servers") from exc
    missing = [t for t in topics if t not in existing]
    if missing:
        raise RouterError(f"topic(s) {', '.join(missing)} do not exist on {servers}; create them with "
                          "`auditflow topics apply`")
    url = cfg.get("registry.url")
    try:
        requests.get(f"{url.rstrip('/')}/subjects", timeout=timeout_s,
                     **registry.requests_kwargs(cfg, "router")).raise_for_status()
    except requests.RequestException as exc:
        raise RouterError(f"schema registry at {url} is not reachable ({type(exc).__name__}); start it "
                          "with `auditflow stack up` or set registry.url") from exc


class DeliveredLog:
    """Idempotency keys of (alert, destination) pairs already done, kept in a compacted topic."""

    def __init__(self, cfg: Config, topic: str, producer: Producer) -> None:
        self.cfg, self.topic, self.producer = cfg, topic, producer
        self.keys: set[str] = set()

    def load(self, timeout_s: float = 30) -> int:
        """Every (alert, destination) pair already delivered: the whole topic, or an error."""
        try:
            for msg in kafka.read_topic(self.cfg, self.topic, idle_s=timeout_s, strict=True, role=ROLE):
                if msg.key() is not None and msg.value() is not None:
                    self.keys.add(msg.key().decode())
        except KafkaException as exc:
            raise RouterError(f"reading {self.topic}: {exc}") from exc
        return len(self.keys)

    def __contains__(self, key: str) -> bool:
        return key in self.keys

    def mark(self, key: str, record: dict[str, Any]) -> None:
        """Write and wait for the broker: only then is the pair done."""
        self.producer.produce(self.topic, json.dumps(record).encode(), key.encode())
        if self.producer.flush(30):
            raise RouterError(f"could not write to {self.topic} within 30s; is Kafka up?")
        self.keys.add(key)


def _registry_outage(exc: Exception) -> bool:
    """A registry that is down or failing (transport error, 5xx), as opposed to a record whose schema
    id it does not know (404) or whose bytes are not an alert."""
    if isinstance(exc, SchemaRegistryError):
        return exc.http_status_code is None or exc.http_status_code >= 500 or exc.http_status_code == 429
    return isinstance(exc, httpx.TransportError | requests.RequestException | ConnectionError | TimeoutError)


@dataclass
class Stats:
    alerts: int = 0
    sent: Counter = field(default_factory=Counter)          # per destination
    already: Counter = field(default_factory=Counter)       # skipped: done by an earlier run
    dead_lettered: Counter = field(default_factory=Counter)
    retries: int = 0
    unmatched: int = 0                                      # alerts no destination wanted
    undecodable: int = 0
    aborted: bool = False
    seconds: float = 0.0

    def lines(self) -> list[str]:
        def per(c: Counter) -> str:
            return f"{sum(c.values())}" + (f" ({', '.join(f'{k} {v}' for k, v in sorted(c.items()))})"
                                           if c else "")
        out = [f"alerts         {self.alerts} in {self.seconds:.1f}s",
               f"delivered      {per(self.sent)}",
               f"already done   {per(self.already)}  (delivered by an earlier run; not sent again)",
               f"dead-lettered  {per(self.dead_lettered)}",
               f"retries        {self.retries}",
               f"no destination {self.unmatched}  (no destination's filter matched)"]
        if self.undecodable:
            out.append(f"undecodable    {self.undecodable}  (dead-lettered with their raw bytes)")
        if self.aborted:
            out.append("stopped before the last alert was done: it is not committed and will be "
                       "routed on the next run")
        return out


class Router:
    def __init__(self, cfg: Config, settings: Settings, say: Callable[[str], None] = print,
                 dry_run: bool = False) -> None:
        self.cfg, self.s, self.say, self.dry_run = cfg, settings, say, dry_run
        self.stats = Stats()
        self._stats_lock = threading.Lock()      # destinations of one alert are served by parallel threads
        self.stopping = threading.Event()
        self.user_agent = f"auditflow/{version()}"
        self.sessions = {d.name: requests.Session() for d in settings.destinations}
        self.producer = Producer(kafka.producer_conf(cfg, ROLE, **{"linger.ms": 0}))
        self.delivered = DeliveredLog(cfg, settings.delivered_topic, self.producer)
        self.deserialize = AvroDeserializer(registry.client(cfg, "router"))

    # ---------------------------------------------------------------- one alert
    def _dead_letter(self, key: str, record: dict[str, Any], headers: list[tuple[str, bytes]]) -> None:
        self.producer.produce(self.s.dlq_topic, json.dumps(record, default=str).encode(), key.encode(),
                              headers=headers)

    def _source(self, msg: Message) -> dict[str, Any]:
        return {"topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset()}

    def _one(self, dest: destinations.Destination, alert: dict[str, Any], msg: Message) -> str:
        """Deliver to one destination; returns a short word for the progress line, or 'aborted'."""
        key = destinations.idempotency_key(alert, dest.name)
        if key in self.delivered:
            with self._stats_lock:
                self.stats.already[dest.name] += 1
            return "already done"
        req = destinations.build_request(dest, alert, self.user_agent)

        def on_retry(attempt: int, reason: str, wait: float) -> None:
            with self._stats_lock:
                self.stats.retries += 1
            self.say(f"  {dest.name}: attempt {attempt} failed ({reason}); retrying in {wait:.1f}s")

        out = deliver.post(self.sessions[dest.name], req, self.s.policy, self.stopping.is_set, on_retry)
        if out.aborted:
            return "aborted"
        now = int(time.time() * 1000)
        marker = {"idempotency_key": key, "alert_id": alert.get("alert_id"), "destination": dest.name,
                  "status": out.status, "attempts": out.attempts, "time": now}
        if out.ok:
            self.delivered.mark(key, {**marker, "outcome": "delivered"})
            with self._stats_lock:
                self.stats.sent[dest.name] += 1
            return f"ok ({out.attempts} attempts)" if out.attempts > 1 else "ok"
        self._dead_letter(key, {
            "alert": alert, "destination": dest.name, "destination_type": dest.kind,
            "url": destinations.redacted_url(dest.url), "status": out.status, "attempts": out.attempts,
            "permanent": out.permanent, "reason": out.reason, "idempotency_key": key,
            "source": self._source(msg), "time": now, "router": {"group_id": self.s.group_id,
                                                                 "version": version()},
        }, [("destination", dest.name.encode()), ("status", str(out.status).encode())])
        self.delivered.mark(key, {**marker, "outcome": "dead_lettered"})   # flushes the DLQ record too
        with self._stats_lock:
            self.stats.dead_lettered[dest.name] += 1
        return f"DEAD-LETTERED ({out.reason})"

    def handle(self, msg: Message) -> bool:
        """Route one record; True when it is done and its offset may be committed."""
        try:
            raw = self.deserialize(msg.value(), SerializationContext(msg.topic(), MessageField.VALUE))
        except Exception as exc:  # a record we cannot read must not block the stream: dead-letter it
            if _registry_outage(exc):
                # not the record's fault: stop uncommitted rather than dead-letter good alerts
                raise RouterError(
                    f"schema registry at {self.cfg.get('registry.url')} failed while decoding "
                    f"{msg.topic()}[{msg.partition()}]@{msg.offset()} ({type(exc).__name__}: {exc}); that "
                    "alert is not committed and is routed on the next run") from exc
            where = f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"
            key = f"undecodable:{where}"
            if key in self.delivered:          # dead-lettered by a run that stopped before its commit
                return True
            self.stats.undecodable += 1
            self.say(f"[red]undecodable[/red] {where}: {exc}")
            self._dead_letter(key, {
                "alert": None, "raw_base64": base64.b64encode(msg.value() or b"").decode(),
                "destination": None, "status": None, "attempts": 0, "permanent": True,
                "reason": f"cannot decode as a Confluent-wire Avro alert: {exc}",
                "source": self._source(msg), "time": int(time.time() * 1000)},
                [("destination", b"-")])
            self.delivered.mark(key, {"idempotency_key": key, "outcome": "dead_lettered",
                                      "time": int(time.time() * 1000)})
            return True
        if raw is None:
            return True
        alert = destinations.normalize_alert(raw)
        self.stats.alerts += 1
        dests = [d for d in self.s.destinations if destinations.matches(d, alert)]
        label = (f"{alert.get('rule_id')} {alert.get('severity')} {alert.get('tenant_id')} "
                 f"{destinations.entity_text(alert)}")
        if not dests:
            self.stats.unmatched += 1
            self.say(f"{label} → no matching destination")
            return True
        if self.dry_run:
            for d in dests:
                req = destinations.build_request(d, alert, self.user_agent)
                self.say(f"{label} → {d.name} ({d.kind}) {destinations.redacted_url(d.url)}\n"
                         + json.dumps(req.body, indent=2, default=str))
            return False
        with ThreadPoolExecutor(max_workers=len(dests)) as pool:
            results = list(pool.map(lambda d: self._one(d, alert, msg), dests))
        self.say(f"{label} → " + ", ".join(f"{d.name} {r}" for d, r in zip(dests, results, strict=True)))
        return "aborted" not in results

    # ---------------------------------------------------------------- the loop
    def run(self, once: bool = False, max_alerts: int | None = None, idle_timeout_s: float | None = None,
            timeout_s: float | None = None, commit: bool = True) -> Stats:
        t0 = time.monotonic()
        n = self.delivered.load()
        self.say(f"{n} delivered or dead-lettered (alert, destination) pairs known from "
                 f"{self.s.delivered_topic}")
        consumer = Consumer(kafka.client_conf(self.cfg, ROLE, **{
            "group.id": self.s.group_id, "enable.auto.commit": False,
            "isolation.level": "read_committed", "auto.offset.reset": self.s.auto_offset_reset,
            "enable.partition.eof": True,
            # static membership: a router restarted after a crash takes its partitions back at once
            # instead of waiting out the dead member's session timeout
            "group.instance.id": self.s.instance_id,
        }))
        assigned: set[int] = set()
        at_end: set[int] = set()

        def on_assign(_c: Consumer, parts: list[TopicPartition]) -> None:
            nonlocal last_progress
            assigned.update(p.partition for p in parts)
            last_progress = time.monotonic()     # idle time counts from the assignment

        def on_revoke(_c: Consumer, parts: list[TopicPartition]) -> None:
            assigned.difference_update(p.partition for p in parts)

        last_progress = last_end_check = time.monotonic()
        consumer.subscribe([self.s.topic], on_assign=on_assign, on_revoke=on_revoke)
        handled = 0
        try:
            while not self.stopping.is_set():
                if timeout_s is not None and time.monotonic() - t0 > timeout_s:
                    self.say(f"--timeout {timeout_s:.0f}s reached")
                    break
                if not assigned and time.monotonic() - t0 > ASSIGN_TIMEOUT_S:
                    raise RouterError(
                        f"no partition of {self.s.topic} was assigned to this router within "
                        f"{ASSIGN_TIMEOUT_S:.0f}s; is another router of group {self.s.group_id} "
                        "holding them?")
                idle = time.monotonic() - last_progress
                if assigned and idle_timeout_s is not None and idle > idle_timeout_s:
                    self.say(f"no new alert for {idle_timeout_s:.0f}s; stopping")
                    break
                if once and assigned and not assigned <= at_end and idle > END_CHECK_S \
                        and time.monotonic() - last_end_check > END_CHECK_S:
                    # EOF events are the quick way to see the end; this is the sure one
                    at_end |= kafka.reached_end(consumer, self.s.topic, assigned - at_end,
                                                self.s.auto_offset_reset)
                    last_end_check = time.monotonic()
                if once and assigned and assigned <= at_end:
                    self.say(f"caught up with {self.s.topic}")
                    break
                msg = consumer.poll(0.5)
                if msg is None:
                    continue
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        at_end.add(msg.partition())
                        continue
                    if msg.error().fatal() or msg.error().code() in (
                            KafkaError._ALL_BROKERS_DOWN, KafkaError.UNKNOWN_TOPIC_OR_PART):
                        raise RouterError(f"consuming {self.s.topic}: {msg.error().str()}")
                    self.say(f"[yellow]kafka[/yellow] {msg.error().str()}")
                    continue
                at_end.discard(msg.partition())
                last_progress = time.monotonic()
                if not self.handle(msg):
                    if self.dry_run:
                        handled += 1
                        if max_alerts is not None and handled >= max_alerts:
                            break
                        continue
                    self.stats.aborted = True
                    break
                if commit:
                    consumer.commit(message=msg, asynchronous=False)
                handled += 1
                if max_alerts is not None and handled >= max_alerts:
                    self.say(f"--max-alerts {max_alerts} reached")
                    break
        finally:
            self.producer.flush(30)
            consumer.close()
            self.stats.seconds = time.monotonic() - t0
        return self.stats

    def install_signal_handlers(self) -> None:
        """Ctrl-C / SIGTERM: finish or abort the current alert (uncommitted), then summarise."""
        def _stop(_signum: int, _frame: Any) -> None:
            if self.stopping.is_set():
                raise KeyboardInterrupt
            self.say("stopping: finishing the current alert (Ctrl-C again to quit at once)")
            self.stopping.set()
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
