"""Witnesses and continuous verification on the real stack (SeaweedFS with Object Lock, Kafka,
the registry): an archive sealed by `auditflow seal` into a WORM prefix of its own, co-signed by
`auditflow witness` into a bucket of its own; then its last period rewritten and re-signed with
the archive's REAL signing key. `auditflow verify` alone still says OK; with the witness's key
it is refused, and the witness refuses to co-sign. `verify --watch` running as a process raises
an INTEGRITY-001 alert on a Kafka topic of the test's own once a sealed object is tampered with.

Staged files are written straight into the staging bucket as the archive job writes them
(Confluent-wire Avro in a `value` column), so no Flink job is needed. Sealed objects keep a
90 s COMPLIANCE lock; the witness bucket (no Object Lock) is deleted afterwards."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from confluent_kafka import Consumer, KafkaError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditflow import config, kafka, registry, s3
from auditflow.archive import digest as dg
from auditflow.archive import layout, sample
from auditflow.archive.store import S3Store
from udfs import chain, merkle, wire

CLI = [sys.executable, "-m", "auditflow.cli"]
PERIOD_S, GRACE_S = 10, 2
SETS = ["--set", f"archive.period_s={PERIOD_S}", "--set", f"archive.grace_s={GRACE_S}",
        "--set", "archive.retention=90s", "--set", "stack.trino=false"]
PER_PERIOD, PERIODS = 8, 3

pytestmark = pytest.mark.timeout(600)


def pem_private(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def run(args: list[str], env: dict, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *SETS, *args], capture_output=True, text=True, env=env, timeout=timeout)


class Archive:
    """One sealed archive of the test's own: signing and witness keys passed in the environment
    (never on a command line), public keys in files as an auditor keeps them."""

    def __init__(self, cfg: config.Config, tmp: Path):
        self.cfg, self.run = cfg, uuid.uuid4().hex[:8]
        self.prefix, self.tenant = f"it/{self.run}w/", f"it-witness-{self.run}"
        self.key, self.wkey = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
        self.pub, self.wpub = tmp / "archive.pem", tmp / "witness.pem"
        self.pub.write_bytes(dg.public_pem(self.key.public_key()))
        self.wpub.write_bytes(dg.public_pem(self.wkey.public_key()))
        self.wid = dg.key_id(self.wkey.public_key())
        self.env = {**os.environ, "AUDITFLOW_SIGNING_KEY": pem_private(self.key),
                    "AUDITFLOW_WITNESS_KEY": pem_private(self.wkey)}
        self.client = s3.client(cfg, "admin")
        self.worm = S3Store(self.client, cfg.get("s3.worm_bucket"), self.prefix)
        # the witness role may write only its own bucket: a prefix of this run's in it
        self.witness_bucket, self.witness_prefix = cfg.get("witness.bucket"), f"it-{self.run}/w/"
        self.subject = f"it.{self.run}.events-value"
        self.subjects = [self.subject]  # registry subjects to delete (producers register them)

    def seal(self) -> None:
        reg = registry.client(self.cfg, "schema-admin")
        schema_id = reg.register_schema(self.subject, registry.load_schema("audit_event"))
        encode = wire.Encoder(schema_id, layout.load_avsc("events"))
        staging = S3Store(self.client, self.cfg.get("s3.staging_bucket"), self.prefix)
        events = list(sample.chained(self.tenant, PER_PERIOD * PERIODS, int(time.time() * 1000), step_ms=10))
        for i in range(PERIODS):  # one staged file in each of three consecutive periods
            if i:
                time.sleep(PERIOD_S - time.time() % PERIOD_S + 0.5)
            batch = events[i * PER_PERIOD:(i + 1) * PER_PERIOD]
            table = pa.table({"value": pa.array([encode(e) for e in batch], pa.binary())})
            buf = pa.BufferOutputStream()
            pq.write_table(table, buf)
            now = dt.datetime.now(dt.UTC)
            staging.put(f"events/{layout.partition_path(self.tenant, now)}part-{i}.parquet",
                        buf.getvalue().to_pybytes())
        time.sleep(PERIOD_S - time.time() % PERIOD_S + GRACE_S + 1)  # the last period closes
        proc = run(["seal", "--staging", self.prefix, "--worm", self.prefix], self.env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert [o.key for o in staging.list()] == []  # every staged file sealed
        assert len(self.digests()) >= PERIODS

    def digests(self) -> list[str]:
        return sorted(o.key for o in self.worm.list("digests/"))

    def witness(self) -> subprocess.CompletedProcess:
        return run(["witness", "--once", "--worm", self.prefix, "--public-key", str(self.pub),
                    "--storage", f"s3://{self.witness_bucket}/{self.witness_prefix}"], self.env)

    def verify(self, *extra: str) -> subprocess.CompletedProcess:
        return run(["verify", "--worm", self.prefix, "--public-key", str(self.pub), *extra], self.env)

    def cleanup(self) -> None:
        if s3.bucket_exists(self.client, self.witness_bucket):
            versions = self.client.list_object_versions(Bucket=self.witness_bucket,
                                                        Prefix=self.witness_prefix)
            for v in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
                self.client.delete_object(Bucket=self.witness_bucket, Key=v["Key"], VersionId=v["VersionId"])
        reg = registry.client(self.cfg, "schema-admin")
        for subject in set(reg.get_subjects()) & set(self.subjects):
            reg.delete_subject(subject)
            reg.delete_subject(subject, permanent=True)


@pytest.fixture
def archive(stack, tmp_path):
    a = Archive(config.load(overrides=SETS[1::2]), tmp_path)
    try:
        a.seal()
        yield a
    finally:
        a.cleanup()


def rewrite_last_period(a: Archive) -> tuple[str, str]:
    """Edit one event of the last period, relink its chain from the previous digest's head and
    re-sign the digest with the archive's real key: new object versions over the locked ones.
    Returns (digest key, SHA-256 of the digest the witness saw)."""
    keys = a.digests()
    last_key, prev_key = keys[-1], keys[-2]
    old_raw = a.worm.get(last_key)
    doc, prev = json.loads(old_raw), json.loads(a.worm.get(prev_key))
    f = next(f for f in doc["files"] if f["kind"] == "events")
    rows = layout.to_records(layout.read_parquet(a.worm.get(f["key"])))
    rows[2]["message"] = "nothing to see here"
    cid = rows[0]["chain"]["chain_id"]
    state = chain.ChainState(cid, *prev["heads"][cid])
    relinked = []
    for r in rows:
        r = chain.link({k: v for k, v in r.items() if k != "chain"}, state, chain_id=cid)
        state = chain.ChainState.of(r)
        relinked.append(r)
    data = layout.parquet_bytes(layout.to_table(relinked, "events"))
    retain = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=90)
    version = a.worm.put(f["key"], data, retain_until=retain)
    f.update(sha256=dg.sha256(data), bytes=len(data), version_id=version)
    doc["events"]["merkle_root"] = merkle.merkle_root([r["chain"]["event_hash"] for r in relinked])
    c = next(c for c in doc["chains"] if c["chain_id"] == cid)
    c.update(first_hash=relinked[0]["chain"]["event_hash"], last_hash=relinked[-1]["chain"]["event_hash"])
    doc["heads"][cid] = [relinked[-1]["chain"]["sequence"], relinked[-1]["chain"]["event_hash"]]
    a.worm.put(last_key, dg.encode(dg.sign(doc, a.key)), retain_until=retain)
    return last_key, dg.sha256(old_raw)


def test_a_history_resigned_with_the_real_key_needs_the_witness_to_be_caught(archive):
    a = archive
    digests = a.digests()
    proc = a.witness()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr.count("co-signed digests/") == len(digests), proc.stderr
    periods = [k.removeprefix("digests/").removesuffix(".json") for k in digests]
    assert sorted(o.key for o in a.worm.list("witness/")) == [f"witness/{a.wid}/{p}.json" for p in periods]
    own = S3Store(a.client, a.witness_bucket, a.witness_prefix)
    assert sorted(o.key for o in own.list("cosignatures/")) == [f"cosignatures/{p}.json" for p in periods]
    assert json.loads(own.get("state.json"))["key"] == digests[-1]
    proc = a.verify("--witness", str(a.wpub))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"OK: {len(digests)} digests"), proc.stdout

    last_key, seen_sha = rewrite_last_period(a)
    proc = a.verify()  # the signature and every chain check out: the real key signed it
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"OK: {len(digests)} digests"), proc.stdout
    assert f"{PER_PERIOD * PERIODS} events in 1 chains" in proc.stdout, proc.stdout

    proc = a.verify("--witness", str(a.wpub))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"BROKEN: unwitnessed: {last_key}: witness {a.wid} co-signed a digest with "
                                  f"SHA-256 {seen_sha[:16]}..."), proc.stdout
    assert f"kind: unwitnessed; tenant/chain: -; sequence: -; period: {periods[-1]}" in proc.stdout, (
        proc.stdout)

    for _ in range(2):  # the witness refuses, and keeps refusing
        proc = a.witness()
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert f"REFUSED to co-sign: {last_key} now hashes to" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr, proc.stderr
    cos = json.loads(a.worm.get(f"witness/{a.wid}/{periods[-1]}.json"))
    assert cos["digest_sha256"] == seen_sha  # still the cosignature of what the witness saw
    assert json.loads(own.get("state.json"))["sha256"] == seen_sha
    assert [o.key.split("-")[0] for o in own.list("conflicts/")] == [f"conflicts/{periods[-1]}"]


def read_alerts(cfg, topic: str, want: int, timeout_s: float) -> list[dict]:
    """Every alert on `topic`, decoded with the registry, once `want` are there (or timeout_s)."""
    decode = registry.Decoder(cfg, "alert", "analyst")
    c = Consumer(kafka.client_conf(cfg, "admin", **{"group.id": f"it-{uuid.uuid4().hex}",
                                           "auto.offset.reset": "earliest"}))
    c.subscribe([topic])
    out: list[dict] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and len(out) < want:
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                continue
            out.append(decode(msg.value()))
    finally:
        c.close()
    return out


def test_verify_watch_raises_integrity_001_when_a_sealed_object_is_tampered_with(archive, topics, tmp_path):
    a = archive
    topic = topics.unique("alerts", partitions=1)
    a.subjects.append(f"{topic}-value")
    topics.grant_pipeline(f"it-watch-{topics.run}", alerts=topic)  # witness writes it; its schema
    state = tmp_path / "watch.json"
    cmd = [*CLI, *SETS, "--set", f"watch.alerts_topic={topic}", "--set", "watch.slack_s=3600",
           "verify", "--watch", "--interval", "2", "--worm", a.prefix, "--public-key", str(a.pub),
           "--state", str(state)]
    proc = subprocess.Popen(cmd, env=a.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        last = a.digests()[-1]
        deadline = time.monotonic() + 120
        while not (state.exists() and (json.loads(state.read_text()).get("last") or {}).get("key") == last):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the watcher did not verify the archive within 120 s"
            time.sleep(0.5)
        assert read_alerts(a.cfg, topic, 1, 5) == []  # an intact archive raises nothing

        first = json.loads(a.worm.get(a.digests()[0]))
        f = next(f for f in first["files"] if f["kind"] == "events")
        rows = layout.to_records(layout.read_parquet(a.worm.get(f["key"])))
        rows[0]["message"] = "forged"
        a.worm.put(f["key"], layout.parquet_bytes(layout.to_table(rows, "events")),
                   retain_until=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=90))

        (alert,) = read_alerts(a.cfg, topic, 1, 60)
        url = f"s3://{a.cfg.get('s3.worm_bucket')}/{a.prefix}"
        pid = first["period"]["id"]
        assert (alert["rule_id"], alert["severity"], alert["severity_id"]) == ("INTEGRITY-001", "critical", 5)
        assert (alert["tenant_id"], alert["entity_type"]) == (a.tenant, "archive")
        assert alert["entity_value"].startswith(f"{url}: modified: {f['key']} now hashes to "), alert
        assert alert["entity_value"].endswith(f"verified as {f['sha256'][:16]}... (changed after it was "
                                              "sealed and verified)"), alert
        assert alert["dedup_key"] == f"INTEGRITY-001|{url}|modified|{pid}"
        start_ms = int(dt.datetime.fromisoformat(first["period"]["start"]).timestamp() * 1000)
        assert (alert["window_start"], alert["window_end"]) == (start_ms, start_ms + PERIOD_S * 1000)
        assert alert["mitre"] == ["T1565.001", "T1070"] and alert["evidence"] == []
        time.sleep(6)  # three more rounds: the same finding is not raised again
        assert len(read_alerts(a.cfg, topic, 2, 5)) == 1
        assert proc.poll() is None
    finally:
        proc.terminate()
        try:
            _out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _out, err = proc.communicate()
    assert "Traceback" not in err, err[-3000:]
    assert f"ALERT INTEGRITY-001 critical: {url}: modified: {f['key']}" in err, err[-3000:]
