"""Matches to alerts: dedup keys, dedup windows and rollups, and the Alert records themselves.

A rule's SQL yields *matches* (one row per detection: entity, window, count, evidence). The
`Suppressor` turns matches into alerts: the first match of a (rule, dedup key) raises an alert at
once; further matches until the rule's dedup window has passed (event time) are folded into one
*rollup* alert, emitted when the watermark passes the end of the window, that carries the total
count. A storm of 10,000 matches therefore gives two alerts, not 10,000.

jobs/detect.py keeps one key's `Suppression` in Flink keyed state; `auditflow rules test` and
`rules backfill` run `suppress` over the collected matches, so both give the same alerts.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from udfs.detect.rules import SEVERITIES

ALERT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://auditflow/alert")


def alert_id(rule_id: str, dedup_key: str, window_start: int, kind: str = "alert") -> str:
    name = f"{rule_id}|{dedup_key}|{window_start}" + ("" if kind == "alert" else f"|{kind}")
    return str(uuid.uuid5(ALERT_NAMESPACE, name))


def dedup_key(meta: dict[str, Any], match: dict[str, Any]) -> str:
    return "|".join([meta["id"], *(str(match.get(c)) for c in meta["dedup_key"])])


def make_alert(meta: dict[str, Any], match: dict[str, Any], created_at: int, kind: str = "alert",
               max_evidence: int = 100, late_ms: int | None = None) -> dict[str, Any]:
    """An Alert record (schemas/alert.avsc) from a match; severity from the match or the header.
    `late_ms` marks an alert raised by re-evaluating late events (auditflow/late.py)."""
    severity = (match.get("severity") or meta["severity"]).lower()
    if severity not in SEVERITIES:
        severity = meta["severity"]
    key = dedup_key(meta, match)
    evidence = sorted(match["evidence"], key=lambda e: (e["chain_id"], e["sequence"]))[:max_evidence]
    return {
        "alert_id": alert_id(meta["id"], key, match["window_start"], kind),
        "rule_id": meta["id"], "title": meta["title"], "severity": severity,
        "severity_id": SEVERITIES[severity], "tenant_id": match["tenant_id"],
        "entity_type": match["entity_type"], "entity_value": match["entity_value"],
        "window_start": match["window_start"], "window_end": match["window_end"],
        "event_count": int(match["event_count"]), "evidence": evidence,
        "first_seen": match["first_seen"], "last_seen": match["last_seen"],
        "mitre": list(meta["mitre"]) or None, "compliance": list(meta["compliance"]) or None,
        "dedup_key": key, "created_at": created_at, "late_ms": late_ms,
    }


@dataclass
class Suppression:
    """Per (rule, dedup key): the open dedup period and what it folded in since its first alert."""

    period_end: int
    first: dict[str, Any]
    folded: dict[str, Any] | None = None  # running merge of suppressed matches, or None


def _merge(a: dict[str, Any], b: dict[str, Any], max_evidence: int) -> dict[str, Any]:
    seen = {e["event_id"] for e in a["evidence"]}
    evidence = a["evidence"] + [e for e in b["evidence"] if e["event_id"] not in seen]
    sev = max((a.get("severity") or ""), (b.get("severity") or ""), key=lambda s: SEVERITIES.get(s, 0))
    return {**a, "window_start": min(a["window_start"], b["window_start"]),
            "window_end": max(a["window_end"], b["window_end"]),
            "event_count": a["event_count"] + b["event_count"], "evidence": evidence[:max_evidence],
            "first_seen": min(a["first_seen"], b["first_seen"]),
            "last_seen": max(a["last_seen"], b["last_seen"]),
            "severity": sev or None}


class Suppressor:
    """Dedup/suppression of one rule's matches per dedup key (event time); see the module doc.

    `admit` takes one match and returns alerts to emit now; `expire(watermark)` returns the rollups
    of periods the watermark has closed. `state` maps dedup key -> Suppression (the Flink job keeps
    one key's entry in keyed state; tests keep the whole dict)."""

    def __init__(self, meta: dict[str, Any], max_evidence: int = 100):
        self.meta = meta
        self.max_evidence = max_evidence
        self.state: dict[str, Suppression] = {}

    def admit(self, match: dict[str, Any], now_ms: int) -> list[dict[str, Any]]:
        key = dedup_key(self.meta, match)
        out: list[dict[str, Any]] = []
        current = self.state.get(key)
        if current is not None and match["first_seen"] >= current.period_end:
            out += self._close(key, now_ms)
            current = None
        if current is None:
            end = match["window_start"] + self.meta["dedup_window_ms"]
            self.state[key] = Suppression(period_end=max(end, match["window_end"]), first=match)
            return out + [make_alert(self.meta, match, now_ms, max_evidence=self.max_evidence)]
        current.folded = match if current.folded is None else _merge(current.folded, match, self.max_evidence)
        return out

    def expire(self, watermark_ms: int, now_ms: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for key in [k for k, s in self.state.items() if s.period_end <= watermark_ms]:
            out += self._close(key, now_ms)
        return out

    def _close(self, key: str, now_ms: int) -> list[dict[str, Any]]:
        s = self.state.pop(key)
        if s.folded is None:
            return []
        total = _merge(s.first, s.folded, self.max_evidence)
        total["window_end"] = max(total["window_end"], s.period_end)
        return [make_alert(self.meta, total, now_ms, kind="rollup", max_evidence=self.max_evidence)]


def suppress(meta: dict[str, Any], matches: list[dict[str, Any]], max_evidence: int = 100
             ) -> list[dict[str, Any]]:
    """All alerts of a bounded list of matches, as the job emits them, ending with a final flush.

    Matches are taken in event-time order (window end, then first seen), which is the order the
    watermark releases them in the job."""
    sup = Suppressor(meta, max_evidence)
    out: list[dict[str, Any]] = []
    for m in sorted(matches, key=lambda m: (m["window_end"], m["first_seen"], str(m["entity_value"]))):
        out += sup.expire(m["window_end"] - 1, 0)
        out += sup.admit(m, 0)
    return out + sup.expire(2**62, 0)


def as_match(row: dict[str, Any]) -> dict[str, Any]:
    """Normalise a match row (timestamps to millis, evidence to dicts) without mutating it."""
    m = copy.deepcopy(row)
    for key in ("window_start", "window_end", "first_seen", "last_seen"):
        v = m[key]
        if isinstance(v, datetime):
            aware = v.replace(tzinfo=UTC) if v.tzinfo is None else v
            m[key] = int(aware.timestamp() * 1000)
    m["evidence"] = [e if isinstance(e, dict) else
                     {"event_id": e[0], "chain_id": e[1], "sequence": int(e[2]), "event_hash": e[3]}
                     for e in m["evidence"] or []]
    m["event_count"] = int(m["event_count"])
    return m
