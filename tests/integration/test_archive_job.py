"""Archive end to end on the real stack: chained Avro events in an events topic -> jobs/archive.py
(flink run) -> staging Parquet -> `auditflow seal` -> WORM with Object Lock -> `auditflow verify`,
Trino and DuckDB counts, tampered copies, WORM refusals, and an inclusion proof for an alert's
evidence event. Uses its own topics, tenant and prefixes, so nothing of it reaches the
pipeline's own audit.events (and a demo archive)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import shutil
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner
from confluent_kafka import Producer
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from auditflow import config, flink, kafka, registry, s3
from auditflow.archive import digest as dg
from auditflow.archive import layout, query, sample
from auditflow.cli import cli
from udfs import chain

N = 300
JOB = Path(__file__).resolve().parents[2] / "jobs" / "archive.py"
SETS = ["--set", "archive.period_s=60", "--set", "archive.grace_s=15", "--set", "archive.retention=180s"]
# the first test to use `archived` runs it (see tests/integration/conftest.py): job start (600 s
# submission, 180 s to RUNNING), staging (180 s), sealing three periods of 60 s (300 s)
FIXTURE_TIMEOUTS = {"archived": 1500}


def run_cli(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, [*SETS, *args], catch_exceptions=False)
    return res.exit_code, res.stdout


@pytest.fixture(scope="module")
def archived(stack, module_topics, module_flink_jobs, tmp_path_factory):
    cfg = config.load(overrides=["archive.period_s=60", "archive.grace_s=15", "archive.retention=180s"])
    run = module_topics.run
    tenant, prefix, schema = f"it-archive-{run}", f"it/{run}/", f"it_{run}"
    start_ms = int(time.time() * 1000) - 1000
    topics = {"events": module_topics.unique("events"), "alerts": module_topics.unique("alerts")}
    module_topics.grant_pipeline(f"it-archive-{run}", **topics)
    # a submission that times out may still have started the job
    module_flink_jobs.track_named(flink.pipeline_job_name("archive", topics["events"]))
    job_id = module_flink_jobs.track(flink.start(
        cfg, JOB, ["--staging", f"s3://{cfg.get('s3.staging_bucket')}/{prefix}",
                   "--events-topic", topics["events"], "--alerts-topic", topics["alerts"],
                   "--group-id", f"it-archive-{run}"], say=print))
    try:
        flink.wait_for_status(cfg, job_id, {"RUNNING"}, 180)
        events = list(sample.chained(tenant, N, start_ms, step_ms=10, seed=1, partitions=2))  # 2 shards
        alert = {
            "alert_id": f"alert-{run}", "rule_id": "IT-001", "title": "integration", "severity": "high",
            "severity_id": 4, "tenant_id": tenant, "entity_type": "user", "entity_value": "alice",
            "window_start": start_ms, "window_end": start_ms + 60000, "event_count": 2,
            "evidence": [{"event_id": e["event_id"], "chain_id": e["chain"]["chain_id"],
                          "sequence": e["chain"]["sequence"], "event_hash": e["chain"]["event_hash"]}
                         for e in (events[10], events[250])],
            "first_seen": start_ms, "last_seen": start_ms, "mitre": ["T1110"], "compliance": None,
            "dedup_key": f"IT-001|{tenant}|alice", "created_at": start_ms + 1,
        }
        produce(cfg, topics["events"], "audit_event", tenant, events)
        produce(cfg, topics["alerts"], "alert", tenant, [alert])
        staged = wait_for_staging(cfg, prefix, tenant, N)
        # seal until every staged file of ours is in the WORM archive
        deadline = time.monotonic() + 300
        while True:
            code, out = run_cli("seal", "--staging", prefix, "--worm", prefix, "--trino-schema", schema)
            left = [o for o in s3.client(cfg, "admin").list_objects_v2(
                Bucket=cfg.get("s3.staging_bucket"), Prefix=prefix).get("Contents", [])
                if "/." not in o["Key"] and f"tenant={tenant}/" in o["Key"]]
            digests = s3.client(cfg, "admin").list_objects_v2(Bucket=cfg.get("s3.worm_bucket"),
                                                     Prefix=f"{prefix}digests/").get("KeyCount", 0)
            # three periods at least, so a digest can be removed from the middle of the chain
            if not left and digests >= 3:
                break
            assert time.monotonic() < deadline, f"staging: {len(left)} files, {digests} digests after 300 s"
            time.sleep(10)
        yield {"cfg": cfg, "tenant": tenant, "prefix": prefix, "schema": schema, "events": events,
               "alert": alert, "staged": staged, "job_id": job_id}
    finally:  # the job is cancelled, its topics and checkpoints deleted by the module fixtures
        drop_trino_schema(cfg, schema)


def drop_trino_schema(cfg, schema: str) -> None:
    """The tables are external: dropping them leaves the (locked) files in place."""
    for kind in layout.KINDS:
        query.run_trino(cfg, f"DROP TABLE IF EXISTS {kind}", schema, role="admin")
    for view, _sql in query.view_sql("trino"):
        query.run_trino(cfg, f"DROP VIEW IF EXISTS {view}", schema, role="admin")
    query.run_trino(cfg, f'DROP SCHEMA IF EXISTS "{schema}"', schema, role="admin")


def produce(cfg, topic: str, schema_name: str, tenant: str, records: list[dict]) -> None:
    ser = AvroSerializer(registry.client(cfg, "schema-admin"), registry.load_schema(schema_name).schema_str)
    p = Producer(kafka.producer_conf(cfg, "admin"))
    ctx = SerializationContext(topic, MessageField.VALUE)
    errors = []
    for r in records:
        p.produce(topic, key=tenant.encode(), value=ser(r, ctx),
                  on_delivery=lambda err, _m: errors.append(err) if err else None)
        p.poll(0)
    assert p.flush(60) == 0 and not errors, errors[:3]


def wait_for_staging(cfg, prefix: str, tenant: str, n: int, timeout_s: float = 180) -> int:
    client, bucket = s3.client(cfg, "admin"), cfg.get("s3.staging_bucket")
    deadline = time.monotonic() + timeout_s
    rows = 0
    while time.monotonic() < deadline:
        listing = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}events/tenant={tenant}/")
        keys = [o["Key"] for o in listing.get("Contents", []) if "/." not in o["Key"]]
        rows = 0
        for k in keys:
            body = client.get_object(Bucket=bucket, Key=k)["Body"].read()
            rows += pq.ParquetFile(io.BytesIO(body)).metadata.num_rows
        if rows >= n:
            return rows
        time.sleep(3)
    raise AssertionError(f"only {rows} of {n} events reached staging within {timeout_s:.0f}s")


def test_staging_got_each_event_exactly_once(archived):
    assert archived["staged"] == N


def test_verify_ok_for_the_tenant(archived):
    code, out = run_cli("verify", "--worm", archived["prefix"], "--tenant", archived["tenant"])
    assert code == 0, out
    assert out.startswith("OK:") and f"{N} events in 2 chains, 1 alerts" in out, out


def test_trino_and_duckdb_count_every_event(archived):
    sql = f"SELECT count(*) AS n FROM events WHERE tenant = '{archived['tenant']}'"
    code, out = run_cli("query", "--engine", "trino", "--schema", archived["schema"], "--format", "json", sql)
    assert code == 0 and json.loads(out)["n"] == N, out
    code, out = run_cli("query", "--engine", "duckdb", "--worm", archived["prefix"], "--format", "json", sql)
    assert code == 0 and json.loads(out)["n"] == N, out


def test_alert_evidence_hashes_are_in_the_archive(archived):
    sql = ("SELECT event_id, hash_matches FROM alert_evidence "
           f"WHERE alert_id = '{archived['alert']['alert_id']}' ORDER BY sequence")
    for engine in (["--engine", "trino", "--schema", archived["schema"]],
                   ["--engine", "duckdb", "--worm", archived["prefix"]]):
        code, out = run_cli("query", *engine, "--format", "json", sql)
        rows = [json.loads(line) for line in out.splitlines()]
        assert code == 0 and [r["hash_matches"] for r in rows] == [True, True], out


def test_inclusion_proof_for_evidence_event(archived, tmp_path):
    ev = archived["alert"]["evidence"][1]
    proof_file = tmp_path / "proof.json"
    code, out = run_cli("prove", ev["event_id"], "--worm", archived["prefix"], "--tenant", archived["tenant"],
                        "-o", str(proof_file))
    assert code == 0, out
    p = json.loads(proof_file.read_text())
    assert p["event_hash"] == ev["event_hash"]
    code, out = run_cli("verify-proof", str(proof_file))
    assert code == 0 and out.startswith("OK:"), out
    moved = json.loads(json.dumps(p))  # relabelled into the other shard: the audit path still holds
    other = {0: 1, 1: 0}[moved["event"]["lineage"]["raw_partition"]]
    moved["chain_id"] = moved["event"]["chain"]["chain_id"] = f"{archived['tenant']}/audit.raw.app/{other}"
    proof_file.write_text(json.dumps(moved))
    code, out = run_cli("verify-proof", str(proof_file))
    assert code == 1 and out.startswith("FAILED: misplaced:"), out
    p["event"]["message"] = "edited"
    proof_file.write_text(json.dumps(p))
    code, out = run_cli("verify-proof", str(proof_file))
    assert code == 1 and "modified" in out, out


def download(cfg, prefix: str, dest: Path) -> Path:
    client, bucket = s3.client(cfg, "admin"), cfg.get("s3.worm_bucket")
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            p = dest / o["Key"][len(prefix):]
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
    return dest


def _rewrite(path: Path, fn) -> None:
    rows = layout.to_records(pq.read_table(path))
    pq.write_table(layout.to_table(fn(rows), "events"), path, compression="zstd")


def _tamper_cases(tenant: str):
    shards = [f"{tenant}/audit.raw.app/{p}" for p in (0, 1)]

    def files(root: Path) -> list[Path]:
        return sorted(root.glob(f"events/tenant={tenant}/*/*/*.parquet"))

    def of(rows: list[dict], k: int) -> list[int]:
        """Positions of shard k's rows in a file (sorted by chain_id, sequence)."""
        return [i for i, r in enumerate(rows) if r["chain"]["chain_id"] == shards[k]]

    def changed_field(root):
        def f(rows):
            rows[5]["actor"]["user"]["name"] = "mallory"
            return rows
        _rewrite(files(root)[0], f)

    def deleted_row(root):
        _rewrite(files(root)[0], lambda rows: rows[:3] + rows[4:])

    def swapped_rows(root):
        def f(rows):  # within one shard: across two, both orders are valid
            i, j = of(rows, 0)[2:4]
            rows[i], rows[j] = rows[j], rows[i]
            return rows
        _rewrite(files(root)[0], f)

    def moved_between_shards(root):
        def f(rows):
            rows[of(rows, 1)[1]]["chain"]["chain_id"] = shards[0]
            return rows
        _rewrite(files(root)[0], f)

    def moved_and_rehashed(root):
        def f(rows):  # shard 1's second row appended to shard 0, raw_partition and chain recomputed
            s0, s1 = of(rows, 0), of(rows, 1)
            e = dict(rows[s1[1]], lineage={**rows[s1[1]]["lineage"], "raw_partition": 0})
            moved = chain.link(e, chain.ChainState.of(rows[s0[-1]]))
            rest = [r for i, r in enumerate(rows) if i != s1[1]]
            return rest[:s0[-1] + 1] + [moved] + rest[s0[-1] + 1:]
        _rewrite(files(root)[0], f)

    def removed_file(root):
        files(root)[-1].unlink()

    def removed_digest(root):
        digests = sorted((root / "digests").glob("*.json"))
        digests[len(digests) // 2].unlink()

    def forged_digest(root):
        d = max((root / "digests").glob("*.json"))
        doc = json.loads(d.read_text())
        doc["events"]["tree_size"] += 1
        d.write_bytes(dg.encode(doc))

    return {"changed field": (changed_field, "modified"), "deleted row": (deleted_row, "missing"),
            "swapped rows": (swapped_rows, "reordered"), "removed file": (removed_file, "missing"),
            "moved between shards": (moved_between_shards, "misplaced"),
            # the source shard's gap comes before the target's signed head in the check
            "moved and rehashed": (moved_and_rehashed, "missing"),
            "removed digest": (removed_digest, "missing"), "forged digest": (forged_digest, "bad signature")}


def test_every_tamper_case_is_caught(archived, tmp_path):
    original = download(archived["cfg"], archived["prefix"], tmp_path / "original")
    code, out = run_cli("verify", "--worm", str(original), "--tenant", archived["tenant"])
    assert code == 0, out  # the untouched copy verifies
    assert len(list((original / "digests").glob("*.json"))) >= 3, "need periods on both sides of a digest"
    pub = next((original / "keys").glob("*.pem"))
    for name, (tamper, kind) in _tamper_cases(archived["tenant"]).items():
        copy = tmp_path / name.replace(" ", "_")
        shutil.copytree(original, copy)
        tamper(copy)
        code, out = run_cli("verify", "--worm", str(copy), "--tenant", archived["tenant"],
                            "--public-key", str(pub))
        assert code == 1 and out.startswith("BROKEN:") and f"kind: {kind}" in out, (name, out)


def test_worm_bucket_refuses_overwrite_delete_and_shortening(archived):
    cfg = archived["cfg"]
    client, bucket = s3.client(cfg, "admin"), cfg.get("s3.worm_bucket")
    key = next(o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=archived["prefix"] + "events/")
               ["Contents"] if f"tenant={archived['tenant']}/" in o["Key"])
    head = client.head_object(Bucket=bucket, Key=key)
    version, original = head["VersionId"], client.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > dt.datetime.now(dt.UTC)

    # an overwrite can only add a new version; the locked one stays, byte for byte
    client.put_object(Bucket=bucket, Key=key, Body=b"forged", ContentMD5=dg_md5(b"forged"))
    kept = client.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read()
    assert kept == original
    with pytest.raises(ClientError):
        client.delete_object(Bucket=bucket, Key=key, VersionId=version)
    with pytest.raises(ClientError):
        client.put_object_retention(Bucket=bucket, Key=key, VersionId=version, Retention={
            "Mode": "COMPLIANCE", "RetainUntilDate": dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)})
    with pytest.raises(ClientError):
        client.put_object_retention(Bucket=bucket, Key=key, VersionId=version, Retention={
            "Mode": "GOVERNANCE", "RetainUntilDate": head["ObjectLockRetainUntilDate"]})
    # the verifier notices the forged latest version (what the bucket serves) and names it
    code, out = run_cli("verify", "--worm", archived["prefix"], "--tenant", archived["tenant"])
    assert code == 1, out
    assert f"overwritten: {key[len(archived['prefix']):]} has a newer version" in out, out
    assert f"({version}, still intact and locked)" in out, out


def dg_md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()
