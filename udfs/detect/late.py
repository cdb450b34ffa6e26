"""Late events evaluated: which late records to re-run, over which span, and which alerts result.

The detect job writes every event that reached a rule behind the watermark to [detect] late_topic
(rules.late_select). `auditflow rules late` (auditflow/late.py) reads those records and, for each
rule, re-runs the rule unchanged (rules_runner.backfill) over the tenant's events around them,
read back from audit.events. This module is the pure part of that:

- `plan`: a record more than `max_late_ms` behind the watermark is *dropped* (counted, reported
  with a backfill command); one whose rule's horizon has not yet passed the job's watermark
  *waits* (a window or pattern around it may still be open in the job, and will fire without the
  late event); the rest are *evaluated*. Records wait in partition order, so offsets commit in order.
- `spans`: per tenant, the event time the re-run needs: each late event +- its rule's horizon.
- `late_alerts`: of the re-run's alerts, those that involve a late event and fall in no dedup
  period of an alert already raised for the same dedup key (on time, or late before), marked
  with `late_ms`. Alert ids are deterministic, so a re-run after a crash yields the same ids.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from udfs.detect import rules as R
from udfs.detect import suppress as S

RE_INTERVAL = re.compile(r"INTERVAL\s+'(\d+(?:\.\d+)?)'\s+(SECOND|MINUTE|HOUR|DAY)S?\b", re.IGNORECASE)
INTERVAL_MS = {"SECOND": 1000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}
MIN_HORIZON_MS = 1000


def horizon_ms(rule: R.Rule, cap_ms: int) -> int:
    """How far around an event the rule looks: its longest INTERVAL (window, WITHIN, join
    bound), at least 1 s, at most `cap_ms` (a rule over a longer span sees only that much)."""
    found = RE_INTERVAL.findall(re.sub(r"--[^\n]*", "", rule.sql))
    spans = [float(n) * INTERVAL_MS[unit.upper()] for n, unit in found]
    return int(min(max([MIN_HORIZON_MS, *spans]), cap_ms))


@dataclass(frozen=True)
class LateEvent:
    """One record of [detect] late_topic (sql/ddl/detect_late_sink.sql) and where it was read."""

    rule_id: str
    tenant_id: str
    event_id: str
    event_time: int
    watermark_time: int
    partition: int = 0
    offset: int = 0
    arrived: int = 0  # the record's Kafka timestamp (ms)

    @property
    def behind_ms(self) -> int:
        return self.watermark_time - self.event_time


def parse_record(value: bytes, partition: int = 0, offset: int = 0, arrived: int = 0) -> LateEvent:
    """A late record as the detect job writes it (Flink JSON: times as 'YYYY-MM-DD HH:MM:SS.sss')."""
    rec = json.loads(value)
    return LateEvent(rule_id=rec["rule_id"], tenant_id=rec["tenant_id"], event_id=rec["event_id"],
                     event_time=R.parse_time(rec["event_time"].replace(" ", "T"), "event_time"),
                     watermark_time=R.parse_time(rec["watermark_time"].replace(" ", "T"), "watermark_time"),
                     partition=partition, offset=offset, arrived=arrived)


@dataclass
class Plan:
    evaluate: list[LateEvent]
    dropped: list[tuple[LateEvent, str]]  # with the reason
    waiting: list[LateEvent]


def plan(records: list[LateEvent], horizons: dict[str, int], max_late_ms: int, watermark_ms: int,
         settle_ms: int, now_ms: int) -> Plan:
    """Sort records into evaluate / dropped / waiting (see the module doc). `watermark_ms` is the
    detect job's watermark as far as is known; `settle_ms` lets the job's alerts for windows
    that closed before the late record was written be committed first (one checkpoint or more)."""
    out = Plan([], [], [])
    blocked: set[int] = set()
    for rec in sorted(records, key=lambda r: (r.partition, r.offset)):
        if rec.partition in blocked:
            out.waiting.append(rec)
        elif rec.rule_id not in horizons:
            out.dropped.append((rec, f"rule {rec.rule_id} is not enabled here"))
        elif rec.behind_ms > max_late_ms:
            out.dropped.append((rec, f"{rec.behind_ms} ms behind the watermark, more than"
                                     f" [detect] late_max_ms = {max_late_ms}"))
        elif watermark_ms < rec.event_time + horizons[rec.rule_id] or now_ms - rec.arrived < settle_ms:
            blocked.add(rec.partition)
            out.waiting.append(rec)
        else:
            out.evaluate.append(rec)
    return out


def spans(records: list[LateEvent], horizons: dict[str, int]) -> dict[str, tuple[int, int]]:
    """Per tenant, [lo, hi) of event time to re-run over: every late event +- its rule's horizon."""
    out: dict[str, tuple[int, int]] = {}
    for rec in records:
        h = horizons[rec.rule_id]
        lo, hi = rec.event_time - h, rec.event_time + h + 1
        if rec.tenant_id in out:
            lo, hi = min(lo, out[rec.tenant_id][0]), max(hi, out[rec.tenant_id][1])
        out[rec.tenant_id] = (lo, hi)
    return out


def period(meta: dict[str, Any], alert: dict[str, Any]) -> tuple[int, int]:
    """The dedup period an alert opened (suppress.Suppressor.admit): later matches fold into it."""
    return alert["window_start"], max(alert["window_start"] + meta["dedup_window_ms"], alert["window_end"])


def late_alerts(meta: dict[str, Any], rerun: list[dict[str, Any]], late: list[LateEvent],
                existing: list[dict[str, Any]], now_ms: int) -> list[dict[str, Any]]:
    """The alerts the late events of one rule cause, once: see the module doc.

    `rerun` are the alerts of the re-run (suppress.suppress); only first alerts of a period are
    taken (a rollup's count is the on-time path's), and only those whose span holds a late event.
    `existing` are the rule's alerts already on the alerts topic."""
    taken = [period(meta, a) + (a["dedup_key"],) for a in existing if a["rule_id"] == meta["id"]]
    ids = {a["alert_id"] for a in existing}
    out: list[dict[str, Any]] = []
    for alert in sorted(rerun, key=lambda a: (a["window_start"], a["dedup_key"])):
        key = alert["dedup_key"]
        first = alert["alert_id"] == S.alert_id(meta["id"], key, alert["window_start"])
        if not first or alert["alert_id"] in ids:
            continue  # a rollup, or raised already
        mine = [r for r in late if r.tenant_id == alert["tenant_id"]
                and alert["first_seen"] <= r.event_time <= alert["last_seen"]]
        if not mine:
            continue  # the re-run reproduced an alert of on-time events only
        start, end = period(meta, alert)
        if any(k == key and start < e and s < end for s, e, k in taken):
            continue  # the job raised an alert for this dedup period already: the match folds into it
        out.append({**alert, "created_at": now_ms, "late_ms": max(r.behind_ms for r in mine)})
        taken.append((start, end, key))
        ids.add(alert["alert_id"])
    return out


def backfill_hint(rec: LateEvent, horizon: int) -> str:
    """The command that evaluates a dropped (too late) event from the archive."""
    return (f"auditflow rules backfill {rec.rule_id} --tenant {rec.tenant_id}"
            f" --from {R.iso(rec.event_time - horizon)} --to {R.iso(rec.event_time + horizon + 1)}")
