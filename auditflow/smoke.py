"""The end-to-end smoke path: Kafka -> Flink -> Parquet in S3 -> WORM -> Trino and DuckDB.

Each step uses the real service and each count is taken independently, so a loss anywhere
shows as a mismatch rather than being hidden.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import time
import uuid
from dataclasses import dataclass, field

import duckdb
import pyarrow.dataset as ds
from botocore.exceptions import ClientError
from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from auditflow import flink, kafka, paths, registry, s3
from auditflow.archive import query
from auditflow.config import Config, retention
from auditflow.stack.process import StackError

JOB = paths.JOBS / "smoke_archive.py"


@dataclass
class SmokeResult:
    expected: int
    counts: dict[str, int | str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def sample_event(i: int, run_id: str, now_ms: int) -> dict:
    """A minimal canonical event (OCSF API Activity, Read)."""
    return {
        "event_id": str(uuid.uuid4()),
        "tenant_id": "smoke",
        "time": dt.datetime.fromtimestamp((now_ms + i) / 1000, dt.UTC),
        "class_uid": 6003, "category_uid": 6, "activity_id": 2, "type_uid": 600302,
        "severity_id": 1,
        "message": f"smoke event {i} of run {run_id}",
        "metadata": {"product": {"name": "auditflow-smoke"}},
    }


def produce(cfg: Config, topic: str, n: int, run_id: str) -> int:
    """Send n events with acks=all and idempotence; return how many the broker acknowledged."""
    admin = kafka.admin(cfg)
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result()
    serializer = AvroSerializer(registry.client(cfg, "admin"), registry.load_schema("audit_event").schema_str)
    producer = Producer(kafka.producer_conf(cfg, "admin"))  # a stack check: the stack's owner
    acked, errors = 0, []

    def on_delivery(err, _msg) -> None:
        nonlocal acked
        if err:
            errors.append(str(err))
        else:
            acked += 1

    now_ms = int(time.time() * 1000)
    ctx = SerializationContext(topic, MessageField.VALUE)
    for i in range(n):
        value = serializer(sample_event(i, run_id, now_ms), ctx)
        producer.produce(topic, key=b"smoke", value=value, on_delivery=on_delivery)
        producer.poll(0)
    remaining = producer.flush(60)
    if remaining or errors:
        raise StackError(f"producer: {remaining} undelivered, errors: {errors[:3]}")
    return acked


def staged_files(cfg: Config, prefix: str) -> list[str]:
    """Committed files under prefix (Flink leaves in-progress files hidden with a dot)."""
    client = s3.client(cfg, "sealer")
    bucket = cfg.get("s3.staging_bucket")
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            name = obj["Key"].rsplit("/", 1)[-1]
            if not name.startswith((".", "_")):
                keys.append(obj["Key"])
    return keys


def copy_to_worm(cfg: Config, keys: list[str], dest_prefix: str) -> list[tuple[str, str]]:
    """Upload each staged file into the WORM bucket with COMPLIANCE retention and Content-MD5."""
    client = s3.client(cfg, "sealer")
    conf = cfg.section("s3")
    until = dt.datetime.now(dt.UTC) + retention(cfg)
    out = []
    for key in keys:
        body = client.get_object(Bucket=conf["staging_bucket"], Key=key)["Body"].read()
        dest = dest_prefix + key.rsplit("/", 1)[-1] + ".parquet"
        resp = client.put_object(
            Bucket=conf["worm_bucket"], Key=dest, Body=body,
            ContentMD5=base64.b64encode(hashlib.md5(body).digest()).decode(),
            ObjectLockMode=conf["retention_mode"], ObjectLockRetainUntilDate=until,
        )
        out.append((dest, resp["VersionId"]))
    return out


def worm_refusals(cfg: Config, key: str, version: str) -> list[str]:
    """Try to delete a locked version and to shorten its retention; return what was allowed.
    As admin: not even the stack's super user may."""
    client = s3.client(cfg, "admin")
    bucket = cfg.get("s3.worm_bucket")
    allowed = []
    attempts = {
        "delete of a locked version": lambda: client.delete_object(
            Bucket=bucket, Key=key, VersionId=version),
        "retention shortening": lambda: client.put_object_retention(
            Bucket=bucket, Key=key, VersionId=version,
            Retention={"Mode": "COMPLIANCE",
                       "RetainUntilDate": dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)}),
    }
    for what, attempt in attempts.items():
        try:
            attempt()
            allowed.append(what)
        except ClientError:
            pass
    return allowed


def duckdb_count(cfg: Config, prefix: str) -> int:
    conf = cfg.section("s3")
    fs = s3.arrow_fs(cfg, "auditor")
    dataset = ds.dataset(f"{conf['worm_bucket']}/{prefix}", filesystem=fs, format="parquet")
    con = duckdb.connect()
    con.register("events", dataset)
    return con.execute("SELECT count(*) FROM events").fetchall()[0][0]


def trino_count(cfg: Config, prefix: str, run_id: str) -> int:
    t = cfg.section("trino")
    # the stack's own check, as its admin: it makes a schema of its own outside the archive's
    cur = query.trino_conn(cfg, "default", role="admin").cursor()
    table = f"{t['catalog']}.smoke.run_{run_id.replace('-', '_')}"
    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {t['catalog']}.smoke")
    cur.fetchall()
    cur.execute(
        f"CREATE TABLE IF NOT EXISTS {table} (event_id varchar, tenant_id varchar) "
        f"WITH (external_location = 's3://{cfg.get('s3.worm_bucket')}/{prefix}', "
        "format = 'PARQUET')"
    )
    cur.fetchall()
    cur.execute(f"SELECT count(*) FROM {table}")
    return int(cur.fetchall()[0][0])


def run(cfg: Config, n: int, say=print) -> SmokeResult:
    run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
    topic, prefix = f"audit.smoke.{run_id}", f"smoke/{run_id}/"
    result = SmokeResult(expected=n)
    say(f"smoke run {run_id}: producing {n} Avro events to {topic}")
    result.counts["produced (acked)"] = produce(cfg, topic, n, run_id)

    output = f"s3://{cfg.get('s3.staging_bucket')}/{prefix}"
    say(f"running the Flink job: {topic} -> {output} (Parquet)")
    flink.submit(cfg, JOB, ["--topic", topic, "--output", output], say=say)
    keys = staged_files(cfg, prefix)
    if not keys:
        raise StackError(f"the Flink job finished but wrote no committed file under {output}")

    say(f"copying {len(keys)} Parquet file(s) into the WORM bucket with COMPLIANCE retention")
    uploaded = copy_to_worm(cfg, keys, prefix)
    allowed = worm_refusals(cfg, *uploaded[0])
    result.counts["worm refusals"] = "delete and retention shortening refused" if not allowed else (
        "ALLOWED: " + ", ".join(allowed))
    if allowed:
        result.problems.append("the WORM bucket allowed " + " and ".join(allowed))

    say("counting rows with DuckDB")
    result.counts["duckdb rows"] = duckdb_count(cfg, prefix)
    if cfg.get("stack.trino"):
        say("counting rows with Trino")
        result.counts["trino rows"] = trino_count(cfg, prefix, run_id)
    for key, value in result.counts.items():
        if isinstance(value, int) and value != n:
            result.problems.append(f"{key} = {value}, expected {n}")
    return result
