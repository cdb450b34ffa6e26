"""`auditflow alerts tail`: read audit.alerts (read_committed) and show alerts readably."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from auditflow import kafka, registry
from auditflow.alerts import destinations
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
        destinations.entity_text(alert),
        str(alert.get("event_count")),
        destinations.window_text(alert["window_start"], alert["window_end"])
        # raised by `auditflow rules late`: its events reached the detect job behind the watermark
        + ("" if alert.get("late_ms") is None else f" (late {alert['late_ms'] // 1000}s)"),
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
    de = AvroDeserializer(registry.client(cfg, "analyst"))
    shown = 0
    backlog: list[dict[str, Any]] | None = []

    def caught_up() -> None:  # the alerts already there, in time order; then stream (or stop)
        nonlocal backlog, shown
        assert backlog is not None
        backlog.sort(key=lambda a: a["created_at"])
        for alert in backlog if from_beginning else backlog[-last:]:
            on_alert(alert)
            shown += 1
        backlog = None

    # 3 * last records per partition: transaction markers (exactly-once producers) take offsets too
    for msg in kafka.read_topic(cfg, topic, idle_s, on_bad, None if from_beginning else 3 * last,
                                role="analyst",
                                follow=follow, on_end=caught_up, stop=stop, timeout_s=timeout_s):
        try:
            alert = destinations.normalize_alert(
                de(msg.value(), SerializationContext(topic, MessageField.VALUE)))
        except Exception as exc:
            on_bad(f"{topic}[{msg.partition()}]@{msg.offset()}: cannot decode ({exc})")
            continue
        if backlog is not None:
            backlog.append(alert)
        else:
            on_alert(alert)
            shown += 1
    return shown
