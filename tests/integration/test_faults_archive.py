"""Faults on the archive path, on the real stack: S3 (SeaweedFS) stopped while the archive job
commits staging files and while `auditflow seal` runs, and the sealer killed with SIGKILL at
each of its steps (reading staging, uploading sealed files, after the digest). Afterwards every
event is staged exactly once, sealed exactly once, staging is empty and `auditflow verify`
passes, with nothing done by hand but running the sealer again."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_archive_job import SETS, produce, wait_for_staging

from auditflow import config, flink, s3
from auditflow.archive import sample
from auditflow.stack import lifecycle

JOB = Path(__file__).resolve().parents[2] / "jobs" / "archive.py"
TENANTS = 4
PER_TENANT = 100
N = TENANTS * PER_TENANT

# job start (600 s submission, 180 s to RUNNING), two stagings (180 s, 300 s), the period's close
# (75 s), a seal with S3 down (120 s), four sealer runs (120 s each)
pytestmark = pytest.mark.timeout(2100)


def seal_command(prefix: str) -> list[str]:
    return [sys.executable, "-m", "auditflow.cli", *SETS, "seal", "--staging", prefix, "--worm", prefix]


def worm_keys(cfg, prefix: str) -> set[str]:
    client, bucket = s3.client(cfg, "admin"), cfg.get("s3.worm_bucket")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def staged_values(cfg, prefix: str) -> list[bytes]:
    client, bucket = s3.client(cfg, "admin"), cfg.get("s3.staging_bucket")
    values = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}events/"):
        for o in page.get("Contents", []):
            if "/." in o["Key"] or "/_" in o["Key"]:
                continue
            body = client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            values += pq.read_table(io.BytesIO(body), columns=["value"]).column(0).to_pylist()
    return values


def kill_when(cfg, prefix: str, ready, poll_s: float = 0.02, timeout_s: float = 120) -> int:
    """Run the sealer; SIGKILL it once `ready(new worm keys)` holds. Its return code."""
    before = worm_keys(cfg, prefix)
    proc = subprocess.Popen(seal_command(prefix), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if ready(worm_keys(cfg, prefix) - before):
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(poll_s)
        return proc.wait(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_archive_survives_s3_outages_and_sealer_kills(stack, topics, flink_jobs):
    cfg = config.load(overrides=["archive.period_s=60", "archive.grace_s=15", "archive.retention=180s"])
    run = topics.run
    prefix = f"it/{run}f/"
    events_topic, alerts_topic = topics.unique("events"), topics.unique("alerts")
    topics.grant_pipeline(f"it-faults-archive-{run}", events=events_topic, alerts=alerts_topic)
    flink_jobs.track_named(flink.pipeline_job_name("archive", events_topic))
    job = flink_jobs.track(flink.start(
        cfg, JOB, ["--staging", f"s3://{cfg.get('s3.staging_bucket')}/{prefix}",
                   "--events-topic", events_topic, "--alerts-topic", alerts_topic,
                   "--group-id", f"it-faults-archive-{run}"], say=print))
    flink.wait_for_status(cfg, job, {"RUNNING"}, 180)
    start_ms = int(time.time() * 1000) - 1000
    tenants = [f"it-fault-{run}-{i}" for i in range(TENANTS)]
    batches = {t: list(sample.chained(t, PER_TENANT, start_ms, step_ms=10, seed=3)) for t in tenants}
    half = PER_TENANT // 2
    for t in tenants:
        produce(cfg, events_topic, "audit_event", t, batches[t][:half])
    for t in tenants:
        wait_for_staging(cfg, prefix, t, half)

    # S3 away while the job commits: checkpoints fail, the job restarts until S3 is back
    lifecycle.down(stack, only=["s3"])
    try:
        for t in tenants:
            produce(cfg, events_topic, "audit_event", t, batches[t][half:])
        time.sleep(20)
    finally:
        lifecycle.up(stack, only=["s3"])
    for t in tenants:
        wait_for_staging(cfg, prefix, t, PER_TENANT, timeout_s=300)
    values = staged_values(cfg, prefix)
    assert len(values) == N and len(set(values)) == N  # each event staged once
    flink.cancel(cfg, job)
    time.sleep(75)  # the staged files' period closes (period 60 s + grace 15 s)

    # S3 away during a seal: a clear error, no hang, nothing sealed
    lifecycle.down(stack, only=["s3"])
    try:
        proc = subprocess.run(seal_command(prefix), capture_output=True, text=True, timeout=120)
    finally:
        lifecycle.up(stack, only=["s3"])
    assert proc.returncode != 0
    assert cfg.get("s3.endpoint").split("//")[1] in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]

    # SIGKILL at each step: before anything reaches WORM, after the first sealed file, after the digest
    codes = [kill_when(cfg, prefix, lambda _new: True, poll_s=0.3),
             kill_when(cfg, prefix, lambda new: any(k.endswith(".parquet") for k in new)),
             kill_when(cfg, prefix, lambda new: any("/digests/" in k for k in new))]
    assert codes[0] == -signal.SIGKILL, codes  # the first kill always lands: it does not wait for S3
    deadline = time.monotonic() + 300
    while staged_values(cfg, prefix):
        proc = subprocess.run(seal_command(prefix), capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert time.monotonic() < deadline, "staging not sealed within 300 s"
        time.sleep(5)
    for t in tenants:
        proc = subprocess.run([sys.executable, "-m", "auditflow.cli", *SETS, "verify", "--worm", prefix,
                               "--tenant", t], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.startswith("OK:"), proc.stdout
        assert f"{PER_TENANT} events in 1 chains" in proc.stdout, proc.stdout
