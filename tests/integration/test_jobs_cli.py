"""`auditflow jobs start|list|stop` on the real session cluster: one running copy per job and
events topic, since a second archive (or normalize, or detect) would write its output twice;
and a job started again resumes from its last checkpoint, so the chains continue."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from auditflow import demo, flink, kafka, registry
from udfs import sources


# a job start (submission and RUNNING, typically under a minute), a refused second start, a stop
@pytest.mark.timeout(900)
def test_start_refuses_a_second_copy_of_a_running_pipeline_job(cfg, topics, flink_jobs):
    run = f"jobs-{topics.run}"
    events, alerts = f"{run}.events", f"{run}.alerts"
    topics.create(kafka.TopicSpec(events, 1, 1), kafka.TopicSpec(alerts, 1, 1))
    topics.grant_pipeline(run, events=events, alerts=alerts)
    args = ["archive", "--events-topic", events, "--alerts-topic", alerts, "--group-id", run,
            "--staging", f"s3://{cfg.get('s3.staging_bucket')}/{run}/"]
    flink_jobs.track_named(flink.pipeline_job_name("archive", events))  # started by the CLI
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


# a job start (under a minute), its first failure and restart (the Kafka source fails at once;
# Flink's restart backoff starts at a second), a stop
@pytest.mark.timeout(600)
def test_jobs_list_names_the_denial_that_keeps_a_job_without_its_grants_restarting(cfg, topics, flink_jobs):
    run = f"nogrant-{topics.run}"
    events, alerts = f"{run}.events", f"{run}.alerts"
    topics.create(kafka.TopicSpec(events, 1, 1), kafka.TopicSpec(alerts, 1, 1))
    # the registry knows the schemas; Kafka has no ACL for the archive role on these topics
    topics.register_schemas(events=events, alerts=alerts)
    name = flink.pipeline_job_name("archive", events)
    flink_jobs.track_named(name)
    started = demo.cli([], "jobs", "start", "archive", "--events-topic", events, "--alerts-topic", alerts,
                       "--group-id", run, "--staging", f"s3://{cfg.get('s3.staging_bucket')}/{run}/")
    jids = [j["jid"] for j in flink.list_jobs(cfg) if j["name"] == name]
    assert len(jids) == 1, (started.stdout, started.stderr)
    try:
        deadline, failure = time.monotonic() + 240, None
        while failure is None and time.monotonic() < deadline:
            listed = demo.cli([], "jobs", "list", "--all")
            assert listed.returncode == 0, listed.stderr
            lines = listed.stdout.splitlines()
            at = next(i for i, ln in enumerate(lines) if ln.startswith(jids[0]))
            if at + 1 < len(lines) and lines[at + 1].startswith("    last failure at "):
                failure = lines[at + 1]
            else:
                time.sleep(2)
        assert failure is not None, listed.stdout
        # the broker's own refusal, not Flink's wrapper around it
        assert "AuthorizationException" in failure, failure
        assert "Recovery is suppressed" not in failure and "fetchers" not in failure, failure
        # Flink keeps restarting it (its restart strategy has no limit), so it stays stoppable
        assert flink.job_status(cfg, jids[0]) in ("RUNNING", "RESTARTING", "CREATED", "INITIALIZING")
    finally:
        stopped = demo.cli([], "jobs", "stop", jids[0])
    assert stopped.returncode == 0, stopped.stderr


def _app_events(path, first: int, n: int) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    lines = [json.dumps({"id": f"resume-{i:05d}", "timestamp": (now + dt.timedelta(seconds=i)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"), "app": "billing", "action": "invoice.view", "outcome": "success",
        "actor": {"id": "u-bob", "name": "bob"}, "target": {"id": f"inv-{i}", "type": "invoice"},
        "source_ip": "10.1.2.3"}) for i in range(first, first + n)]
    path.write_text("\n".join(lines) + "\n")


# two job starts, two ingest + reconcile rounds (each waits up to 180 s), a stop, a verify
@pytest.mark.timeout(1200)
def test_a_restarted_normalize_job_resumes_its_chains_from_the_last_checkpoint(cfg, topics, flink_jobs,
                                                                                tmp_path):
    run = f"resume{topics.run}"
    raw = sources.raw_topic("acme", "app", run)
    out = {k: f"it.{run}.{k}" for k in ("events", "dlq", "filtered", "users")}
    specs = [kafka.TopicSpec(t, 2, 1) for t in (raw, out["events"], out["dlq"], out["filtered"])]
    topics.create(*specs, kafka.TopicSpec(out["users"], 1, 1, {"cleanup.policy": "compact"}))
    topics.grant_pipeline(run, raw=[raw], **out)
    # both copies, started by the CLI; their checkpoints are deleted at teardown
    flink_jobs.track_named(flink.pipeline_job_name("normalize", out["events"]))
    args = ["normalize", "--raw-topics", raw, "--events-topic", out["events"], "--dlq-topic", out["dlq"],
            "--filtered-topic", out["filtered"], "--users-topic", out["users"], "--group-id", run]

    def ingest_and_reconcile(first: int, n: int) -> dict:
        _app_events(tmp_path / f"{first}.jsonl", first, n)
        r = demo.cli([], "ingest", "app", str(tmp_path / f"{first}.jsonl"), "--tenant", "acme",
                     "--topic", raw, "--dlq-topic", out["dlq"])
        assert r.returncode == 0, r.stdout + r.stderr
        r = demo.cli([], "reconcile", "--raw-topics", raw, "--events-topic", out["events"], "--dlq-topic",
                     out["dlq"], "--filtered-topic", out["filtered"], "--json", "--wait", "180")
        report = json.loads(r.stdout)
        assert r.returncode == 0 and report["balanced"], r.stdout + r.stderr
        return report

    first = demo.cli([], "jobs", "start", *args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "resuming" not in first.stdout
    jid = flink.running_job(cfg, flink.pipeline_job_name("normalize", out["events"]))
    ingest_and_reconcile(0, 20)
    stopped = demo.cli([], "jobs", "stop", jid)
    assert stopped.returncode == 0 and "last checkpoint" in stopped.stdout, stopped.stdout + stopped.stderr

    # the same command again picks the chains up where the stopped job left them
    again = demo.cli([], "jobs", "start", *args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"normalize: resuming from {cfg.path('stack.data_dir') / 'flink' / 'checkpoints' / jid}" \
        in again.stdout, again.stdout
    jid2 = flink.running_job(cfg, flink.pipeline_job_name("normalize", out["events"]))
    try:
        ingest_and_reconcile(20, 20)
        check = demo.cli([], "verify-stream", "--topic", out["events"])
        assert check.returncode == 0 and "OK" in check.stdout, check.stdout + check.stderr
        decode = registry.Decoder(cfg, "audit_event", "analyst")
        seqs = sorted(decode(m.value())["chain"]["sequence"] for m in kafka.read_topic(cfg, out["events"],
                                                                                       role="admin"))
        assert seqs == list(range(1, 41))
    finally:
        demo.cli([], "jobs", "stop", jid2)
