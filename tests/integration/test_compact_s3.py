"""Compacted query copies on the real stack: events of two tenants staged in S3 (SeaweedFS),
decoded through the schema registry and sealed over two periods into a WORM prefix of their own
(Object Lock), compacted, then verified as the auditor; Trino and DuckDB answer the same rows
from the compacted layout as from the hourly one; the copies are locked like sealed data; an
unlisted copy is `extra` and an overwritten one a `digest mismatch` naming it."""

from __future__ import annotations

import datetime as dt
import uuid

import pyarrow as pa
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditflow import registry, s3
from auditflow.archive import compact, layout, query, sample, wiring
from auditflow.archive.seal import Sealer, align
from auditflow.archive.verify import Verifier
from udfs import wire

PERIOD_S = 3600
LOCK_S = 180  # short: the worm bucket keeps what we write until then


def _alert(tenant: str, events: list[dict]) -> dict:
    t = events[0]["time"]
    return {"alert_id": f"alert-{tenant}", "rule_id": "IT-001", "title": "integration", "severity": "high",
            "severity_id": 4, "tenant_id": tenant, "entity_type": "user", "entity_value": "alice",
            "window_start": t, "window_end": t + 60000, "event_count": 2,
            "evidence": [{"event_id": e["event_id"], "chain_id": e["chain"]["chain_id"],
                          "sequence": e["chain"]["sequence"], "event_hash": e["chain"]["event_hash"]}
                         for e in events[:2]],
            "first_seen": t, "last_seen": t, "mitre": ["T1110"], "compliance": None,
            "dedup_key": f"IT-001|{tenant}", "created_at": t + 1}


def denied(call) -> None:
    with pytest.raises(ClientError) as exc:
        call()
    assert exc.value.response["Error"]["Code"] == "AccessDenied", exc.value.response


@pytest.fixture(scope="module")
def archive(stack, cfg):
    run = uuid.uuid4().hex[:8]
    prefix, schema = f"it/{run}c/", f"it_compact{run}"
    tenants = [f"it-acme-{run}", f"it-globex-{run}"]
    ids = {"events": registry.client(cfg, "schema-admin").register_schema(
               "audit.events-value", registry.load_schema("audit_event")),
           "alerts": registry.client(cfg, "schema-admin").register_schema(
               "audit.alerts-value", registry.load_schema("alert"))}
    parsed = {k: wire.plain_schema(layout.load_avsc(k)) for k in layout.KINDS}
    staging = wiring.staging_store(cfg, prefix, "admin")
    worm = wiring.worm_store(cfg, prefix, "sealer")
    key = Ed25519PrivateKey.generate()
    sealer = Sealer(staging, worm, key, wiring.decoder(cfg), period_s=PERIOD_S, grace_s=0, retention_s=LOCK_S)
    now = dt.datetime.now(dt.UTC)
    day = (now - dt.timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)  # closed
    events = {t: list(sample.chained(t, 20, int(day.timestamp() * 1000), step_ms=180_000, seed=9))
              for t in tenants}

    def stage(kind: str, tenant: str, hour: dt.datetime, records: list[dict], name: str) -> None:
        values = pa.array([wire.encode(ids[kind], parsed[kind], r) for r in records], pa.binary())
        staging.put(f"{kind}/{layout.partition_path(tenant, hour)}{name}.parquet",
                    layout.parquet_bytes(pa.table({"value": values})))

    # periods after now: every file staged so far is before a period's end, so each seal takes
    # exactly the files staged before it (a minute boundary cannot split them)
    start = align(now, PERIOD_S) + dt.timedelta(seconds=PERIOD_S)
    files = []
    for n, hour in enumerate((day, day + dt.timedelta(hours=1))):  # one sealing period per hour
        for t in tenants:
            stage("events", t, hour, events[t][n * 10:(n + 1) * 10], f"part-{n}")
        if n == 0:
            stage("alerts", tenants[0], hour, [_alert(tenants[0], events[tenants[0]])], "part-0")
        p_start = start + dt.timedelta(seconds=n * PERIOD_S)
        res = sealer.seal(p_start, p_start + dt.timedelta(seconds=PERIOD_S), now=dt.datetime.now(dt.UTC))
        assert not res.breaks and res.events == 20, (res.events, res.breaks)
        files += res.digest["files"]
    try:
        query.ensure_tables(cfg, worm.bucket, worm.prefix, schema)  # as `seal` does
        query.register_partitions(cfg, files, schema)
        yield {"run": run, "prefix": prefix, "schema": schema, "tenants": tenants, "worm": worm, "key": key,
               "day": f"{day:%Y-%m-%d}", "files": files, "events": events}
    finally:
        for name, _sql in query.view_sql("trino"):
            query.run_trino(cfg, f"DROP VIEW IF EXISTS {name}", schema, role="admin")
        for kind in layout.KINDS:
            for table in (kind, f"{kind}_open", f"{kind}_compacted"):
                query.run_trino(cfg, f"DROP TABLE IF EXISTS {table}", schema, role="admin")
        query.run_trino(cfg, f'DROP SCHEMA IF EXISTS "{schema}"', schema, role="admin")


QUERIES = [
    "SELECT event_id, tenant, dt, user_name, operation, sequence, event_hash FROM user_activity "
    "ORDER BY event_id",
    "SELECT tenant_id, day, failed_logins, users FROM failed_logins_per_day ORDER BY tenant_id, day",
    "SELECT event_id, resource_uid, owner_name FROM record_access ORDER BY event_id, resource_uid",
    "SELECT alert_id, event_id, sequence, hash_matches, user_name FROM alert_evidence ORDER BY sequence",
    "SELECT count(*) FROM archive_events",
    "SELECT event_id, hour FROM archive_events ORDER BY event_id",  # hour survives compaction
]


def _rows(res: query.Result) -> list[tuple]:
    """Comparable across engines: dates and timestamps as text (DuckDB's are tz-aware)."""
    return [tuple(str(v) if isinstance(v, dt.date) else v for v in r) for r in res.rows]


def test_compacted_copies_verify_and_answer_the_same_rows(cfg, archive):
    a, worm = archive, archive["worm"]
    hourly_trino = [_rows(query.run_trino(cfg, q, a["schema"])) for q in QUERIES]
    assert hourly_trino[4] == [(40,)] and len(hourly_trino[3]) == 2 and all(r[3] for r in hourly_trino[3])

    comp = compact.Compactor(worm, a["key"], retention_s=LOCK_S, settle_s=0)
    docs = comp.run()
    assert sorted((d["kind"], d["tenant"], d["file"]["rows"], len(d["sources"])) for d in docs) == sorted(
        [("events", t, 20, 2) for t in a["tenants"]] + [("alerts", a["tenants"][0], 1, 1)])
    assert comp.run() == []
    hourly, copies = compact.query_keys(worm)
    assert hourly == [] and len(copies) == 3
    assert query.sync_union(cfg, worm.bucket, worm.prefix, hourly, copies, schema=a["schema"]) == 3
    open_parts = query.run_trino(cfg, 'SELECT count(*) FROM "events_open$partitions"', a["schema"], "admin")
    assert open_parts.rows == [(0,)]

    auditor = wiring.worm_store(cfg, a["prefix"], "auditor")
    rep = Verifier(auditor, a["key"].public_key()).run()
    assert rep.ok, rep.problem and rep.problem.message
    assert rep.events == 40

    compacted_trino = [_rows(query.run_trino(cfg, q, a["schema"])) for q in QUERIES]
    assert compacted_trino == hourly_trino
    for compacted in (False, True):
        con = query.duckdb_conn(cfg, worm.bucket, worm.prefix, compacted=compacted)
        try:
            assert [_rows(query.run_duckdb(con, q)) for q in QUERIES] == hourly_trino, compacted
        finally:
            con.close()


def test_compacted_copies_are_locked_and_read_only_to_the_auditor(cfg, archive):
    a = archive
    keys = compact.query_keys(a["worm"])[1] + [k for k, _d in compact.manifests(a["worm"])]
    assert len(keys) == 6
    bucket, auditor, sealer = a["worm"].bucket, s3.client(cfg, "auditor"), s3.client(cfg, "sealer")
    for k in keys:
        head = auditor.head_object(Bucket=bucket, Key=a["prefix"] + k)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["ObjectLockRetainUntilDate"] > dt.datetime.now(dt.UTC)
        denied(lambda k=k: auditor.put_object(Bucket=bucket, Key=a["prefix"] + k, Body=b"x"))
        denied(lambda k=k: auditor.delete_object(Bucket=bucket, Key=a["prefix"] + k))
        denied(lambda k=k, v=head["VersionId"]: sealer.delete_object(Bucket=bucket, Key=a["prefix"] + k,
                                                                     VersionId=v))


def test_an_unlisted_copy_is_extra_and_an_overwritten_one_a_digest_mismatch(cfg, archive):
    """Last in this module: both leave the archive broken (the locked versions stay)."""
    a, worm = archive, archive["worm"]
    auditor = wiring.worm_store(cfg, a["prefix"], "auditor")
    copy = layout.compacted_key("events", a["tenants"][0], a["day"], "")
    real = next(k for k in compact.query_keys(worm)[1] if k.startswith(copy.rsplit("through=", 1)[0]))
    stray = real.replace("/part.parquet", "x/part.parquet")
    worm.put(stray, worm.get(real), retain_until=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=LOCK_S))
    rep = Verifier(auditor, a["key"].public_key()).run()
    assert rep.problem.kind == "extra" and stray in rep.problem.message

    data = bytearray(worm.get(real))
    data[len(data) // 2] ^= 1
    worm.put(real, bytes(data), retain_until=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=LOCK_S))
    rep = Verifier(auditor, a["key"].public_key()).run()
    assert rep.problem.kind == "digest mismatch" and real in rep.problem.message
