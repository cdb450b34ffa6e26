"""Helpers for the parser tests: build RawRecords, load tests/fixtures/parse, check events."""

from __future__ import annotations

import json
from pathlib import Path

import fastavro
import fastavro.validation

from udfs.parse import RawRecord, parse

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "parse"
SCHEMA = fastavro.parse_schema(json.loads((ROOT / "schemas" / "audit_event.avsc").read_text()))
NOW_MS = 1732798800000  # 2024-11-28T13:00:00Z, Kafka timestamp of the fixture records
FILES = {"syslog": "syslog.log", "cloudtrail": "cloudtrail.jsonl", "k8s-audit": "k8s-audit.jsonl",
         "auditd": "auditd.log", "app": "app.jsonl", "debezium": "debezium.jsonl"}


def record(source: str, value: bytes | str, *, tenant: str | None = "acme", offset: int = 0,
           ts: int = NOW_MS, headers: dict | None = None, topic: str | None = None,
           partition: int = 0) -> RawRecord:
    if isinstance(value, str):
        value = value.encode()
    return RawRecord(source=source, value=value, tenant_id=tenant, topic=topic or f"audit.raw.{source}",
                     partition=partition, offset=offset, timestamp_ms=ts, headers=headers or {})


def fixture_values(source: str) -> list[bytes]:
    """The fixture records of a family: one per line, or (auditd) one per blank-line block."""
    text = (FIXTURES / FILES[source]).read_text(encoding="utf-8")
    parts = text.split("\n\n") if source == "auditd" else text.splitlines()
    return [p.strip("\n").encode() for p in parts if p.strip()]


def check(event: dict) -> dict:
    """The event validates against audit_event.avsc and keeps the OCSF id invariants."""
    fastavro.validation.validate(event, SCHEMA, raise_errors=True)
    assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]
    assert event["category_uid"] == event["class_uid"] // 1000
    assert event["enrichment"] is None and event["chain"] is None
    return event


def parse_one(source: str, value: bytes | str, **kw) -> dict:
    return check(parse(record(source, value, **kw)))


def fixture_events(source: str) -> list[dict]:
    return [parse_one(source, v, offset=i) for i, v in enumerate(fixture_values(source))]


def by_rule(events: list[dict], rule: str) -> list[dict]:
    return [e for e in events if e["unmapped"].get("auditflow.parser") == rule]
