"""The sealer checks what it seals, retention and legal holds, on the real stack's S3 (SeaweedFS
with Object Lock) and schema registry: staged Confluent-wire Avro written straight into the
staging bucket (no Flink), sealed by the configured sealer, checked with `auditflow verify`,
`auditflow hold` and the S3 API.

Each test uses prefixes of its own (it/<uuid>...). Objects locked for seconds are deleted at the
end; the 7-year test's objects stay locked in a prefix of their own (it/sealcheck-7y-<uuid>/)."""

from __future__ import annotations

import copy
import datetime as dt
import io
import subprocess
import sys
import time
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditflow import config, registry, s3
from auditflow.archive import layout, sample, wiring
from auditflow.archive.seal import Sealer
from auditflow.archive.store import S3Store

PERIOD_S = 10
PERIOD = [f"archive.period_s={PERIOD_S}", "archive.grace_s=1"]


def serialized(cfg, records: list[dict]) -> list[bytes]:
    """Confluent-wire Avro under the registry's audit.events-value schema, as the archive job stages it."""
    ser = AvroSerializer(registry.client(cfg, "schema-admin"), registry.load_schema("audit_event").schema_str)
    ctx = SerializationContext("audit.events", MessageField.VALUE)
    return [ser(r, ctx) for r in records]


def stage(cfg, prefix: str, tenant: str, values: list[bytes], name: str = "part-0-0.parquet") -> None:
    buf = io.BytesIO()
    pq.write_table(pa.table({"value": pa.array(values, pa.binary())}), buf)
    hour = dt.datetime.now(dt.UTC)
    s3.client(cfg, "admin").put_object(Bucket=cfg.get("s3.staging_bucket"), Body=buf.getvalue(),
                              Key=f"{prefix}events/{layout.partition_path(tenant, hour)}{name}")


def at_a_period_start(period_s: int = PERIOD_S) -> None:
    """Sleep until a new sealing period has just begun. A staged file's period is the one its S3
    LastModified falls in, so files staged right after this (well within the period) are sealed
    together, however long building them took."""
    time.sleep(period_s - time.time() % period_s + 0.1)


def seal_now(cfg, prefix: str, key=None, say=print) -> list:
    """The configured sealer over our prefixes, with the clock moved past the staged files' period
    (so no test waits for a period to close)."""
    staging, worm = wiring.staging_store(cfg, prefix), wiring.worm_store(cfg, prefix, "sealer")
    sealer = wiring.sealer(cfg, staging, worm, say)
    if key is not None:
        sealer.key = key
    return sealer.seal_closed(now=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=12))


def cli(*args: str, sets: list[str]) -> subprocess.CompletedProcess:
    flags = [a for s in sets for a in ("--set", s)]
    return subprocess.run([sys.executable, "-m", "auditflow.cli", *flags, *args], capture_output=True,
                          text=True, timeout=300)


def delete_all(cfg, bucket: str, prefix: str) -> None:
    """Every version under prefix (their retention has passed, holds released)."""
    client = s3.client(cfg, "admin")
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            client.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])


def wait_until(iso: str) -> None:
    """Sleep until a digest's retain_until has passed (plus S3's clock rounding)."""
    until = dt.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    time.sleep(max(0.0, (until - dt.datetime.now(dt.UTC)).total_seconds()) + 2)


def wait_past_retention(cfg, bucket: str, key: str, version: str | None) -> None:
    """Sleep until the object's retain-until date (read from S3) has passed."""
    extra = {"VersionId": version} if version else {}
    got = s3.client(cfg, "admin").get_object_retention(Bucket=bucket, Key=key, **extra)
    until = got["Retention"]["RetainUntilDate"]
    time.sleep(max(0.0, (until - dt.datetime.now(dt.UTC)).total_seconds()) + 2)


def test_a_wrong_hash_and_an_undecodable_record_are_quarantined_the_rest_sealed(stack):
    run = uuid.uuid4().hex[:8]
    prefix = f"it/{run}q/"
    sets = [*PERIOD, "archive.retention=10s"]
    cfg = config.load(overrides=sets)
    start_ms = int(time.time() * 1000) - 60_000
    tenants = [f"it-q-{run}-{i}" for i in range(3)]
    events = {t: list(sample.chained(t, 20, start_ms, step_ms=10, seed=5)) for t in tenants}
    cid = {t: f"{t}/audit.raw.app/0" for t in tenants}  # sample events: one raw partition, one chain
    bad = copy.deepcopy(events[tenants[0]][7])
    bad["message"] = "rewritten in staging"
    staged = {tenants[0]: serialized(cfg, events[tenants[0]][:7] + [bad] + events[tenants[0]][8:]),
              tenants[1]: serialized(cfg, events[tenants[1]][:5]) + [b"\x00\xff\xff\xff\xff junk"]
              + serialized(cfg, events[tenants[1]][5:]),
              tenants[2]: serialized(cfg, events[tenants[2]])}
    at_a_period_start()  # all three in one period, so they are sealed (and asserted) as one
    for tenant, values in staged.items():
        stage(cfg, prefix, tenant, values)
    results = []
    try:
        results = [r for r in seal_now(cfg, prefix) if r.events or r.quarantined]
        assert len(results) == 1, [(r.period, r.events) for r in results]
        res = results[0]
        assert res.events == 59  # 60 staged events, one with a wrong hash
        got = [(q["kind"], q["tenant"], q["chain_id"], q["sequence"]) for q in res.quarantined]
        assert got == [("undecodable", tenants[1], None, None), ("modified", tenants[0], cid[tenants[0]], 8)]
        assert "schema id 4294967295 is unknown to the schema registry" in res.quarantined[0]["reason"]
        assert {c["chain_id"]: c["count"] for c in res.digest["chains"]} == {
            cid[tenants[0]]: 19, cid[tenants[1]]: 20, cid[tenants[2]]: 20}
        client, worm_bucket = s3.client(cfg, "admin"), cfg.get("s3.worm_bucket")
        for q in res.quarantined:  # locked like sealed data
            r = client.get_object_retention(Bucket=worm_bucket, Key=prefix + q["key"])["Retention"]
            assert r["Mode"] == "COMPLIANCE"
        staging_left = client.list_objects_v2(Bucket=cfg.get("s3.staging_bucket"), Prefix=prefix)
        assert staging_left.get("KeyCount", 0) == 0

        whole = cli("verify", "--worm", prefix, sets=sets)
        assert whole.returncode == 1, whole.stdout + whole.stderr
        lines = whole.stdout.splitlines()
        assert lines[0].startswith("QUARANTINED: 2 record(s) the sealer held back"), whole.stdout
        assert "59 events in 3 chains" in lines[0], whole.stdout
        assert lines[1].startswith(f"  period {res.period}: kind undecodable; chain -; sequence -; "
                                   f"quarantine/{res.period}/000001.json: undecodable"), whole.stdout
        assert lines[2].startswith(f"  period {res.period}: kind modified; chain {cid[tenants[0]]}; "
                                   f"sequence 8; "
                                   f"quarantine/{res.period}/000002.json: modified"), whole.stdout
        assert "Traceback" not in whole.stderr
        clean = cli("verify", "--worm", prefix, "--tenant", tenants[2], sets=sets)
        assert clean.returncode == 0, clean.stdout + clean.stderr
        assert clean.stdout.startswith("OK:") and "20 events in 1 chains" in clean.stdout, clean.stdout
        one = cli("verify", "--worm", prefix, "--tenant", tenants[0], sets=sets)
        assert one.returncode == 1 and one.stdout.startswith("QUARANTINED: 1 record(s)"), one.stdout
        assert "19 events in 1 chains" in one.stdout, one.stdout
    finally:
        for r in results:  # the 10 s locks run out
            wait_until(r.digest["retain_until"])
        delete_all(cfg, cfg.get("s3.worm_bucket"), prefix)
        delete_all(cfg, cfg.get("s3.staging_bucket"), prefix)


def test_a_sealed_object_of_a_seven_year_profile_is_locked_for_seven_years(stack, tmp_path):
    run = uuid.uuid4().hex[:8]
    prefix = f"it/sealcheck-7y-{run}/"  # stays locked: a prefix of its own
    file = tmp_path / "prod.toml"
    # endpoints from the local defaults; a non-local profile generates no credentials: it finds
    # the sealer's in credentials.dir, as a deployment would (here those `stack up` made)
    file.write_text("[profiles.prod.archive]\nperiod_s = 10\ngrace_s = 1\n")
    cfg = config.load("prod", file)
    assert config.retention(cfg) == dt.timedelta(days=7 * 365)
    tenant = f"it-7y-{run}"
    stage(cfg, prefix, tenant, serialized(cfg, list(sample.chained(tenant, 3, int(time.time() * 1000)))))
    staging, worm = wiring.staging_store(cfg, prefix), wiring.worm_store(cfg, prefix, "sealer")
    # the sealer as wiring builds it, with a key of this test (a non-local profile generates none)
    sealer = Sealer(staging, worm, Ed25519PrivateKey.generate(), wiring.decoder(cfg), period_s=10,
                    grace_s=1, retention_s=int(config.retention(cfg).total_seconds()))
    now = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=30)
    (res,) = [r for r in sealer.seal_closed(now=now) if r.events]
    assert res.events == 3
    client, bucket = s3.client(cfg, "admin"), cfg.get("s3.worm_bucket")
    want = now + dt.timedelta(days=7 * 365)
    for key in [*res.files, res.digest_key]:
        head = client.head_object(Bucket=bucket, Key=prefix + key)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert abs((head["ObjectLockRetainUntilDate"] - want).total_seconds()) <= 1, (key, head)
        with pytest.raises(ClientError) as exc:
            client.delete_object(Bucket=bucket, Key=prefix + key, VersionId=head["VersionId"])
        assert exc.value.response["Error"]["Code"] == "AccessDenied"
    assert res.digest["retain_until"] == want.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_seal_and_stack_up_refuse_a_lock_shorter_than_the_bucket_default(stack):
    run = uuid.uuid4().hex[:8]
    bucket = f"it-short-lock-{run}"
    client = s3.client(config.load(), "admin")
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    try:
        client.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2}}})
        # the sealer as `seal` builds it (on a bucket of its own: the sealer role may not touch it,
        # so the store is admin's)
        sets = [*PERIOD, "archive.retention=1d", "archive.allow_short_lock=false"]
        seal_cfg = config.load(overrides=sets)
        with pytest.raises(config.ConfigError) as exc:
            wiring.sealer(seal_cfg, wiring.staging_store(seal_cfg, f"it/{run}s/"),
                          S3Store(client, bucket, "a/"), print)
        assert str(exc.value) == (
            f"archive.retention (1d) is shorter than the default retention of bucket "
            f"{bucket} (2d): sealed objects would be deletable before the bucket's policy "
            "allows. Set archive.retention to at least that.")
        # `stack up`'s bucket set-up refuses to shorten the bucket's policy the same way
        cfg = config.load(overrides=[f"s3.worm_bucket={bucket}", f"s3.staging_bucket={bucket}",
                                     "archive.retention=1d", "archive.allow_short_lock=false"])
        with pytest.raises(config.ConfigError, match=rf"shorter than the default retention of bucket "
                                                     rf"{bucket} \(2d\)"):
            s3.ensure_buckets(cfg)
        lock = client.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
        assert lock["Rule"]["DefaultRetention"] == {"Mode": "COMPLIANCE", "Days": 2}
        assert client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0  # nothing sealed
    finally:
        client.delete_bucket(Bucket=bucket)


def test_a_legal_hold_blocks_delete_after_retention_until_released(stack):
    run = uuid.uuid4().hex[:8]
    prefix = f"it/{run}h/"
    sets = [*PERIOD, "archive.retention=5s"]
    cfg = config.load(overrides=sets)
    tenant, other = f"it-hold-{run}", f"it-hold-{run}-other"
    t0 = dt.datetime.now(dt.UTC)
    mine_values = serialized(cfg, list(sample.chained(tenant, 5, int(time.time() * 1000))))
    other_values = serialized(cfg, list(sample.chained(other, 5, int(time.time() * 1000))))
    at_a_period_start()  # both in the one period sealed below
    stage(cfg, prefix, tenant, mine_values)
    stage(cfg, prefix, other, other_values)
    worm_bucket = cfg.get("s3.worm_bucket")
    client = s3.client(cfg, "admin")
    res, released = None, False
    try:
        (res,) = [r for r in seal_now(cfg, prefix) if r.events]
        mine = [f for f in res.digest["files"] if f["tenant"] == tenant]
        assert len(mine) == 1
        rng = ["--tenant", tenant, "--from", (t0 - dt.timedelta(minutes=5)).isoformat(),
               "--to", (t0 + dt.timedelta(minutes=5)).isoformat(), "--worm", prefix]
        held = cli("hold", "set", *rng, sets=sets)
        assert held.returncode == 0, held.stdout + held.stderr
        assert held.stdout.splitlines()[-1] == (f"held 2 objects of tenant {tenant!r} in 1 periods "
                                                "(1 files and quarantined records, 1 digests)"), held.stdout
        f = mine[0]
        assert client.get_object_legal_hold(Bucket=worm_bucket, Key=prefix + f["key"],
                                            VersionId=f["version_id"])["LegalHold"] == {"Status": "ON"}
        ok = cli("verify", "--worm", prefix, sets=sets)
        assert ok.returncode == 0 and "; 1 objects under legal hold" in ok.stdout, ok.stdout + ok.stderr

        wait_past_retention(cfg, worm_bucket, prefix + f["key"], f["version_id"])
        with pytest.raises(ClientError) as exc:
            client.delete_object(Bucket=worm_bucket, Key=prefix + f["key"], VersionId=f["version_id"])
        assert exc.value.response["Error"]["Code"] == "AccessDenied"
        other_file = next(x for x in res.digest["files"] if x["tenant"] == other)  # not held: deletable
        client.delete_object(Bucket=worm_bucket, Key=prefix + other_file["key"],
                             VersionId=other_file["version_id"])

        rel = cli("hold", "release", *rng, "--digests", sets=sets)
        assert rel.returncode == 0, rel.stdout + rel.stderr
        released = True
        assert rel.stdout.splitlines()[-1].startswith(f"released 2 objects of tenant {tenant!r}")
        client.delete_object(Bucket=worm_bucket, Key=prefix + f["key"], VersionId=f["version_id"])
        with pytest.raises(ClientError) as gone:
            client.head_object(Bucket=worm_bucket, Key=prefix + f["key"], VersionId=f["version_id"])
        assert gone.value.response["Error"]["Code"] in ("404", "NoSuchKey", "NoSuchVersion")
    finally:
        if res is not None and not released:  # a failure above: let the clean-up delete them
            cli("hold", "release", "--tenant", tenant, "--from", "2000-01-01", "--to", "2100-01-01",
                "--worm", prefix, "--digests", sets=sets)
        if res is not None:  # the 5 s locks of the rest (digests, keys) run out
            wait_until(res.digest["retain_until"])
        delete_all(cfg, worm_bucket, prefix)
        delete_all(cfg, cfg.get("s3.staging_bucket"), prefix)
