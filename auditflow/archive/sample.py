"""Chained canonical events for tests, the demo and bench/query.py: built through udfs.chain
exactly as the normalizer links them, and produced as Confluent-wire Avro like it does."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

from udfs import chain

USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
OPERATIONS = [  # (class_uid, activity_id, operation, status_id), OCSF ids as in schemas/README.md
    (3002, 1, "Logon", 1), (3002, 1, "Logon", 2), (3001, 7, "AttachRolePolicy", 1),
    (6003, 2, "GetObject", 1), (6003, 1, "PutObject", 1), (3001, 1, "CreateUser", 1),
    (3003, 1, "AssumeRole", 1),
]


def event(tenant: str, i: int, time_ms: int, rnd: random.Random) -> dict:
    """One plausible event with every kind of field the chain must survive: nested records,
    arrays, a map, doubles, nulls and non-ASCII text."""
    cls, act, op, status = OPERATIONS[rnd.randrange(len(OPERATIONS))]
    user = USERS[rnd.randrange(len(USERS))]
    return {
        "event_id": str(uuid.UUID(int=rnd.getrandbits(128))),
        "tenant_id": tenant, "time": time_ms,
        "class_uid": cls, "category_uid": cls // 1000, "activity_id": act, "type_uid": cls * 100 + act,
        "severity_id": 1 if status == 1 else 2, "status_id": status,
        "status_detail": None if status == 1 else "Failed password",
        "message": f"{user} {op} #{i} — ünïcödé ✓",
        "metadata": {"product": {"name": "sample", "vendor_name": "auditflow"}, "version": "1.3.0"},
        "actor": {"user": {"name": user, "uid": f"u-{user}",
                           "groups": ["staff", "admins"] if i % 7 == 0 else []},
                  "session": None},
        "src_endpoint": {"ip": f"203.0.113.{i % 250}", "port": 40000 + i % 1000, "hostname": None},
        "api": {"operation": op, "service": {"name": "iam" if cls // 1000 == 3 else "s3"}, "request": None},
        "resources": [{"uid": f"res-{i % 97}", "name": f"record-{i % 13}", "type": "record",
                       "namespace": None, "owner": None}],
        "unmapped": {"sample.index": str(i), "sample.kind": "bench"} if i % 5 == 0 else None,
        "enrichment": {"geo": {"country": "DE", "city": "Berlin", "lat": 52.52, "lon": 13.405,
                               "asn": None, "as_org": None, "is_private": False},
                       "user": {"display_name": None, "department": "ops", "title": None, "manager": None,
                                "privileged": user in ("alice", "bob"), "known": True}},
        "lineage": {"source_system": "app_json", "raw_topic": "audit.raw.app", "raw_partition": 0,
                    "raw_offset": i, "ingest_time": time_ms + 5, "job_name": "normalize",
                    "job_version": "0.1.0", "flink_job_id": "0" * 32, "lateness_ms": 0},
    }


def chained(tenant: str, n: int, start_ms: int, step_ms: int = 1000, seed: int = 0,
            prev: chain.ChainState | None = None, partitions: int = 1) -> Iterator[dict]:
    """n linked events of one tenant, `step_ms` apart from `start_ms`, read in turn from
    `partitions` partitions of audit.raw.app: one chain per partition (CHAIN.md version 2).
    `prev` continues a one-partition chain."""
    if prev is not None and partitions != 1:
        raise ValueError("prev continues one chain; it cannot be given with several partitions")
    rnd = random.Random(f"{seed}:{tenant}")
    first = prev.sequence if prev else 0
    states = {prev.chain_id: prev} if prev else {}
    for k in range(n):
        e = event(tenant, first + k, start_ms + k * step_ms, rnd)
        e["lineage"].update(raw_partition=(first + k) % partitions, raw_offset=(first + k) // partitions)
        linked = chain.link(e, states.get(chain.chain_id_of(e)))
        states[linked["chain"]["chain_id"]] = chain.ChainState.of(linked)
        yield linked
