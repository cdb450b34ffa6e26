"""jobs/detect.py on the real stack reads its events topic through exactly one Kafka source.

The rules' matches go through a DataStream (the dedup operator) and are planned apart from the
late-event INSERTs; each planning used to add a source of its own on the events topic (two
`audit_events` scans). The job runs AUTH-001 (brute force: a window, and a late statement) and
PRIV-001 (a temporal join with the change_windows reference table, a filesystem source of its
own, and a late statement). The job's plan (Flink REST /jobs/<id>/plan) must have exactly two
sources: one scan of `audit_events` (sql/ddl/detect_events_source.sql, on the test's events
topic) and one of change_windows.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from auditflow import flink

REPO = Path(__file__).resolve().parents[2]
# a source vertex's description starts with the planner's scan of its table, e.g.
# [14]:TableSourceScan(table=[[default_catalog, default_database, audit_events, watermark=[...
RE_SCAN = re.compile(r"^\[\d+\]:TableSourceScan\(table=\[\[default_catalog, default_database, (\w+)[,\]]")


# submission (flink run, up to 600 s) + running (120 s)
@pytest.mark.timeout(900)
def test_detect_job_reads_the_events_topic_once(cfg, topics, flink_jobs):
    run = topics.run
    topic = topics.unique("events", 3)
    alerts_topic, late_topic = topics.unique("alerts", 3), topics.unique("late", 3)
    group = f"auditflow-detect-src-{run}"
    topics.grant_pipeline(group, events=topic, alerts=alerts_topic, late=late_topic)

    args = ["--rules", "AUTH-001,PRIV-001", "--events-topic", topic, "--alerts-topic", alerts_topic,
            "--late-topic", late_topic, "--group-id", group, "--startup-mode", "earliest-offset"]
    flink_jobs.track_named(flink.pipeline_job_name("detect", topic))  # also if submission fails half-way
    job_id = flink_jobs.track(flink.start(cfg, REPO / "jobs" / "detect.py", args, say=lambda _m: None))
    assert flink.wait_for_status(cfg, job_id, {"RUNNING"}, timeout_s=120) == "RUNNING"

    nodes = flink.rest(cfg).get(f"/jobs/{job_id}/plan", timeout=10).json()["plan"]["nodes"]
    sources = [n["description"] for n in nodes if not n.get("inputs")]
    tables = sorted(m.group(1) if (m := RE_SCAN.match(d)) else d[:300] for d in sources)
    assert tables == ["audit_events", "change_windows"], "the job's sources:\n" + "\n\n".join(
        d[:1500] for d in sources)
