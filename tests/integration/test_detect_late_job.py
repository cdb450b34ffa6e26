"""Late events evaluated: the detect job on the real stack, `auditflow rules late` and `rules status`.

Events of a fresh tenant go to a per-run events topic; the detect job (AUTH-001, brute force)
raises alice's brute force on time, and a tick moves its watermark 20 minutes on. Then, behind
the watermark: carol's five failed logons 15 minutes late (the CloudTrail case: no on-time
alert exists for them), one more failure of alice inside her alerted window (folds into the
alert raised on time: no second alert), and one failure of dave two hours late (beyond
[detect] late_max_ms: dropped, with the backfill command). `auditflow rules late --once`
must then add exactly one alert, carol's, marked with its lateness; a second run nothing.
`auditflow rules status --job` must show the job's per-rule counts and the late outcomes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_detect import drain, reader, wait_late_watermark

from auditflow import flink, kafka, registry
from udfs.detect import fixtures
from udfs.detect import rules as R

REPO = Path(__file__).resolve().parents[2]
MINUTE = 60_000


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "auditflow.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=REPO, env={**os.environ, **env, "PYTHONPATH": str(REPO)})


# submission (600 s) + on-time alert (300 s) + late records (120 s) + two late runs + status (120 s)
@pytest.mark.timeout(1500)
def test_late_events_are_evaluated_once_and_marked_late(cfg, topics, flink_jobs):
    run = topics.run
    tenant = f"late-it-{run}"
    events_topic, alerts_topic = topics.unique("events", 3), topics.unique("alerts", 3)
    late_topic, results_topic = topics.unique("late", 3), topics.unique("late-results", 3)
    late_group = f"auditflow-detect-late-it-{run}"
    topics.grant_pipeline(late_group, events=events_topic, alerts=alerts_topic, late=late_topic,
                          late_results=results_topic)
    env = {"AUDITFLOW_DETECT__EVENTS_TOPIC": events_topic, "AUDITFLOW_DETECT__ALERTS_TOPIC": alerts_topic,
           "AUDITFLOW_DETECT__LATE_TOPIC": late_topic, "AUDITFLOW_DETECT__LATE_RESULTS_TOPIC": results_topic,
           "AUDITFLOW_DETECT__LATE_GROUP_ID": late_group}
    produce, flush = kafka.event_producer(cfg, events_topic, role="admin")
    t0 = int(time.time() * 1000) - 30 * MINUTE
    seq = iter(range(1, 10_000))

    def fail(event_id: str, at_ms: int, user: str) -> None:
        flat = {"event_id": f"{tenant}-{event_id}", "tenant_id": tenant, "event_time": at_ms,
                "class_uid": 3002, "activity_id": 1, "status_id": 2, "user_name": user,
                "src_ip": "203.0.113.7", "product_name": "OpenSSH"}
        produce(fixtures.avro_event(flat, next(seq)), tenant.encode())

    for i in range(5):  # on time: alice's brute force
        fail(f"alice{i}", t0 + i * 5_000, "alice")
    produce(fixtures.avro_event({"event_id": f"{tenant}-tick", "tenant_id": tenant,
                                 "event_time": t0 + 20 * MINUTE, "class_uid": 0, "activity_id": 99},
                                next(seq)), tenant.encode())
    assert flush() == 0

    args = ["--events-topic", events_topic, "--alerts-topic", alerts_topic, "--late-topic", late_topic,
            "--group-id", f"auditflow-detect-late-it-{run}-job", "--startup-mode", "earliest-offset",
            "--rules", "AUTH-001"]
    flink_jobs.track_named(flink.pipeline_job_name("detect", events_topic))
    cmd = flink.run_command(cfg, REPO / "jobs" / "detect.py", args, detached=True)
    proc = subprocess.run(cmd, env=flink.cli_env(cfg), capture_output=True, text=True, timeout=600, cwd=REPO)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    job_id = flink_jobs.track(re.search(r"JobID ([0-9a-f]{32})", out).group(1))

    decode = registry.Decoder(cfg, "alert", "analyst")
    alerts_reader = reader(cfg, alerts_topic)
    on_time = drain(alerts_reader, lambda m: decode(m.value()), lambda items: len(items) >= 1, timeout_s=300)
    assert [(a["entity_value"], a["late_ms"]) for a in on_time] == [("alice", None)]

    # behind the watermark (t0 + 20 min): carol 15 min, alice 20 min, dave 2 h 20 min; sent once
    # the late statements' filters have that watermark (else carol's would be on time)
    wait_late_watermark(cfg, job_id, t0 + 5 * MINUTE + 4 * 5_000)
    for i in range(5):
        fail(f"carol{i}", t0 + 5 * MINUTE + i * 5_000, "carol")
    fail("alice-late", t0 + 12_000, "alice")
    fail("dave-late", t0 - 2 * 60 * MINUTE, "dave")
    assert flush() == 0
    late_reader = reader(cfg, late_topic)
    late = drain(late_reader, lambda m: json.loads(m.value()), lambda items: len(items) >= 7, timeout_s=120)
    late_reader.close()
    assert sorted(r["event_id"] for r in late) == sorted(
        [f"{tenant}-carol{i}" for i in range(5)] + [f"{tenant}-alice-late", f"{tenant}-dave-late"])

    def behind(record: dict) -> int:
        return R.parse_time(record["watermark_time"].replace(" ", "T"), "wm") - \
            R.parse_time(record["event_time"].replace(" ", "T"), "t")

    carol_late_ms = max(behind(r) for r in late if "-carol" in r["event_id"])
    time.sleep(int(cfg.get("detect.late_settle_ms")) / 1000 + 1)  # the records must settle first

    first = cli(env, "rules", "late", "--once")
    assert first.returncode == 0, first.stderr[-4000:]
    assert "7 record(s): 6 evaluated, 1 dropped (too late), 0 waiting; 1 late alert(s)" in first.stderr, \
        first.stderr[-3000:]
    assert f"auditflow rules backfill AUTH-001 --tenant {tenant} --from " in first.stderr
    assert first.stdout.count("LATE ") == 1, first.stdout
    assert f"user=carol count=5 late_ms={carol_late_ms} " in first.stdout, first.stdout

    again = cli(env, "rules", "late", "--once")
    assert again.returncode == 0, again.stderr[-4000:]
    assert "0 record(s): 0 evaluated, 0 dropped (too late), 0 waiting; 0 late alert(s)" in again.stderr

    # everything on the alerts topic: alice once (on time), carol once (late), nothing else
    alerts = on_time + drain(alerts_reader, lambda m: decode(m.value()), lambda items: False, timeout_s=15)
    alerts_reader.close()
    assert sorted((a["entity_value"], a["late_ms"] is None) for a in alerts) == \
        [("alice", True), ("carol", False)]
    carol = next(a for a in alerts if a["entity_value"] == "carol")
    assert carol["late_ms"] == carol_late_ms
    assert [e["event_id"] for e in carol["evidence"]] == [f"{tenant}-carol{i}" for i in range(5)]
    assert (carol["event_count"], carol["window_start"], carol["window_end"]) == \
        (5, t0 + 5 * MINUTE, t0 + 6 * MINUTE)
    assert carol["dedup_key"] == f"AUTH-001|{tenant}|carol" and carol["tenant_id"] == tenant

    deadline = time.monotonic() + 90  # Flink's metric store refreshes every 10 s
    while True:
        status = cli(env, "rules", "status", "--json", "--job", job_id)
        assert status.returncode == 0, status.stderr[-3000:]
        row = next(r for r in json.loads(status.stdout)["rules"] if r["rule"] == "AUTH-001")
        if row["late_this_run"] == 7 or time.monotonic() > deadline:
            break
        time.sleep(5)
    lag = row.pop("eval_lag_ms")
    assert row == {"rule": "AUTH-001", "enabled": True, "matches": 1, "alerts": 1, "suppressed": 0,
                   "late_total": 7, "late_this_run": 7, "late_evaluated": 6, "late_dropped": 1,
                   "late_alerts": 1}
    # alice's last failure (t0 + 20 s) was produced before the job started
    assert lag >= 30 * MINUTE - 20_000
    table = cli(env, "rules", "status", "--job", job_id)
    assert table.returncode == 0 and f"detect job {job_id} RUNNING" in table.stdout, table.stderr[-2000:]
    admin = kafka.admin(cfg)  # kept referenced until its futures resolve
    for fut in admin.delete_consumer_groups([late_group], request_timeout=30).values():
        fut.result(timeout=60)
