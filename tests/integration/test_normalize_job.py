"""jobs/normalize.py on the real session cluster: real-format samples of every family go in
through `auditflow ingest`, and the topics show that every raw record became exactly one event,
dead letter or filtered record, every tenant's chain recomputes, no planted card number,
e-mail or password survives in clear, and geo and user profiles are filled where they should
be. A fault test cancels the job mid-stream, restarts it from its last checkpoint and finds
the same chains, hash for hash, as an uninterrupted run over the same input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Producer

from auditflow import flink, kafka, registry
from udfs import sources

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
JOB = Path(__file__).resolve().parents[2] / "jobs" / "normalize.py"
CLI = [sys.executable, "-m", "auditflow.cli"]
SAMPLES = {  # format -> (file, tenant)
    "syslog": ("parse/syslog.log", "acme"),
    "cloudtrail": ("parse/cloudtrail.jsonl", "globex"),
    "k8s-audit": ("parse/k8s-audit.jsonl", "acme"),
    "auditd": ("parse/auditd.log", "acme"),
    "app": ("parse/app.jsonl", "acme"),
    "debezium": ("parse/debezium.jsonl", "globex"),
}
PLANTED = ["4111111111111111", "4111 1111 1111 1111", "5500-0000-0000-0004", "5500000000000004",
           "carol@example.org", "dave@example.net", "erin@example.com", "hunter2-S3cret!", "Tr0ub4dor",
           "&3 set", "abcd1234secret", "sk_live_51HxYzAbCdEfGhIjKlMnOpQr", "123-45-6789"]
# an address: its domain labels hold letters (an RFC 5424 SD-ID like exampleSDID@32473 is no e-mail)
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]*[A-Za-z][A-Za-z0-9-]*\.)+[A-Za-z]{2,}\b")
# the first test to use `pipeline` runs it (see tests/integration/conftest.py): eight ingests, the
# job's start (600 s submission, 120 s to RUNNING) and a reconcile that waits up to 180 s
FIXTURE_TIMEOUTS = {"pipeline": 1200}


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


class Run:
    """One isolated pipeline: its own raw topics (each tenant's, audit.raw.<tenant>.<fmt>.<id>),
    outputs, consumer group and users topic, made through the `topics` fixture (deleted after
    the test). Its job subscribes by pattern, as the standing one does."""

    def __init__(self, cfg, topics, name: str, tenants: tuple[str, ...] = ("acme",)):
        self.cfg, self.id, self.topics = cfg, f"{name}{uuid.uuid4().hex[:6]}", topics
        self.raw: dict[tuple[str, str], str] = {}
        self.out = {k: f"it.{self.id}.{k}" for k in ("events", "dlq", "filtered", "users")}
        specs = [kafka.TopicSpec(t, 2, 1) for t in self.out.values()]
        specs[-1].config = {"cleanup.policy": "compact"}
        topics.create(*specs)
        # the roles that act on this run's names (the job, `ingest --tenant`, `reconcile`)
        mine = f"it.{self.id}.*"
        topics.grant("normalize", read=[self.out["users"]], write=[mine],
                     groups=[f"it-{self.id}*"], transactional_ids=[f"it-{self.id}*"])
        topics.grant("auditor", read=[mine])
        topics.register_schemas(events=self.out["events"], dlq=self.out["dlq"])
        for tenant in tenants:
            self.add_tenant(tenant)

    def add_tenant(self, tenant: str) -> None:
        """The tenant's raw topics of this run (what `auditflow tenants add` makes), and its
        grants: the job reads them, the tenant writes them, reconcile reads them."""
        new = {(tenant, fmt): sources.raw_topic(tenant, fmt, self.id) for fmt in SAMPLES}
        self.topics.create(*(kafka.TopicSpec(t, 2, 1) for t in new.values()))
        self.topics.grant("normalize", read=list(new.values()))
        self.topics.grant("auditor", read=list(new.values()))
        self.topics.grant(f"ingest:{tenant}", write=[*new.values(), self.out["dlq"]])
        self.raw.update(new)

    def job_args(self, group: str | None = None, out: dict | None = None) -> list[str]:
        out = out or self.out
        return ["--raw-topic-pattern", sources.raw_topic_pattern(self.id), "--events-topic", out["events"],
                "--dlq-topic", out["dlq"], "--filtered-topic", out["filtered"],
                "--users-topic", self.out["users"], "--group-id", group or f"it-{self.id}"]

    def ingest(self, fmt: str, file: Path, tenant: str) -> None:
        r = cli("ingest", fmt, str(file), "--tenant", tenant, "--topic", self.raw[(tenant, fmt)],
                "--dlq-topic", self.out["dlq"])
        assert r.returncode == 0, r.stdout + r.stderr

    def reconcile(self, out: dict | None = None, wait_s: float = 180) -> dict:
        out = out or self.out
        r = cli("reconcile", "--raw-topics", f"audit.raw.*.{self.id}", "--events-topic", out["events"],
                "--dlq-topic", out["dlq"], "--filtered-topic", out["filtered"], "--json",
                "--wait", str(wait_s), timeout=wait_s + 120)
        assert r.returncode in (0, 1) and r.stdout.startswith("{"), r.stdout + r.stderr
        report = json.loads(r.stdout)
        assert report["balanced"], json.dumps(report, indent=1)
        return report

    def events(self, topic: str | None = None) -> list[dict]:
        decode = registry.Decoder(self.cfg, "audit_event", "analyst")
        return [decode(m.value()) for m in kafka.read_topic(self.cfg, topic or self.out["events"],
                                                            role="admin")]


def registry_records(cfg, topic: str) -> list[dict]:
    """The dead letters of a topic, decoded."""
    decode = registry.Decoder(cfg, "dead_letter", "analyst")
    return [decode(m.value()) for m in kafka.read_topic(cfg, topic, role="admin")]


def stop(cfg, job_id: str) -> None:
    flink.cancel(cfg, job_id)
    flink.wait_for_status(cfg, job_id, {"CANCELED"}, timeout_s=60)


@pytest.fixture(scope="module")
def pipeline(stack, cfg, module_topics, module_flink_jobs, tmp_path_factory):
    run = Run(cfg, module_topics, "nz", tenants=("acme", "globex"))
    r = cli("users", "load", str(FIXTURES / "normalize" / "users.csv"), "--topic", run.out["users"])
    assert r.returncode == 0, r.stdout + r.stderr
    for fmt, (file, tenant) in SAMPLES.items():
        run.ingest(fmt, FIXTURES / file, tenant)
    run.ingest("app", FIXTURES / "normalize" / "pii-app.jsonl", "acme")
    garbage = tmp_path_factory.mktemp("raw") / "garbage.log"
    garbage.write_text("this line has no syslog header at all\n")
    run.ingest("syslog", garbage, "acme")
    # a producer naming another tenant in a header, on acme's topic; and a record on a topic of
    # the old shared layout (audit.raw.<source>...), which the pattern matches but names no tenant
    unbound = f"audit.raw.syslog.legacy.{run.id}"
    module_topics.create(kafka.TopicSpec(unbound, 1, 1))
    module_topics.grant("normalize", read=[unbound])
    module_topics.grant("auditor", read=[unbound])
    line = (FIXTURES / "parse" / "syslog.log").read_text().splitlines()[0].encode()
    # acme's own producer may write its topic, whatever its headers and key say
    spoof = Producer(kafka.producer_conf(cfg, "ingest:acme"))
    spoof.produce(run.raw[("acme", "syslog")], line, b"globex", headers=[("tenant", b"globex")])
    assert spoof.flush(30) == 0
    # only the stack's admin can write a topic outside every tenant's prefix
    legacy = Producer(kafka.producer_conf(cfg, "admin"))
    legacy.produce(unbound, line, b"acme", headers=[("tenant", b"acme")])
    assert legacy.flush(30) == 0

    module_flink_jobs.track_named(flink.pipeline_job_name("normalize", run.out["events"]))
    job_id = module_flink_jobs.track(flink.start(cfg, JOB, run.job_args(), say=lambda _m: None))
    try:
        flink.wait_for_status(cfg, job_id, {"RUNNING"})
        # a tenant onboarded while the job runs: read without a restart (topic discovery)
        run.add_tenant("initech")
        run.ingest("syslog", FIXTURES / "parse" / "syslog.log", "initech")
        report = run.reconcile()
        yield run, job_id, report, run.events()
    finally:
        stop(cfg, job_id)


def test_every_raw_record_is_accounted_for_per_source(pipeline):
    _run, _job, report, events = pipeline
    assert {ln["source"] for ln in report["lines"]} == set(SAMPLES)
    for ln in report["lines"]:
        assert ln["raw"] == ln["events"] + ln["dead_letters"] + ln["filtered"], ln
        assert ln["events"] > 0 or ln["tenant"] == "(none)", ln
    syslog_acme = next(ln for ln in report["lines"] if ln["source"] == "syslog" and ln["tenant"] == "acme")
    assert syslog_acme["dead_letters"] >= 1  # the garbage line
    assert len(events) == sum(ln["events"] for ln in report["lines"])


def test_a_tenant_added_while_the_job_runs_is_read(pipeline):
    _run, _job, report, events = pipeline
    [initech] = [ln for ln in report["lines"] if ln["tenant"] == "initech"]
    assert initech["source"] == "syslog" and initech["events"] > 0
    assert sum(e["tenant_id"] == "initech" for e in events) == initech["events"]


def test_the_tenant_is_the_topics_and_a_claim_of_another_is_a_dead_letter(cfg, pipeline):
    run, _job, report, events = pipeline
    letters = [lt for lt in registry_records(cfg, run.out["dlq"]) if lt["error_class"].startswith("tenant.")]
    by_class = {lt["error_class"]: lt for lt in letters}
    assert sorted(by_class) == ["tenant.mismatch", "tenant.unbound_topic"], letters
    assert by_class["tenant.mismatch"]["tenant_id"] == "acme"
    assert by_class["tenant.mismatch"]["raw_topic"] == run.raw[("acme", "syslog")]
    assert by_class["tenant.unbound_topic"]["tenant_id"] is None
    assert by_class["tenant.unbound_topic"]["raw_topic"] == f"audit.raw.syslog.legacy.{run.id}"
    [none] = [ln for ln in report["lines"] if ln["tenant"] == "(none)"]
    assert (none["raw"], none["dead_letters"]) == (1, 1)
    for e in events:  # every event's tenant is the one its raw topic names
        assert e["tenant_id"] == sources.topic_tenant(e["lineage"]["raw_topic"]), e["lineage"]


def test_every_chain_recomputes(pipeline):
    run, _job, _report, events = pipeline
    r = cli("verify-stream", "--topic", run.out["events"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK chain acme" in r.stdout and "OK chain globex" in r.stdout
    for tenant in ("acme", "globex"):
        seqs = [e["chain"]["sequence"] for e in events if e["tenant_id"] == tenant]
        assert seqs == list(range(1, len(seqs) + 1))


def test_no_card_email_or_password_in_clear(pipeline):
    _run, _job, _report, events = pipeline
    for e in events:
        # the masking note ("email@actor.user.uid") names what was masked, not a value
        notes = {k: v for k, v in (e.get("unmapped") or {}).items() if k != "auditflow.masked"}
        text = json.dumps({**e, "unmapped": notes}, ensure_ascii=False)
        for planted in PLANTED:
            assert planted not in text, (planted, e["event_id"])
        assert not EMAIL.search(text), (EMAIL.search(text).group(0), e["event_id"])
    pii = {e["metadata"]["uid"]: e for e in events if (e["metadata"].get("uid") or "").startswith("pii-")}
    assert "411111******1111" in pii["pii-0001"]["http_request"]["url"]  # PCI: first 6 / last 4
    assert "[MASKED:email]" in pii["pii-0002"]["message"]
    assert "auditflow.masked" in pii["pii-0001"]["unmapped"]  # analysts can see what was masked


def test_geo_and_user_profiles_filled(pipeline):
    run, job_id, _report, events = pipeline
    by_uid = {e["metadata"].get("uid"): e for e in events}
    geo = {k: by_uid[k]["enrichment"]["geo"] for k in ("pii-0001", "pii-0002", "pii-0003")}
    assert geo["pii-0001"]["country"] == "GB" and geo["pii-0001"]["lat"] is not None
    assert geo["pii-0002"]["country"] == "US"
    assert geo["pii-0003"]["is_private"] is True and geo["pii-0003"]["country"] is None

    def user(uid: str) -> dict:
        return by_uid[uid]["enrichment"]["user"]
    assert user("evt-0001")["known"] and user("evt-0001")["title"] == "Controller"  # 12:30, before
    assert user("pii-0001")["title"] == "CFO" and user("pii-0001")["privileged"] is True  # 12:40, after
    assert user("pii-0003")["department"] == "Engineering"
    assert user("pii-0002")["known"] is False  # unknown user: flagged, not dropped
    for e in events:
        lin = e["lineage"]
        assert lin["raw_topic"] in run.raw.values() and lin["raw_offset"] is not None
        assert lin["job_name"] == "auditflow-normalize" and lin["flink_job_id"] == job_id
        assert lin["lateness_ms"] is not None and lin["ingest_time"] > 0


def _produce_half(run: Run, tmp: Path, half: int, lines: list[str]) -> None:
    for tenant in ("acme", "globex", "initech"):
        f = tmp / f"{tenant}-{half}.log"
        f.write_text("".join(f"{line} half={half} tenant={tenant} n={i}\n" for i, line in enumerate(lines)))
        run.ingest("syslog", f, tenant)


# three runs of the job (each: 600 s submission, 120 s to RUNNING), a first committed event and
# checkpoint (180 s), two reconciles (180 s each)
@pytest.mark.timeout(1800)
def test_restart_from_checkpoint_loses_and_duplicates_nothing(stack, cfg, topics, flink_jobs, tmp_path):
    run = Run(cfg, topics, "ft", tenants=("acme", "globex", "initech"))
    # every copy of the job on these topics (the third one writes to `clean`)
    flink_jobs.track_named(flink.pipeline_job_name("normalize", run.out["events"]))
    lines = [ln for ln in (FIXTURES / "parse" / "syslog.log").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")] * 4
    _produce_half(run, tmp_path, 1, lines)

    job_id = flink_jobs.track(flink.start(cfg, JOB, run.job_args(), say=lambda _m: None))
    try:
        flink.wait_for_status(cfg, job_id, {"RUNNING"})
        # chains per tenant keep their waiting events in RocksDB (normalize.tenant_state_backend),
        # so this restart restores a RocksDB checkpoint
        backend = flink.rest(cfg).get(f"/jobs/{job_id}/checkpoints/config", timeout=10).json()
        assert backend["state_backend"] == "EmbeddedRocksDBStateBackend", backend
        deadline = time.monotonic() + 180
        while not any(True for _ in kafka.read_topic(cfg, run.out["events"], idle_s=1, role="admin")):
            assert time.monotonic() < deadline, "no committed event within 180 s"
            time.sleep(2)
        first = flink.latest_checkpoint(cfg, job_id)
        while (done := flink.latest_checkpoint(cfg, job_id)) is None or done[0] <= first[0]:
            assert time.monotonic() < deadline, "no checkpoint after the first committed events"
            time.sleep(1)
        _produce_half(run, tmp_path, 2, lines)  # the job is busy with these when it is killed
        stop(cfg, job_id)
    except BaseException:
        flink.cancel(cfg, job_id)
        raise
    checkpoint = flink.latest_checkpoint(cfg, job_id)
    assert checkpoint is not None
    restarted = flink_jobs.track(flink.start(cfg, JOB, run.job_args(), restore_from=checkpoint[1],
                                             say=lambda _m: None))
    try:
        flink.wait_for_status(cfg, restarted, {"RUNNING"})
        # traffic goes on after a restart. It also re-arms a tenant whose waiting events lost
        # their timers: PyFlink can leave the timers of the bundle it flushes for a checkpoint
        # out of that checkpoint (see the Chain docstring in jobs/normalize.py)
        _produce_half(run, tmp_path, 3, lines)
        report = run.reconcile()
    finally:
        stop(cfg, restarted)

    # the same input, uninterrupted, into other outputs
    clean = {k: f"{v}.clean" for k, v in run.out.items() if k != "users"}
    topics.create(*(kafka.TopicSpec(t, 2, 1) for t in clean.values()))
    topics.register_schemas(events=clean["events"], dlq=clean["dlq"])
    flink_jobs.track_named(flink.pipeline_job_name("normalize", clean["events"]))
    baseline = flink_jobs.track(flink.start(cfg, JOB, run.job_args(group=f"it-{run.id}-clean", out=clean),
                                            say=lambda _m: None))
    try:
        flink.wait_for_status(cfg, baseline, {"RUNNING"})
        run.reconcile(out=clean)
    finally:
        stop(cfg, baseline)

    def links(events: list[dict]) -> dict:
        return {(e["chain"]["chain_id"], e["chain"]["sequence"]):
                (e["event_id"], e["chain"]["event_hash"], e["lineage"]["raw_offset"]) for e in events}
    recovered, uninterrupted = run.events(), run.events(clean["events"])
    assert sum(ln["raw"] for ln in report["lines"]) == 3 * 3 * len(lines)
    assert len(recovered) == len(uninterrupted) == sum(ln["events"] for ln in report["lines"]) > 0
    assert links(recovered) == links(uninterrupted)
    assert cli("verify-stream", "--topic", run.out["events"]).returncode == 0
