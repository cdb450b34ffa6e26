"""`auditflow alerts tail`: read audit.alerts (read_committed) and show alerts readably."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from auditflow import kafka, registry
from auditflow.alerts import route
from auditflow.config import Config

SEVERITY_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow",
                  "low": "cyan", "informational": "dim"}
COLUMNS = ("time", "severity", "rule", "tenant", "entity", "count", "window", "evidence")


def row(alert: Mapping[str, Any]) -> tuple[str, ...]:
    """One alert as the tail's columns, with rich markup for the severity."""
    sev = str(alert.get("severity", "?"))
    created = datetime.fromtimestamp(alert["created_at"] / 1000, UTC)
    return (
        f"{created:%Y-%m-%d %H:%M:%S}",
        f"[{SEVERITY_STYLE.get(sev, 'default')}]{sev}[/]",
        f"{alert.get('rule_id')} [dim]{alert.get('title')}[/dim]",
        str(alert.get("tenant_id")),
        route.entity_text(alert),
        str(alert.get("event_count")),
        route.window_text(alert["window_start"], alert["window_end"]),
        str(len(alert.get("evidence") or [])),
    )


def line(alert: Mapping[str, Any]) -> str:
    t, sev, rule, tenant, entity, count, window, evidence = row(alert)
    return (f"{t}  {sev}  {rule}  tenant={tenant}  {entity}  count={count}  window={window}  "
            f"evidence={evidence}")


def read(cfg: Config, topic: str, *, from_beginning: bool, follow: bool, last: int,
         on_alert: Callable[[dict[str, Any]], None], on_bad: Callable[[str], None],
         stop: Callable[[], bool] = lambda: False, timeout_s: float | None = None,
         idle_s: float = 5.0) -> int:
    """Call ``on_alert`` for each alert: all of them (from_beginning), or the last ``last`` per
    partition; then, with ``follow``, new ones until ``stop()``. Returns how many were shown.
    The alerts already on the topic are handed over in created_at order once their end is
    reached: every partition's position at its end offset (the last stable offset), or no
    progress for ``idle_s``, which ``on_bad`` reports."""
    c = Consumer(kafka.client_conf(cfg, **{
        "group.id": f"auditflow-tail-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
        "isolation.level": "read_committed"}))
    de = AvroDeserializer(registry.client(cfg))
    shown = 0
    try:
        # 3 * last records per partition: transaction markers (exactly-once producers) take offsets too
        spans = kafka.read_spans(c, topic, None if from_beginning else 3 * last)
        c.assign([TopicPartition(topic, p, start) for p, (start, _) in spans.items()])
        pending = {p: high for p, (start, high) in spans.items() if high > start}
        backlog: list[dict[str, Any]] | None = []
        t0 = last_progress = time.monotonic()
        while not stop():
            if timeout_s is not None and time.monotonic() - t0 > timeout_s:
                break
            if backlog is not None:
                kafka.drop_caught_up(c, topic, pending)
                if pending and time.monotonic() - last_progress > idle_s:
                    on_bad(f"{topic}: partitions {sorted(pending)} stop short of their end "
                           f"(no progress for {idle_s:.0f}s); showing what was read")
                    pending.clear()
                if not pending:
                    # caught up: show the backlog in time order, then stream (or stop)
                    backlog.sort(key=lambda a: a["created_at"])
                    for alert in backlog if from_beginning else backlog[-last:]:
                        on_alert(alert)
                        shown += 1
                    backlog = None
                    if not follow:
                        break
            msg = c.poll(0.5)
            if msg is None:
                continue
            last_progress = time.monotonic()
            if msg.error():
                if msg.error().fatal():
                    raise RuntimeError(f"consuming {topic}: {msg.error().str()}")
                continue
            try:
                alert = route.normalize_alert(
                    de(msg.value(), SerializationContext(topic, MessageField.VALUE)))
            except Exception as exc:
                on_bad(f"{topic}[{msg.partition()}]@{msg.offset()}: cannot decode ({exc})")
                continue
            if backlog is not None:
                backlog.append(alert)
            else:
                on_alert(alert)
                shown += 1
    finally:
        c.close()
    return shown
