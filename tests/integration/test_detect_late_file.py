"""Issue #18: a FILE whose events are out of order by more than the detect watermark's
tolerance still gets its alerts, marked late, exactly once, through the real front door.

One syslog file (RFC 5424, so the year is in every line) of a fresh tenant goes through
`auditflow ingest follow` into per-run raw topics, the real normalize job (jobs/normalize.py)
into a per-run events topic and the real detect job (AUTH-001, brute force) on it. In file
order: alice's five failed ssh logons and bob's logons, the last of them 20 minutes on (on
time: alice's alert is raised by the job, and the watermark moves to that line's time less
[detect] out_of_orderness_ms); then, further down the file, carol's burst of five failures
timestamped 15 minutes before that last line (a forwarder's delayed buffer). Carol's lines
must land in the late topic, `auditflow rules late --once` must add exactly one alert, carol's,
with `late_ms` matching the lag, alice's must not be raised again, and a second run adds nothing.

Why `ingest follow` and a growing file, not one `ingest syslog` of the finished file: the job's
watermark is emitted periodically (every 200 ms), so lines read in one burst all reach the rule
before the watermark moves: with the finished file ingested at once no line was late (tried:
the late topic stayed empty), and at best it would be a race. The file is written as a log is,
the burst appended once the job has shown (alice's alert) that its watermark passed the earlier
lines, so the burst is late every run.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
from confluent_kafka import KafkaException
from test_detect import drain, reader, wait_late_watermark
from test_detect_late_job import MINUTE, REPO, cli
from test_normalize_job import JOB as NORMALIZE_JOB
from test_normalize_job import Run

from auditflow import flink, kafka, registry
from udfs.detect import rules as R


class Leftovers:
    """What this test's jobs and commands create besides topics and jobs: Kafka consumer groups
    (the jobs commit offsets, `rules late` its group) and registry subjects (TopicNameStrategy,
    `<topic>-value`, registered by the normalize job and the ingest dead-letter writer)."""

    def __init__(self) -> None:
        self.groups: list[str] = []
        self.topics: list[str] = []


@pytest.fixture
def leftovers(stack, cfg):
    """Requested before `topics` and `flink_jobs`, so torn down after them: once the jobs are
    cancelled nothing commits a group's offsets again (which would re-create it)."""
    made = Leftovers()
    yield made
    admin = kafka.admin(cfg)  # kept referenced until its futures resolve
    if made.groups:
        for fut in admin.delete_consumer_groups(made.groups, request_timeout=30).values():
            with contextlib.suppress(KafkaException):  # a group never created (an early failure)
                fut.result(timeout=60)
    reg = registry.client(cfg, "schema-admin")
    for subject in reg.get_subjects():
        if any(subject.startswith(f"{topic}-") for topic in made.topics):
            reg.delete_subject(subject)
            reg.delete_subject(subject, permanent=True)


def line(at_ms: int, pid: int, text: str) -> str:
    """One RFC 5424 sshd line at `at_ms` (UTC, milliseconds)."""
    stamp = datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(timespec="milliseconds")
    stamp = stamp.replace("+00:00", "Z")
    return f"<38>1 {stamp} bastion.example.com sshd {pid} - - {text}\n"


def start_detect(cfg, flink_jobs, run: str, events: str, alerts: str, late: str) -> str:
    """jobs/detect.py with AUTH-001 only, on the per-run topics (as test_detect_late_job starts it)."""
    args = ["--events-topic", events, "--alerts-topic", alerts, "--late-topic", late,
            "--group-id", f"auditflow-detect-latefile-it-{run}-job", "--startup-mode", "earliest-offset",
            "--rules", "AUTH-001"]
    flink_jobs.track_named(flink.pipeline_job_name("detect", events))  # also if submission fails half-way
    return flink_jobs.track(flink.start(cfg, REPO / "jobs" / "detect.py", args, say=lambda _m: None))


# two submissions (600 s each at worst) + on-time alert (300 s) + late records (180 s) + settle +
# two late runs (600 s each at worst); typically about five minutes
@pytest.mark.timeout(2400)
def test_late_lines_of_a_file_are_alerted_once_and_marked_late(cfg, leftovers, topics, flink_jobs, tmp_path):
    run = Run(cfg, topics, "lf", tenants=())  # events, dlq, filtered, users
    leftovers.topics = topics.names  # the same list: the topics made below count too
    tenant = f"latefile-it-{run.id}"
    run.add_tenant(tenant)  # its raw topics of every family
    alerts_topic, late_topic = topics.unique("alerts", 3), topics.unique("late", 3)
    results_topic = topics.unique("late-results", 3)
    late_group = f"auditflow-detect-latefile-it-{run.id}"
    topics.grant_pipeline(late_group, events=run.out["events"], alerts=alerts_topic, late=late_topic,
                          late_results=results_topic)
    # normalize's group (Run.job_args), the detect job's (start_detect) and `rules late`'s
    leftovers.groups += [f"it-{run.id}", f"auditflow-detect-latefile-it-{run.id}-job", late_group]
    env = {"AUDITFLOW_DETECT__EVENTS_TOPIC": run.out["events"],
           "AUDITFLOW_DETECT__ALERTS_TOPIC": alerts_topic,
           "AUDITFLOW_DETECT__LATE_TOPIC": late_topic, "AUDITFLOW_DETECT__LATE_RESULTS_TOPIC": results_topic,
           "AUDITFLOW_DETECT__LATE_GROUP_ID": late_group}

    t0 = (int(time.time() * 1000) // 1000) * 1000 - 30 * MINUTE
    last_on_time = t0 + 20 * MINUTE
    on_time = [line(t0 + i * 5_000, 3000 + i,
                    f"Failed password for alice from 203.0.113.7 port {50000 + i} ssh2") for i in range(5)]
    on_time.append(line(t0 + 2 * MINUTE, 3100, "Accepted publickey for bob from 10.0.0.5 port 40000 ssh2"))
    on_time.append(line(last_on_time, 3101, "Accepted publickey for bob from 10.0.0.5 port 40001 ssh2"))
    carol_at = [t0 + 5 * MINUTE + i * 5_000 for i in range(5)]  # 15 min before the line above it
    burst = [line(at, 3200 + i, f"Failed password for carol from 198.51.100.9 port {51000 + i} ssh2")
             for i, at in enumerate(carol_at)]
    log = tmp_path / "auth.log"
    log.write_text("".join(on_time))

    follow = subprocess.Popen(
        [sys.executable, "-m", "auditflow.cli", "ingest", "follow", str(log), "--from-start", "--tenant",
         tenant, "--topic", run.raw[(tenant, "syslog")], "--dlq-topic", run.out["dlq"]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    stopped = False
    alerts_reader = None
    try:
        flink_jobs.track_named(flink.pipeline_job_name("normalize", run.out["events"]))
        flink_jobs.track(flink.start(cfg, NORMALIZE_JOB, run.job_args(), say=lambda _m: None))
        detect_job = start_detect(cfg, flink_jobs, run.id, run.out["events"], alerts_topic, late_topic)

        decode = registry.Decoder(cfg, "alert", "analyst")
        alerts_reader = reader(cfg, alerts_topic)
        first = drain(alerts_reader, lambda m: decode(m.value()), lambda items: len(items) >= 1,
                      timeout_s=300)
        # on time: alice's brute force, raised by the job itself (no late_ms)
        assert [(a["entity_value"], a["late_ms"]) for a in first] == [("alice", None)]

        # the job's watermark is past alice's window, so at last_on_time less the tolerance:
        # carol's burst, further down the same file, is 15 minutes behind it. Appended once the
        # late statements' filters have that watermark too (alice's alert shows the rules' did)
        wait_late_watermark(cfg, detect_job, t0 + 5 * MINUTE + 4 * 5_000)
        with log.open("a") as fh:
            fh.write("".join(burst))
        late_reader = reader(cfg, late_topic)
        as_json = lambda m: json.loads(m.value())  # noqa: E731
        late = drain(late_reader, as_json, lambda items: len(items) >= 5, timeout_s=180)
        late += drain(late_reader, as_json, lambda items: False, timeout_s=5)  # nothing more
        late_reader.close()
        assert len(late) == 5, late
        assert {(r["rule_id"], r["tenant_id"]) for r in late} == {("AUTH-001", tenant)}

        def ms(text: str) -> int:  # the late topic's TIMESTAMP(3) as JSON: "2026-12-02 14:40:00.000"
            return R.parse_time(text.replace(" ", "T"), "t")

        assert sorted(ms(r["event_time"]) for r in late) == carol_at
        tolerance = int(cfg.get("detect.out_of_orderness_ms"))
        # the watermark carol's lines met is the file's last on-time line less the tolerance
        assert {ms(r["watermark_time"]) for r in late} == {last_on_time - tolerance}
        carol_late_ms = max(ms(r["watermark_time"]) - ms(r["event_time"]) for r in late)
        assert carol_late_ms == 15 * MINUTE - tolerance  # the first of the burst, the most behind

        follow.send_signal(signal.SIGINT)  # everything is in Kafka; the summary counts every line
        f_out, f_err = follow.communicate(timeout=60)
        stopped = True
        assert follow.returncode == 0, f_err[-3000:]
        assert f"records      {len(on_time) + len(burst)}" in f_out, f_out + f_err
        assert "rejects      0" in f_out, f_out + f_err

        time.sleep(int(cfg.get("detect.late_settle_ms")) / 1000 + 1)  # the records must settle first
        once = cli(env, "rules", "late", "--once")
        assert once.returncode == 0, once.stderr[-4000:]
        assert "5 record(s): 5 evaluated, 0 dropped (too late), 0 waiting; 1 late alert(s)" in once.stderr, \
            once.stderr[-3000:]
        assert once.stdout.count("LATE ") == 1, once.stdout
        assert f"user=carol count=5 late_ms={carol_late_ms} " in once.stdout, once.stdout

        again = cli(env, "rules", "late", "--once")
        assert again.returncode == 0, again.stderr[-4000:]
        assert "0 record(s): 0 evaluated, 0 dropped (too late), 0 waiting; 0 late alert(s)" in again.stderr, \
            again.stderr[-3000:]
        assert "LATE " not in again.stdout, again.stdout

        # the whole alerts topic: alice once (on time), carol once (late), nothing else
        alerts = first + drain(alerts_reader, lambda m: decode(m.value()), lambda items: False, timeout_s=15)
        assert sorted((a["rule_id"], a["entity_value"], a["late_ms"] is None) for a in alerts) == \
            [("AUTH-001", "alice", True), ("AUTH-001", "carol", False)]
        carol = next(a for a in alerts if a["entity_value"] == "carol")
        assert carol["late_ms"] == carol_late_ms and carol["tenant_id"] == tenant
        assert (carol["event_count"], carol["window_start"], carol["window_end"]) == \
            (5, carol_at[0], carol_at[0] + MINUTE)
        # its evidence is exactly the burst's events, as the late topic named them, in event order
        by_time = sorted(late, key=lambda r: ms(r["event_time"]))
        assert [e["event_id"] for e in carol["evidence"]] == [r["event_id"] for r in by_time]
        alice = next(a for a in alerts if a["entity_value"] == "alice")
        assert (alice["event_count"], alice["window_start"]) == (5, t0)
    finally:
        if alerts_reader is not None:
            alerts_reader.close()
        if not stopped:
            follow.kill()
            follow.communicate(timeout=30)
