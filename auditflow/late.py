"""`auditflow rules late`: evaluate the events the detect job got behind a rule's watermark.

The detect job cannot take them (windows, patterns and temporal joins have closed), so it
writes each, per rule, to [detect] late_topic. This process reads that topic (a consumer group
of its own, [detect] late_group_id) and, per batch:

1. plans each record (udfs/detect/late.py): more than [detect] late_max_ms behind the watermark
   is too late: dropped, counted and reported with the `rules backfill` command that evaluates it
   from the archive; a record whose rule's horizon the job's watermark has not passed yet waits;
2. reads the tenant's events around the rest back from the events topic (the bounded buffer:
   audit.events keeps 7 days), and the alerts already raised from the alerts topic;
3. re-runs the rules unchanged over those events (rules_runner.backfill: the same SQL, reference
   tables and dedup as the job, on a local mini-cluster);
4. writes the alerts the late events cause, marked `late_ms`, to the alerts topic, one outcome
   record per late event to [detect] late_results_topic (for `rules status`), and commits the
   late topic's offsets, all in one Kafka transaction: each late event is evaluated once, and
   each alert it causes emitted once (deduplicated against the alerts of the same dedup period).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from auditflow import kafka, registry, rules_runner
from auditflow.config import Config
from udfs import wire
from udfs.detect import late as L
from udfs.detect import rules as R

# events reach Kafka after they happen; this much earlier than the span's start is read too, for
# producers whose record timestamps run ahead of event time (clock skew)
KAFKA_TIME_MARGIN_MS = 300_000
ROLE = "detect"  # `rules late` evaluates as the detect job does


@dataclass
class Summary:
    read: int = 0
    evaluated: int = 0
    dropped: int = 0
    waiting: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)


def read_from(consumer: Consumer, topic: str, starts: dict[int, int], idle_s: float = 5.0) -> list[Message]:
    """Committed records of `topic` from `starts` (partition -> offset) to the partitions' current ends."""
    ends = {}
    for p, start in starts.items():
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        if high > start:
            ends[p] = high
    if not ends:
        return []
    consumer.assign([TopicPartition(topic, p, starts[p]) for p in ends])
    out: list[Message] = []
    last = time.monotonic()
    while ends and time.monotonic() - last < idle_s:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            out.append(msg)
            last = time.monotonic()
        kafka.drop_caught_up(consumer, topic, ends)
    consumer.unassign()
    return out


def starts_at(consumer: Consumer, topic: str, since_ms: int | None) -> dict[int, int]:
    """Per partition, the first offset with a timestamp >= since_ms (None: the group's committed
    offset, or the beginning)."""
    meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
    if meta is None or meta.error is not None:
        raise kafka.TopicMissing(f"topic {topic!r} does not exist")
    parts = [TopicPartition(topic, p, since_ms if since_ms is not None else 0) for p in meta.partitions]
    if since_ms is not None:
        found = consumer.offsets_for_times(parts, timeout=10)
    else:
        found = consumer.committed(parts, 10)
    out = {}
    for tp in found:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
        out[tp.partition] = high if tp.offset < 0 and since_ms is not None else max(tp.offset, low)
    return out


class LateEvaluator:
    """One detect deployment's late path: its topics and rules from the config (see the module doc)."""

    def __init__(self, cfg: Config, rules: list[R.Rule], say: Callable[[str], None] = print):
        self.cfg, self.say = cfg, say
        self.rules = {r.id: r for r in rules if r.input}  # filter rules take late events in the job
        cap = int(cfg.get("detect.late_horizon_max_ms"))
        self.horizons = {rid: L.horizon_ms(r, cap) for rid, r in self.rules.items()}
        self.late_topic = cfg.get("detect.late_topic")
        self.events_topic = cfg.get("detect.events_topic")
        self.alerts_topic = cfg.get("detect.alerts_topic")
        self.results_topic = cfg.get("detect.late_results_topic")
        self.max_evidence = int(cfg.get("detect.max_evidence"))
        group = cfg.get("detect.late_group_id")
        self.consumer = kafka.reader(cfg, ROLE, group)
        self.reader = kafka.reader(cfg, ROLE)
        if self.results_topic not in kafka.admin(cfg, ROLE).list_topics(timeout=10).topics:
            kafka.apply_topics(cfg, [kafka.TopicSpec(self.results_topic, 3, 1,
                                                     {"retention.ms": "2592000000"})], role=ROLE)
        schema = json.loads(registry.load_schema("alert").schema_str)
        schema_id = registry.schema_id(cfg, ROLE, self.alerts_topic, "alert")
        self.encode = wire.Encoder(schema_id, schema)
        self.decode_alert = registry.Decoder(cfg, "alert", "detect")
        self.decode_event = registry.Decoder(cfg, "audit_event", "detect")
        # one transactional id per late group: a second copy fences the first (no double evaluation)
        self.producer = Producer(kafka.producer_conf(cfg, ROLE, **{"transactional.id": f"{group}-tx"}))
        self.producer.init_transactions(30)

    def close(self) -> None:
        self.consumer.close()
        self.reader.close()

    def run_once(self) -> Summary:
        """Read the late topic from the group's offsets to its end and handle what is ready."""
        starts = starts_at(self.consumer, self.late_topic, None)
        msgs = read_from(self.consumer, self.late_topic, starts)
        records = [L.parse_record(m.value(), m.partition(), m.offset(), m.timestamp()[1]) for m in msgs]
        summary = Summary(read=len(records))
        if not records:
            return summary
        now = int(time.time() * 1000)
        events, watermark = self._events(records)
        plan = L.plan(records, self.horizons, int(self.cfg.get("detect.late_max_ms")), watermark,
                      int(self.cfg.get("detect.late_settle_ms")), now)
        summary.waiting = len(plan.waiting)
        if not plan.evaluate and not plan.dropped:
            return summary
        alerts, errors = self._evaluate(plan.evaluate, events, now)
        if errors:
            raise R.RuleError("late evaluation failed, nothing committed:\n" + "\n".join(errors))
        results = [self._result(rec, "evaluated", alerts) for rec in plan.evaluate]
        for rec, reason in plan.dropped:
            hint = L.backfill_hint(rec, self.horizons.get(rec.rule_id, L.MIN_HORIZON_MS))
            self.say(f"too late: {rec.rule_id} {rec.tenant_id} {rec.event_id}: {reason};"
                     f" evaluate it with: {hint}")
            results.append(self._result(rec, "dropped", [], reason))
        self._commit(alerts, results, plan)
        summary.evaluated, summary.dropped, summary.alerts = len(plan.evaluate), len(plan.dropped), alerts
        return summary

    def _events(self, records: list[L.LateEvent]) -> tuple[dict[str, list[dict]], int]:
        """Every tenant's events in the spans the records need, and the job's watermark as far as
        known: the newest late record's watermark, or the events topic's newest time less the
        job's out-of-orderness."""
        max_late = int(self.cfg.get("detect.late_max_ms"))  # too late ones must not widen the read
        wanted = L.spans([r for r in records if r.rule_id in self.horizons and r.behind_ms <= max_late],
                         self.horizons)
        watermark = max(r.watermark_time for r in records)
        if not wanted:
            return {}, watermark
        since = min(lo for lo, _hi in wanted.values()) - KAFKA_TIME_MARGIN_MS
        out: dict[str, list[dict]] = {t: [] for t in wanted}
        newest = None
        starts = starts_at(self.reader, self.events_topic, since)
        for msg in read_from(self.reader, self.events_topic, starts):
            ev = self.decode_event(msg.value())
            newest = ev["time"] if newest is None else max(newest, ev["time"])
            span = wanted.get(ev["tenant_id"])
            if span and span[0] <= ev["time"] < span[1]:
                out[ev["tenant_id"]].append(ev)
        if newest is not None:
            watermark = max(watermark, newest - int(self.cfg.get("detect.out_of_orderness_ms")))
        return out, watermark

    def _existing(self, since_ms: int) -> list[dict]:
        msgs = read_from(self.reader, self.alerts_topic, starts_at(self.reader, self.alerts_topic, since_ms))
        return [self.decode_alert(m.value()) for m in msgs]

    def _evaluate(self, late: list[L.LateEvent], events: dict[str, list[dict]], now: int
                  ) -> tuple[list[dict], list[str]]:
        if not late:
            return [], []
        by_rule: dict[str, list[L.LateEvent]] = {}
        for rec in late:
            by_rule.setdefault(rec.rule_id, []).append(rec)
        tenants = {rec.tenant_id for rec in late}
        rules = [self.rules[rid] for rid in sorted(by_rule)]
        rerun, errors = rules_runner.backfill(rules, [e for t in tenants for e in events.get(t, [])],
                                              self.say, self.max_evidence)
        longest = max(self.horizons[r.id] + r.dedup_window_ms for r in rules)
        existing = self._existing(min(rec.event_time for rec in late) - longest - KAFKA_TIME_MARGIN_MS)
        out: list[dict] = []
        for rule in rules:
            out += L.late_alerts(rule.meta(), rerun.get(rule.id, []), by_rule[rule.id], existing, now)
        return out, errors

    @staticmethod
    def _result(rec: L.LateEvent, outcome: str, alerts: list[dict], reason: str = "") -> dict:
        raised = [a["alert_id"] for a in alerts
                  if (a["rule_id"], a["tenant_id"]) == (rec.rule_id, rec.tenant_id)
                  and a["first_seen"] <= rec.event_time <= a["last_seen"]]
        return {"rule_id": rec.rule_id, "tenant_id": rec.tenant_id, "event_id": rec.event_id,
                "event_time": rec.event_time, "behind_ms": rec.behind_ms, "outcome": outcome,
                "alert_ids": raised, "reason": reason}

    def _commit(self, alerts: list[dict], results: list[dict], plan: L.Plan) -> None:
        """Alerts, outcomes and the late topic's offsets in one transaction. Offsets advance
        past the records handled, up to the first waiting one of each partition."""
        done = plan.evaluate + [r for r, _ in plan.dropped]
        waiting_from = {}
        for rec in plan.waiting:
            waiting_from[rec.partition] = min(rec.offset, waiting_from.get(rec.partition, rec.offset))
        offsets: dict[int, int] = {}
        for rec in done:
            if rec.partition not in waiting_from or rec.offset < waiting_from[rec.partition]:
                offsets[rec.partition] = max(rec.offset + 1, offsets.get(rec.partition, 0))
        self.producer.begin_transaction()
        for alert in alerts:
            self.producer.produce(self.alerts_topic, key=alert["dedup_key"].encode(),
                                  value=self.encode(alert))
        for res in results:
            self.producer.produce(self.results_topic, key=res["rule_id"].encode(),
                                  value=json.dumps(res).encode())
        self.producer.send_offsets_to_transaction(
            [TopicPartition(self.late_topic, p, o) for p, o in sorted(offsets.items())],
            self.consumer.consumer_group_metadata(), 30)
        self.producer.commit_transaction(60)



def outcome_counts(cfg: Config, topic: str | None = None, role: str = "analyst") -> dict[str, dict[str, int]]:
    """Per rule, late events `evaluated` / `dropped` and `alerts` raised, from the results topic."""
    counts: dict[str, dict[str, int]] = {}
    raised: dict[str, set[str]] = {}
    try:
        msgs: Iterable[Message] = kafka.read_topic(cfg, topic or cfg.get("detect.late_results_topic"),
                                                   idle_s=10, role=role)
        for msg in msgs:
            res = json.loads(msg.value())
            row = counts.setdefault(res["rule_id"], {"evaluated": 0, "dropped": 0, "alerts": 0})
            row[res["outcome"]] += 1
            raised.setdefault(res["rule_id"], set()).update(res["alert_ids"])  # one alert, many late events
    except kafka.TopicMissing:
        pass
    for rule_id, ids in raised.items():
        counts[rule_id]["alerts"] = len(ids)
    return counts
