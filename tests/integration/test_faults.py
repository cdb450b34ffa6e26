"""Faults injected into the real stack while the normalize job runs: the broker restarted, the
schema registry down for a minute, the TaskManager killed with SIGKILL, a poison record, and a
quiet tenant after a restore. After each the pipeline must catch up by itself, and:

- `auditflow reconcile` balances: every raw record is exactly one event, dead letter or
  filter note (no loss, no duplicate);
- every tenant's chain is the one an uninterrupted run links: its events in the order of
  their raw records (each tenant writes to one raw partition, as `auditflow ingest` does for
  a file smaller than its spread), sequences 1..n, every hash recomputing.

The alert router's SIGKILL test is in test_alert_routing.py.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import defaultdict
from pathlib import Path

import psutil
import pytest
from confluent_kafka import Producer
from test_normalize_job import Run, stop

from auditflow import flink, kafka, registry
from auditflow.stack import lifecycle
from auditflow.stack.process import read_pid
from auditflow.stack.services import all_services
from udfs import chain
from udfs.parse.base import event_id
from udfs.record import RawRecord

JOB = Path(__file__).resolve().parents[2] / "jobs" / "normalize.py"
TENANTS = [f"f{i}" for i in range(8)]
PER_BATCH = 150  # records per tenant per batch

# each test: two job starts (600 s submission, 120 s to RUNNING each at worst), an outage, and a
# reconcile that waits up to 300 s
pytestmark = pytest.mark.timeout(1500)


class Feed:
    """Syslog logins, each tenant's on one partition of its own raw topic (the topic is what makes
    a record the tenant's), produced as `auditflow ingest` does (key = tenant, headers
    source/file/line)."""

    def __init__(self, cfg, run: Run):
        self.cfg, self.sent = cfg, 0
        self.topics = {tenant: run.raw[(tenant, "syslog")] for tenant in TENANTS}
        self.producer = Producer(kafka.producer_conf(cfg, "admin", **{"linger.ms": 5}))
        self.failed: list[str] = []

    def batch(self, n: int = PER_BATCH, tenants: list[str] = TENANTS) -> None:
        for i in range(n):
            for t, tenant in enumerate(tenants):
                line = (f"<38>{time.strftime('%b %e %H:%M:%S')} web{t} sshd[{self.sent}]: Accepted"
                        f" password for user{i % 7} from 10.0.{t}.{i % 250} port 22 ssh2 n={self.sent}")
                self.producer.produce(
                    self.topics[tenant], line.encode(), key=tenant.encode(), partition=0,
                    headers=[("source", b"faults"), ("file", b"auth.log"), ("line", str(self.sent).encode())],
                    on_delivery=lambda err, _m: err and self.failed.append(str(err)))
                self.sent += 1
            self.producer.poll(0)

    def flush(self, timeout_s: float = 120) -> None:
        assert self.producer.flush(timeout_s) == 0, "records still undelivered"
        assert not self.failed, self.failed[:3]


def expected_order(cfg, run: Run) -> dict[str, list[str]]:
    """Each tenant's event ids in the order of its raw records: the chain an uninterrupted run
    links (one partition per tenant, so Kafka time order is offset order)."""
    out: dict[str, list[str]] = defaultdict(list)
    for tenant in TENANTS:
        for m in kafka.read_topic(cfg, run.raw[(tenant, "syslog")], role="admin"):
            rec = RawRecord(source="syslog", value=m.value(), tenant_id=tenant, topic=m.topic(),
                            partition=m.partition(), offset=m.offset(), timestamp_ms=m.timestamp()[1],
                            headers={})
            out[rec.tenant_id].append((rec.offset, event_id(rec)))
    return {t: [eid for _o, eid in sorted(ids)] for t, ids in out.items()}


def assert_chains_as_uninterrupted(cfg, run: Run) -> None:
    expected = expected_order(cfg, run)
    by_chain: dict[str, list[dict]] = defaultdict(list)
    for e in run.events():
        by_chain[e["chain"]["chain_id"]].append(e)
    assert sorted(by_chain) == sorted(expected)
    for cid, events in by_chain.items():
        events.sort(key=lambda e: e["chain"]["sequence"])
        assert [e["chain"]["sequence"] for e in events] == list(range(1, len(events) + 1)), cid
        assert [e["event_id"] for e in events] == expected[cid], cid
        assert chain.verify_chain(events) is None


def restarts(cfg, job: str) -> int:
    r = flink.rest(cfg).get(f"/jobs/{job}/metrics?get=numRestarts", timeout=10)
    r.raise_for_status()
    return int(float(r.json()[0]["value"]))


def start_job(cfg, run: Run, flink_jobs, restore_from: str | None = None) -> str:
    job = flink_jobs.track(flink.start(cfg, JOB, run.job_args(), restore_from=restore_from,
                                       say=lambda _m: None))
    flink.wait_for_status(cfg, job, {"RUNNING"})
    return job


def wait_committed(cfg, run: Run, job: str, timeout_s: float = 180) -> None:
    """Until some events are committed and a checkpoint completed after them."""
    deadline = time.monotonic() + timeout_s
    while not any(True for _ in kafka.read_topic(cfg, run.out["events"], idle_s=1, role="admin")):
        assert time.monotonic() < deadline, "no committed event in time"
        time.sleep(1)
    first = flink.latest_checkpoint(cfg, job)
    while (done := flink.latest_checkpoint(cfg, job)) is None or (first and done[0] <= first[0]):
        assert time.monotonic() < deadline, "no checkpoint after the first committed events"
        time.sleep(1)


def running(cfg, run: Run, flink_jobs) -> tuple[Feed, str]:
    """A first batch produced, the job started on it, its first events committed."""
    feed = Feed(cfg, run)
    feed.batch()
    feed.flush()
    job = start_job(cfg, run, flink_jobs)
    wait_committed(cfg, run, job)
    return feed, job


def reconciled(run: Run, records: int) -> dict:
    report = run.reconcile(wait_s=300)
    assert sum(ln["raw"] for ln in report["lines"]) == records
    assert sum(ln["events"] for ln in report["lines"]) == records
    return report


@pytest.fixture
def run(stack, cfg, topics, flink_jobs):
    r = Run(cfg, topics, "fx", tenants=("acme", *TENANTS))  # acme: the poison records
    flink_jobs.track_named(flink.pipeline_job_name("normalize", r.out["events"]))
    return r


def test_broker_restart_mid_stream(stack, cfg, run, flink_jobs):
    feed, job = running(cfg, run, flink_jobs)
    lifecycle.down(stack, only=["kafka"])
    feed.batch()  # produced into the outage: the producer holds them until the broker is back
    time.sleep(15)
    lifecycle.up(stack, only=["kafka"])
    feed.flush()
    feed.batch()
    feed.flush()
    try:
        reconciled(run, feed.sent)
        assert_chains_as_uninterrupted(cfg, run)
        assert flink.job_status(cfg, job) == "RUNNING"  # recovered by itself, same job
    finally:
        stop(cfg, job)


def test_registry_down_for_a_minute_does_not_stop_normalizing(stack, cfg, run, flink_jobs):
    feed, job = running(cfg, run, flink_jobs)  # registers its schemas: the registry is needed here
    lifecycle.down(stack, only=["registry"])
    try:
        for _ in range(6):  # a minute of traffic while the registry is away
            feed.batch(n=PER_BATCH // 6)
            feed.flush()
            time.sleep(10)
        # the workers encode with the ids registered at submission; nothing asks the registry.
        # Counted without decoding (that would need the registry)
        deadline = time.monotonic() + 120
        while (out := sum(1 for _ in kafka.read_topic(cfg, run.out["events"], idle_s=1,
                                                      role="admin"))) < feed.sent:
            assert time.monotonic() < deadline, f"{out} of {feed.sent} events while the registry is down"
            time.sleep(2)
    finally:
        lifecycle.up(stack, only=["registry"])
    try:
        reconciled(run, feed.sent)
        assert_chains_as_uninterrupted(cfg, run)
        assert flink.job_status(cfg, job) == "RUNNING"
    finally:
        stop(cfg, job)


def kill_taskmanager(stack) -> None:
    """SIGKILL the TaskManager and its Python workers: no clean-up of any kind. The stack's
    supervisor (auditflow/stack/supervise.py) stays, as a Kubernetes kubelet would."""
    svc = next(s for s in all_services(stack.cfg) if s.name == "flink-taskmanager")
    pid = read_pid(lifecycle.pid_file(stack, svc))
    assert pid is not None, "the TaskManager is not running"
    procs = psutil.Process(pid).children(recursive=True)
    assert procs, "the TaskManager's supervisor runs no TaskManager"
    for p in procs:
        p.send_signal(signal.SIGKILL)
    psutil.wait_procs(procs, timeout=30)


def test_taskmanager_sigkill_mid_stream(stack, cfg, run, flink_jobs):
    feed, job = running(cfg, run, flink_jobs)
    log = lifecycle.log_file(stack, next(s for s in all_services(cfg) if s.name == "flink-taskmanager"))
    restarts_before = log.read_text().count("exited with code -9; restarting")
    producing = threading.Thread(target=lambda: (feed.batch(), feed.flush()))
    producing.start()
    kill_taskmanager(stack)
    producing.join()
    try:  # the supervisor starts a new TaskManager; the job restarts on it by itself
        flink.wait_for_status(cfg, job, {"RUNNING"}, timeout_s=300)
        reconciled(run, feed.sent)
        assert_chains_as_uninterrupted(cfg, run)
        assert log.read_text().count("exited with code -9; restarting") == restarts_before + 1
    finally:
        stop(cfg, job)


def test_a_quiet_tenant_is_linked_after_a_restore_without_new_records(stack, cfg, run, flink_jobs):
    feed, job = running(cfg, run, flink_jobs)
    # the last records of every tenant are waiting for the watermark when the job stops
    feed.batch(n=20)
    feed.flush()
    stop(cfg, job)
    checkpoint = flink.latest_checkpoint(cfg, job)
    assert checkpoint is not None
    restored = start_job(cfg, run, flink_jobs, restore_from=checkpoint[1])
    try:
        # no record arrives after the restore: the job's own clock must link what waits
        reconciled(run, feed.sent)
        assert_chains_as_uninterrupted(cfg, run)
    finally:
        stop(cfg, restored)


POISON = {  # CloudTrail records that once crash-looped the job (issue 16): wrong JSON types
    "awsRegion": 0,
    "userIdentity": {"type": "IAMUser", "accessKeyId": 12345, "userName": "alice"},
}


def test_poison_records_are_dead_letters_and_the_records_behind_them_flow(stack, cfg, run, flink_jobs):
    good = {"eventVersion": "1.08", "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "eventSource": "iam.amazonaws.com", "eventName": "ListUsers", "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.9", "userAgent": "aws-cli/2",
            "userIdentity": {"type": "IAMUser", "userName": "bob", "accountId": "123456789012"},
            "eventID": "4f1e0b4e-0000-4000-8000-000000000001", "eventType": "AwsApiCall",
            "recipientAccountId": "123456789012"}
    records = [{**good, "eventID": f"4f1e0b4e-0000-4000-8000-00000000000{i}", **({k: v} if k else {})}
               for i, (k, v) in enumerate([("awsRegion", POISON["awsRegion"]),
                                           ("userIdentity", POISON["userIdentity"]), (None, None)])]
    producer = Producer(kafka.producer_conf(cfg, "admin"))
    for doc in records:
        producer.produce(run.raw[("acme", "cloudtrail")], json.dumps(doc).encode(), key=b"acme", partition=0)
    # a long line (an event that keeps its text once) and one over limits.max_bytes (a dead letter)
    stamp = time.strftime("%b %e %H:%M:%S")
    for size in (600_000, int(cfg.get("limits.max_bytes")) + 500_000):
        line = f"<14>{stamp} web1 app[1]: {'x' * size}".encode()
        producer.produce(run.raw[("acme", "syslog")], line, key=b"acme", partition=0)
    assert producer.flush(30) == 0
    job = start_job(cfg, run, flink_jobs)
    try:
        report = run.reconcile(wait_s=180)
        counted = {k: sum(ln[k] for ln in report["lines"]) for k in ("raw", "events", "dead_letters")}
        assert counted["raw"] == 5 and counted["events"] + counted["dead_letters"] == 5
        decode = registry.Decoder(cfg, "dead_letter", "analyst")
        letters = [decode(m.value()) for m in kafka.read_topic(cfg, run.out["dlq"], role="admin")]
        assert all(letter["error_message"] for letter in letters)
        assert [ltr["error_class"] for ltr in letters if ltr["raw_topic"] == run.raw[("acme", "syslog")]] \
            == ["validate.oversize"]
        [long_event] = [e for e in run.events() if e["lineage"]["raw_topic"] == run.raw[("acme", "syslog")]]
        assert len(long_event["raw_data"]) > 600_000
        assert len(long_event["message"].encode()) <= int(cfg.get("limits.max_message_bytes")) + 100
        assert flink.job_status(cfg, job) == "RUNNING"
        assert restarts(cfg, job) == 0, flink.job_exception(cfg, job)
    finally:
        stop(cfg, job)
