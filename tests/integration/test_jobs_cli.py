"""`auditflow jobs start|list|stop` on the real session cluster: one running copy per job and
events topic, since a second archive (or normalize, or detect) would write its output twice."""

from __future__ import annotations

import uuid

from auditflow import demo, flink, kafka


def test_start_refuses_a_second_copy_of_a_running_pipeline_job(cfg, stack):
    run = f"jobs-{uuid.uuid4().hex[:8]}"
    events, alerts = f"{run}.events", f"{run}.alerts"
    kafka.apply_topics(cfg, [kafka.TopicSpec(events, 1, 1), kafka.TopicSpec(alerts, 1, 1)])
    args = ["archive", "--events-topic", events, "--alerts-topic", alerts, "--group-id", run,
            "--staging", f"s3://{cfg.get('s3.staging_bucket')}/{run}/"]
    first = demo.cli([], "jobs", "start", *args)
    assert first.returncode == 0, first.stderr
    jid = flink.running_job(cfg, flink.pipeline_job_name("archive", events))
    try:
        assert jid is not None and jid in first.stdout
        listed = demo.cli([], "jobs", "list")
        assert f"auditflow-archive {events}" in listed.stdout

        second = demo.cli([], "jobs", "start", *args)
        assert second.returncode == 1
        assert f"'auditflow-archive {events}' is already running as {jid}" in second.stderr
        assert "--allow-duplicate" in second.stderr
        running = [j for j in flink.list_jobs(cfg) if j["name"] == f"auditflow-archive {events}"
                   and j["state"] == "RUNNING"]
        assert [j["jid"] for j in running] == [jid]
    finally:
        stopped = demo.cli([], "jobs", "stop", jid)
    assert stopped.returncode == 0, stopped.stderr
    assert flink.running_job(cfg, flink.pipeline_job_name("archive", events)) is None
