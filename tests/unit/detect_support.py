"""Helpers for the detection tests: a rule file to write, a match to suppress, a rule's meta."""

from __future__ import annotations

from pathlib import Path

HEADER = """-- id: TEST-001
-- title: A test rule
-- description: Something happened
--   twice over.
-- severity: High
-- mitre: T1110, T1078
-- compliance: PCI-DSS-10.2.4
-- dedup_window: 15m
-- owner: me
SELECT * FROM events;
"""


def write_rule(tmp_path: Path, text: str = HEADER, name: str = "TEST-001_test_rule.sql") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def match(entity: str = "alice", start: int = 0, count: int = 1, ids: tuple[str, ...] = ("e1",),
          tenant: str = "t", end: int | None = None, severity: str | None = None) -> dict:
    return {"rule_id": "TEST-001", "severity": severity, "tenant_id": tenant, "entity_type": "user",
            "entity_value": entity, "window_start": start,
            "window_end": end if end is not None else start + 1,
            "event_count": count,
            "evidence": [{"event_id": i, "chain_id": tenant, "sequence": start + n, "event_hash": "0" * 64}
                         for n, i in enumerate(ids, 1)],
            "first_seen": start, "last_seen": start}


META = {"id": "TEST-001", "title": "T", "severity": "medium", "mitre": ["T1110"], "compliance": [],
        "dedup_window_ms": 60_000, "dedup_key": ["tenant_id", "entity_value"]}
