"""jobs/detect.py on the real stack: canonical Avro events in, exactly the expected alerts out.

Produces events of a fresh tenant (registry AvroSerializer, schemas/audit_event.avsc) to a
per-run events topic, submits the detect job with every rule to the session cluster with
`flink run -py`, and reads its per-run alerts topic read_committed: a brute force, a privilege
grant outside any change window, a CloudTrail StopLogging and a Kubernetes exec must each raise
one alert, nothing else may. An event sent after the watermark passed it must show up as late for
the brute-force rule, in the per-run late topic and in the job's Flink metrics. The job is
cancelled and its topics and checkpoints are deleted at the end.

Every topic is the test's own: a read_committed reader of a shared topic (audit.alerts,
audit.detect.late) stops at its last stable offset, so a transaction left open there by another
detect job (a demo's, cancelled mid-checkpoint) hides everything after it until the broker
aborts it, long after this test has given up.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from auditflow import flink, kafka, registry
from udfs.detect import fixtures

REPO = Path(__file__).resolve().parents[2]


def reader(cfg, topic: str) -> Consumer:
    """A read_committed consumer of `topic` from its start, in a group of its own."""
    consumer = Consumer(kafka.client_conf(cfg, "admin", **{
        "group.id": f"test-detect-{uuid.uuid4().hex[:8]}", "auto.offset.reset": "earliest",
        "isolation.level": "read_committed", "enable.auto.commit": False}))
    consumer.subscribe([topic])
    return consumer


def drain(consumer: Consumer, keep, until, timeout_s: float) -> list:
    """Poll; keep(msg) -> item or None; stop when until(items) or after timeout_s."""
    items: list = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not until(items):
        msg = consumer.poll(1.0)
        if msg is None or msg.error():
            continue
        item = keep(msg)
        if item is not None:
            items.append(item)
    return items


def wait_late_watermark(cfg, job_id: str, past_ms: int, timeout_s: float = 120) -> int:
    """Block until the job's late statements have a watermark beyond `past_ms` (Flink REST)."""
    deadline = time.monotonic() + timeout_s
    while (wm := flink.late_watermark(cfg, job_id)) is None or wm <= past_ms:
        assert time.monotonic() < deadline, f"the late statements' watermark is {wm}, not past {past_ms}"
        time.sleep(1)
    return wm


# submission (flink run, up to 600 s) + alerts (300 s) + extras (20 s) + late (60 s) + metrics (60 s)
@pytest.mark.timeout(1200)
def test_detect_job_raises_exactly_the_expected_alerts(cfg, topics, flink_jobs):
    run = topics.run
    tenant = f"detect-it-{run}"
    topic = topics.unique("events", 3)
    alerts_topic, late_topic = topics.unique("alerts", 3), topics.unique("late", 3)
    group = f"auditflow-detect-it-{run}"
    topics.grant_pipeline(group, events=topic, alerts=alerts_topic, late=late_topic)
    produce, flush = kafka.event_producer(cfg, topic, role="admin")
    t0 = int(time.time() * 1000) - 120_000
    seq = iter(range(1, 10_000))
    sent: dict[str, dict] = {}

    def send(event_id: str, offset_ms: int, **fields) -> None:
        flat = {"event_id": f"{tenant}-{event_id}", "tenant_id": tenant, "event_time": t0 + offset_ms,
                **fields}
        event = fixtures.avro_event(flat, next(seq))
        sent[flat["event_id"]] = event
        produce(event, tenant.encode())

    # brute force: six failed ssh logons of alice in 30 s (five make the match)
    for i in range(6):
        send(f"fail{i}", i * 5_000, class_uid=3002, activity_id=1, status_id=2, user_name="alice",
             src_ip="203.0.113.7", product_name="OpenSSH")
    # benign: successful logons of bob, a read
    send("ok1", 40_000, class_uid=3002, activity_id=1, status_id=1, user_name="bob", product_name="OpenSSH")
    send("read", 41_000, class_uid=6003, activity_id=2, status_id=1, user_name="bob",
         api_operation="GetObject", api_service="s3.amazonaws.com", product_name="CloudTrail")
    # privilege escalation: AdministratorAccess attached, no change window for this tenant
    send("attach", 50_000, class_uid=3001, activity_id=7, status_id=1, user_name="mallory",
         user_type="IAMUser", api_operation="AttachUserPolicy", api_service="iam.amazonaws.com",
         product_name="CloudTrail",
         resource_name="mallory", resource_type="User",
         resource2_uid="arn:aws:iam::aws:policy/AdministratorAccess", resource2_type="Policy")
    # log tampering: CloudTrail StopLogging
    send("stop", 55_000, class_uid=6003, activity_id=3, status_id=1, user_name="Ops", user_type="AssumedRole",
         api_operation="StopLogging", api_service="cloudtrail.amazonaws.com", product_name="CloudTrail",
         resource_name="management-events", resource_type="AWS::CloudTrail::Trail")
    # Kubernetes exec into a pod
    send("exec", 60_000, class_uid=6003, activity_id=1, status_id=1, user_name="dev@example.com",
         user_type="User", api_operation="create", api_service="core", product_name="Kubernetes",
         resource_type="pods/exec", resource_name="payments-api-0", resource_namespace="payments")
    # moves the watermark past everything above (windows, patterns and temporal joins emit)
    send("tick", 600_000, class_uid=0, activity_id=99)
    assert flush() == 0

    args = ["--events-topic", topic, "--alerts-topic", alerts_topic, "--late-topic", late_topic,
            "--group-id", group, "--startup-mode", "earliest-offset"]
    # a submission that times out or fails may still have started the job
    flink_jobs.track_named(flink.pipeline_job_name("detect", topic))
    cmd = flink.run_command(cfg, REPO / "jobs" / "detect.py", args, detached=True)
    proc = subprocess.run(cmd, env=flink.cli_env(cfg), capture_output=True, text=True, timeout=600, cwd=REPO)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "16 rule(s) valid" in out or "rule(s) valid" in out, out[-2000:]
    job_id = flink_jobs.track(re.search(r"JobID ([0-9a-f]{32})", out).group(1))
    decode = registry.Decoder(cfg, "alert", "analyst")
    # StopLogging also matches the imported Sigma rule aws_cloudtrail_disable_logging, which
    # [detect] disabled leaves out by default: TAMP-001 alerts on it once
    expected = {("AUTH-001", "alice"), ("PRIV-001", "mallory"), ("TAMP-001", "Ops"),
                ("K8S-001", "dev@example.com")}

    def mine(msg):
        alert = decode(msg.value())
        return alert if alert["tenant_id"] == tenant else None

    alerts_reader = reader(cfg, alerts_topic)
    alerts = drain(alerts_reader, mine, lambda items: len(items) >= len(expected), timeout_s=300)
    # the late event: behind the watermark (tick) by almost ten minutes, in AUTH-001's input. The
    # late statements see the shared source's watermark only as it reaches their filters: send it
    # once it has passed it there (the alerts above show the rules' operators; sent earlier, it is on time)
    wait_late_watermark(cfg, job_id, t0 + 120_000)
    send("late", 120_000, class_uid=3002, activity_id=1, status_id=2, user_name="alice")
    assert flush() == 0
    # anything beyond the expected alerts would arrive within a few checkpoints
    alerts += drain(alerts_reader, mine, lambda items: False, timeout_s=20)
    alerts_reader.close()
    got = {}
    for a in alerts:
        got.setdefault((a["rule_id"], a["entity_value"]), []).append(a)
    assert set(got) == expected, f"alerts: {sorted((a['rule_id'], a['entity_value']) for a in alerts)}"
    # exactly once: one alert per rule and entity, as many times as produced (here once)
    assert {k: len(v) for k, v in got.items()} == dict.fromkeys(expected, 1)

    brute = got[("AUTH-001", "alice")][0]
    assert brute["event_count"] == 5 and brute["severity"] == "medium" and brute["entity_type"] == "user"
    assert [e["event_id"] for e in brute["evidence"]] == [f"{tenant}-fail{i}" for i in range(5)]
    assert brute["window_start"] == t0 and brute["window_end"] == t0 + 60_000
    assert brute["mitre"] == ["T1110.001", "T1110"] and brute["dedup_key"] == f"AUTH-001|{tenant}|alice"
    for alert in alerts:  # evidence points at the events by chain position and hash
        for ev in alert["evidence"]:
            chain = sent[ev["event_id"]]["chain"]
            assert (ev["chain_id"], ev["sequence"], ev["event_hash"]) == \
                (chain["chain_id"], chain["sequence"], chain["event_hash"])
        assert alert["created_at"] >= alert["last_seen"]
    assert got[("TAMP-001", "Ops")][0]["severity"] == "high"
    assert [e["event_id"] for e in got[("PRIV-001", "mallory")][0]["evidence"]] == [f"{tenant}-attach"]
    exec_alert = got[("K8S-001", "dev@example.com")][0]
    assert [e["event_id"] for e in exec_alert["evidence"]] == [f"{tenant}-exec"]

    late_reader = reader(cfg, late_topic)
    marker = f"{tenant}-late".encode()
    late = drain(late_reader, lambda m: m.key().decode() if marker in m.value() else None,
                 lambda items: "AUTH-001" in items, timeout_s=60)
    late_reader.close()
    assert "AUTH-001" in late
    deadline = time.monotonic() + 60  # Flink's metric store refreshes every 10 s
    while (metrics := flink.job_late_metrics(cfg, job_id)).get("AUTH-001", 0) < 1:
        assert time.monotonic() < deadline, f"late_rule_auth_001 metrics: {metrics}"
        time.sleep(5)
