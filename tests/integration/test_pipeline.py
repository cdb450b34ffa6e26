"""The whole pipeline on the real stack, as `auditflow demo` runs it but on topics, groups,
archive prefixes and a Trino schema of its own: real-format raw logs with a brute force, a
privilege escalation, CloudTrail switched off and a kubectl exec -> ingest -> normalize ->
detect -> alerts routed once to a local webhook -> archive -> seal -> verify -> Trino.

Checks: exactly the expected alerts; counts reconcile; every alert delivered once; the Trino
row count equals the events ingested minus dead letters and filtered records; `verify` OK;
every alert's evidence hashes are in the archive, each with an inclusion proof that verifies."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import secrets_support as ss

from auditflow import demo, demo_corpus, flink, kafka
from auditflow.archive import query

SEAL = ["--set", "archive.period_s=60", "--set", "archive.grace_s=15", "--set", "archive.retention=180s"]
# the first test to use `pipeline` runs the whole pipeline (see tests/integration/conftest.py):
# three job starts (each up to 600 s to submit, 120 s to RUNNING; typically under a minute),
# alerts (300 s), reconcile (180 s), two router runs, and sealing until Trino counts every event
# (420 s): about ten minutes when all goes well
FIXTURE_TIMEOUTS = {"pipeline": 2400}


class Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append({"key": self.headers.get("Idempotency-Key"), "body": json.loads(body)})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args):
        pass


def run_cli(flags: list[str], *args: str, timeout: float = 600) -> str:
    r = demo.cli(flags, *args, timeout=timeout)
    assert r.returncode == 0, f"auditflow {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def rows(out: str) -> list[dict]:
    """`auditflow query --format json` prints one JSON object per row."""
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def pipeline(stack, cfg, module_topics, module_flink_jobs, tmp_path_factory):
    run = f"e2e{uuid.uuid4().hex[:6]}"
    names, tenant, schema = demo.Names.isolated(run, f"tenant-{run}"), f"tenant-{run}", f"it_{run}"
    module_topics.create(*names.topic_specs(), kafka.TopicSpec(f"{run}.delivered", 1, 1,
                         {"cleanup.policy": "compact"}), kafka.TopicSpec(f"{run}.alerts-dlq", 1, 1))
    demo.grant_kafka(cfg, names, tenant)
    kafka.grant(cfg, "router", read=[f"{run}.delivered"], write=[f"{run}.delivered", f"{run}.alerts-dlq"])
    tmp = tmp_path_factory.mktemp("e2e")
    users = tmp / "users.csv"
    users.write_text(demo.DEMO_USERS)
    run_cli([], "users", "load", str(users), "--topic", names.users)

    for job in demo.job_args(names):  # also a job whose start failed half-way, or a later one's
        module_flink_jobs.track_named(flink.pipeline_job_name(job, names.events))
    # every command line on the machine, sampled while the whole pipeline runs (issue #14)
    watch = ss.CommandLineWatch(ss.stack_secrets(cfg)).__enter__()
    jobs = demo.start_jobs(cfg, names, say=print)
    for job_id in jobs.values():
        module_flink_jobs.track(job_id)
    try:
        records = demo_corpus.build(background=40)
        demo.replay(cfg, names, records, tenant, say=print)
        alerts = demo.wait_for_alerts(cfg, names, tenant, demo_corpus.EXPECTED, say=print)
        report = json.loads(demo.cli([], "reconcile", "--raw-topics", f"audit.raw.*.{run}", "--events-topic",
                                     names.events, "--dlq-topic", names.dlq, "--filtered-topic",
                                     names.filtered, "--json", "--wait", "180").stdout)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        conf = tmp / "auditflow.toml"
        conf.write_text(f'[profiles.local.alerts.destinations.hook]\ntype = "webhook"\n'
                        f'url = "http://127.0.0.1:{server.server_port}/alerts"\n')
        route = ["--config", str(conf), "--set", f"alerts.delivered_topic={run}.delivered",
                 "--set", f"alerts.dlq_topic={run}.alerts-dlq"]
        for _ in range(2):  # the second run must send nothing again
            run_cli(route, "alerts", "route", "--once", "--topic", names.alerts,
                    "--group-id", f"{run}-router")
        server.shutdown()

        flags = [*SEAL, "--set", f"archive.staging_prefix={names.staging_prefix}",
                 "--set", f"archive.worm_prefix={names.worm_prefix}"]
        events = sum(ln["events"] for ln in report["lines"])
        # the alerts seal in the period of their own emission, which may close after the last
        # event's: wait for both, or alert_evidence misses an alert's evidence
        sql = (f"SELECT (SELECT count(*) FROM events WHERE tenant_id = '{tenant}') AS n, "
               f"(SELECT count(*) FROM alerts WHERE tenant_id = '{tenant}') AS alerts")
        deadline, archived, sealed_alerts = time.monotonic() + 420, -1, -1
        while (archived, sealed_alerts) != (events, len(alerts)) and time.monotonic() < deadline:
            time.sleep(20)
            run_cli(flags, "seal", "--once", "--trino-schema", schema)
            counted = demo.cli([], "query", "--engine", "trino", "--schema", schema, "--format", "json", sql)
            # the schema appears with the first sealed period
            assert counted.returncode == 0 or "does not exist" in counted.stderr, counted.stderr
            if counted.returncode == 0:
                archived, sealed_alerts = rows(counted.stdout)[0]["n"], rows(counted.stdout)[0]["alerts"]
        yield {"names": names, "tenant": tenant, "schema": schema, "alerts": alerts, "report": report,
               "events": events, "archived": archived, "flags": flags, "received": list(Receiver.received),
               "tmp": tmp, "watch": watch}
    finally:  # the jobs are cancelled, their topics and checkpoints deleted by the module fixtures
        watch.__exit__(None, None, None)
        for kind in ("events", "alerts"):
            query.run_trino(cfg, f"DROP TABLE IF EXISTS {kind}", schema, role="admin")
        for view, _sql in query.view_sql("trino"):
            query.run_trino(cfg, f"DROP VIEW IF EXISTS {view}", schema, role="admin")
        query.run_trino(cfg, f'DROP SCHEMA IF EXISTS "{schema}"', schema, role="admin")


def test_exactly_the_expected_alerts(pipeline):
    got = sorted((a["rule_id"], a["entity_value"]) for a in pipeline["alerts"])
    assert got == sorted((e.rule_id, e.entity_value) for e in demo_corpus.EXPECTED)
    brute = next(a for a in pipeline["alerts"] if a["rule_id"] == "AUTH-001")
    assert brute["event_count"] >= 5 and len(brute["evidence"]) == brute["event_count"]


def test_no_command_line_showed_a_secret_while_the_pipeline_ran(pipeline):
    watch = pipeline["watch"]
    watch.__exit__(None, None, None)
    assert watch.samples >= 10 and len(watch.secrets) >= 10, (watch.samples, len(watch.secrets))
    assert watch.leaks == []


def test_counts_reconcile(pipeline):
    report = pipeline["report"]
    assert report["balanced"], report
    assert {ln["source"] for ln in report["lines"]} == set(demo.FORMATS)


def test_each_alert_delivered_once_to_the_webhook(pipeline):
    received = pipeline["received"]
    keys = [r["key"] for r in received]
    assert len(keys) == len(set(keys)) == len(pipeline["alerts"])
    assert {r["body"]["alert"]["alert_id"] for r in received} == {a["alert_id"] for a in pipeline["alerts"]}


def test_archive_holds_every_event_and_verifies(pipeline):
    assert pipeline["archived"] == pipeline["events"] > 0
    out = run_cli(pipeline["flags"], "verify", "--tenant", pipeline["tenant"])
    assert "OK" in out and "BROKEN" not in out


# a Trino query, then `auditflow prove` and `verify-proof` for every evidence event
@pytest.mark.timeout(600)
def test_alert_evidence_is_archived_with_inclusion_proofs(pipeline):
    evidence = {(ev["event_id"], ev["event_hash"]) for a in pipeline["alerts"] for ev in a["evidence"]}
    sql = (f"SELECT event_id, alert_event_hash, hash_matches FROM alert_evidence "
           f"WHERE tenant_id = '{pipeline['tenant']}'")
    found = rows(run_cli([], "query", "--engine", "trino", "--schema", pipeline["schema"],
                         "--format", "json", sql))
    assert {(r["event_id"], r["alert_event_hash"]) for r in found} == evidence
    assert all(r["hash_matches"] for r in found)
    for event_id, _hash in sorted(evidence):
        proof = pipeline["tmp"] / f"{event_id}.json"
        run_cli(pipeline["flags"], "prove", event_id, "--tenant", pipeline["tenant"], "--output", str(proof))
        assert "OK" in run_cli([], "verify-proof", str(proof))
    # the last proof's event relabelled into the next partition's shard (CHAIN.md binding rule)
    p = json.loads(proof.read_text())
    lineage = p["event"]["lineage"]
    p["chain_id"] = p["event"]["chain"]["chain_id"] = \
        f"{p['event']['tenant_id']}/{lineage['raw_topic']}/{lineage['raw_partition'] + 1}"
    moved = pipeline["tmp"] / "moved.json"
    moved.write_text(json.dumps(p))
    r = demo.cli([], "verify-proof", str(moved))
    assert r.returncode == 1 and r.stdout.startswith("FAILED: misplaced:"), r.stdout + r.stderr


# the demo rules over the archive on Flink's local mini-cluster (`rules backfill`, up to 600 s)
@pytest.mark.timeout(900)
def test_backfill_over_the_archive_raises_the_streaming_alerts(pipeline):
    def iso(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).isoformat()
    alerts = pipeline["alerts"]
    start = min(a["window_start"] for a in alerts) - 3_600_000
    out = run_cli(pipeline["flags"], "rules", "backfill", *demo_corpus.DEMO_RULES, "--from", iso(start),
                  "--to", iso(int(time.time() * 1000) + 3_600_000), "--tenant", pipeline["tenant"], "--json")

    def key(a: dict) -> tuple:
        return (a["rule_id"], a["entity_value"], a["window_start"], a["event_count"],
                tuple(sorted(ev["event_hash"] for ev in a["evidence"])))
    assert sorted(map(key, json.loads(out))) == sorted(map(key, alerts))
