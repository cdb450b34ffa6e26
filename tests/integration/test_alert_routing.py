"""`auditflow alerts route` against the real Kafka and registry and a real HTTP receiver on
127.0.0.1: Avro alerts (schemas/alert.avsc, Confluent wire format) go in on a per-run topic; the
receiver plays Slack, PagerDuty, a generic webhook that fails twice with 500, one that refuses
with 400 (→ dead-letter topic), and a Slack that answers 429 + Retry-After while the router is
killed with SIGKILL. Each destination must get exactly its alerts, once, across the kill and
two restarts. `alerts tail` and the one-line errors for unreachable services are checked too."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import ConfigResource
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from auditflow import kafka, registry
from auditflow.alerts import destinations

CLI = [sys.executable, "-m", "auditflow.cli"]


# ---------------------------------------------------------------- a receiver on 127.0.0.1
class Receiver:
    """Records every POST (path, headers, JSON body, time) and answers as ``answer`` says."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.slack_blocked_key: str | None = None     # this idempotency key gets 429 while set
        self.hook_failures_left = 2
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, headers, text = receiver.answer(self.path, dict(self.headers), body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str, headers: dict, body: dict) -> tuple[int, dict, str]:
        key = headers.get("Idempotency-Key")
        with self.lock:
            if path == "/hook" and self.hook_failures_left > 0:
                self.hook_failures_left -= 1
                status, extra, text = 500, {}, "upstream busy"
            elif path == "/slack" and key == self.slack_blocked_key:
                status, extra, text = 429, {"Retry-After": "1"}, "rate_limited"
            elif path == "/bad":
                status, extra, text = 400, {}, '{"error": "invalid payload"}'
            elif path == "/pd":
                status, extra = 202, {}
                text = json.dumps({"status": "success", "dedup_key": body["dedup_key"]})
            else:
                status, extra, text = 200, {}, "ok"
            self.requests.append({"path": path, "key": key, "body": body, "status": status,
                                  "t": time.monotonic()})
        return status, extra, text

    def to(self, path: str, ok_only: bool = True) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path and (not ok_only or r["status"] < 300)]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


# ---------------------------------------------------------------- per-run topics and alerts
@pytest.fixture
def run(topics) -> dict:
    rid = topics.run
    names = {"topic": f"it.alerts.{rid}", "delivered": f"it.alerts.{rid}.delivered",
             "dlq": f"it.alerts.{rid}.dlq", "group": f"it-alerts-{rid}", "rid": rid}
    topics.create(
        kafka.TopicSpec(names["topic"], 3, 1),
        kafka.TopicSpec(names["delivered"], 1, 1, {"cleanup.policy": "compact,delete"}),
        kafka.TopicSpec(names["dlq"], 1, 1),
    )
    topics.grant_pipeline(names["group"], alerts=names["topic"], delivered=names["delivered"],
                          alerts_dlq=names["dlq"])
    return names


def make_alert(rid: str, n: int, rule: str, severity: str, tenant: str, entity: str) -> dict:
    now = int(time.time() * 1000)
    start = now - 120_000
    return {
        "alert_id": f"it-{rid}-{n}", "rule_id": rule, "title": f"Integration rule {rule}",
        "severity": severity, "severity_id": destinations.severity_rank(severity), "tenant_id": tenant,
        "entity_type": "user", "entity_value": entity, "window_start": start, "window_end": start + 60_000,
        "event_count": 5 + n,
        "evidence": [{"event_id": f"ev-{rid}-{n}-{i}", "chain_id": tenant, "sequence": 100 * n + i,
                      "event_hash": f"{n:02d}{i:02d}" * 16} for i in range(3)],
        "first_seen": start + 1_000, "last_seen": start + 59_000, "mitre": ["T1110.001"],
        "compliance": ["PCI-DSS-10.2.4"], "dedup_key": f"{rule}|{tenant}|{entity}", "created_at": now,
        "late_ms": None,  # raised on time (`auditflow rules late` sets it for late-evaluated alerts)
    }


def produce(cfg, topic: str, alerts: list[dict]) -> None:
    ser = AvroSerializer(registry.client(cfg, "schema-admin"), registry.load_schema("alert").schema_str)
    p = Producer(kafka.producer_conf(cfg, "admin"))
    for a in alerts:
        p.produce(topic, ser(a, SerializationContext(topic, MessageField.VALUE)), a["tenant_id"].encode())
    assert p.flush(30) == 0


def read_topic(cfg, topic: str, timeout_s: float = 15) -> list:
    c = Consumer(kafka.client_conf(cfg, "admin", **{"group.id": f"it-{uuid.uuid4().hex}",
                                           "auto.offset.reset": "earliest",
                                           "enable.partition.eof": True}))
    c.subscribe([topic])
    out, deadline, eof = [], time.monotonic() + timeout_s, False
    try:
        while time.monotonic() < deadline and not eof:
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                eof = len(c.assignment()) > 0 and msg.error().code() == KafkaError._PARTITION_EOF
                continue
            out.append(msg)
    finally:
        c.close()
    return out


def router_cmd(run: dict, receiver: Receiver, *extra: str) -> tuple[list[str], dict]:
    destinations = {
        "slack": {"type": "slack", "url": f"{receiver.url}/slack", "min_severity": "medium"},
        "pd": {"type": "pagerduty", "url": f"{receiver.url}/pd", "routing_key": "${IT_PD_KEY}",
               "min_severity": "high", "tenants": [f"acme-{run['rid']}"]},
        "hook": {"type": "webhook", "url": f"{receiver.url}/hook", "headers": {"X-Test": "yes"}},
        "broken": {"type": "webhook", "url": f"{receiver.url}/bad", "rule_ids": [f"IT{run['rid']}-R2*"]},
    }
    env = {**os.environ, "IT_PD_KEY": "pd-routing-key-0123456789abcdef",
           "AUDITFLOW_ALERTS__DESTINATIONS": json.dumps(destinations)}
    cmd = [*CLI, "--set", f"alerts.topic={run['topic']}",
           "--set", f"alerts.delivered_topic={run['delivered']}",
           "--set", f"alerts.dlq_topic={run['dlq']}", "--set", f"alerts.group_id={run['group']}",
           "--set", "alerts.backoff_base_s=0.05", "--set", "alerts.backoff_max_s=0.2",
           "--set", "alerts.max_attempts=60", "alerts", "route", *extra]
    return cmd, env


def wait_for(cond, timeout_s: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"router exited ({proc.returncode}) before {what}: {proc.stderr.read()}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


# ---------------------------------------------------------------- the test
# the router's own deadlines: first run 90 s, three --once runs 150 s each, two tails 60 s each
@pytest.mark.timeout(900)
def test_route_delivers_each_alert_once_per_destination_across_a_kill_and_restarts(cfg, run, receiver):
    rid = run["rid"]
    tenant, other = f"acme-{rid}", f"globex-{rid}"
    r1, r2 = f"IT{rid}-R1", f"IT{rid}-R2"
    a1 = make_alert(rid, 1, r1, "high", tenant, "alice")        # slack, pd, hook
    a2 = make_alert(rid, 2, r1, "low", tenant, "bob")           # hook only
    a3 = make_alert(rid, 3, r2, "critical", other, "carol")     # slack, hook, broken (400); pd: other tenant
    a4 = make_alert(rid, 4, r1, "medium", tenant, "dave")       # slack (429 during the kill), hook
    a5 = make_alert(rid, 5, r1, "critical", tenant, "erin")     # slack, pd, hook; after the restart
    alerts = [a1, dict(a1), a2, a3, a4, a5]                     # a1 twice: a replay by the detect job
    by_id = {a["alert_id"]: a for a in alerts}
    receiver.slack_blocked_key = destinations.idempotency_key(a4, "slack")
    produce(cfg, run["topic"], alerts)

    # first run: killed (SIGKILL, no clean-up) while Slack rate-limits a4, after the hook took a4
    cmd, env = router_cmd(run, receiver)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        a4_hook = destinations.idempotency_key(a4, "hook")
        wait_for(lambda: any(r["key"] == a4_hook for r in receiver.to("/hook"))
                 and len([r for r in receiver.to("/slack", ok_only=False)
                          if r["key"] == receiver.slack_blocked_key]) >= 2, 90, "a4 at the hook, 429s", proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    attempts = [r["t"] for r in receiver.to("/slack", ok_only=False)
                if r["key"] == receiver.slack_blocked_key]
    # Retry-After: 1 is honoured over the 0.05-0.2 s backoff of this run
    assert all(b - a >= 0.9 for a, b in zip(attempts, attempts[1:], strict=False)), attempts
    receiver.slack_blocked_key = None

    # second run: picks up a4 (only Slack is left) and a5, then stops when caught up
    cmd, env = router_cmd(run, receiver, "--once", "--timeout", "120")
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=150)
    assert second.returncode == 0, second.stderr + second.stdout
    assert "already done   " in second.stdout and "caught up with" in second.stderr, second.stderr

    def delivered(path: str, dest: str) -> dict[str, int]:
        """alert_id → successful requests to the destination, mapped back through the key."""
        keys = {destinations.idempotency_key(a, dest): a["alert_id"] for a in alerts}
        counts: dict[str, int] = {}
        for r in receiver.to(path):
            counts[keys[r["key"]]] = counts.get(keys[r["key"]], 0) + 1
        return counts

    def once(*items: dict) -> dict[str, int]:
        return {a["alert_id"]: 1 for a in items}

    assert delivered("/slack", "slack") == once(a1, a3, a4, a5)
    assert delivered("/pd", "pd") == once(a1, a5)
    assert delivered("/hook", "hook") == once(a1, a2, a3, a4, a5)
    assert len(receiver.to("/bad", ok_only=False)) == 1            # 400: never retried

    # the payloads are exactly what each destination's format says, with the alert's own data
    dests = {d["name"]: d for d in (
        {"name": "slack", "kind": "slack", "url": f"{receiver.url}/slack"},
        {"name": "pd", "kind": "pagerduty", "url": f"{receiver.url}/pd",
         "routing_key": "pd-routing-key-0123456789abcdef", "min_severity": "high"},
        {"name": "hook", "kind": "webhook", "url": f"{receiver.url}/hook", "headers": (("X-Test", "yes"),)},
    )}
    for path, name in (("/slack", "slack"), ("/pd", "pd"), ("/hook", "hook")):
        for r in receiver.to(path):
            alert_id = next(a["alert_id"] for a in alerts
                            if destinations.idempotency_key(a, name) == r["key"])
            dest = destinations.Destination(**dests[name])
            expected = destinations.build_request(dest, by_id[alert_id]).body
            assert r["body"] == expected, (name, alert_id)
    pd5 = next(r["body"] for r in receiver.to("/pd")
               if r["body"]["dedup_key"] == f"auditflow:{a5['alert_id']}")
    assert pd5["event_action"] == "trigger" and pd5["payload"]["severity"] == "critical"
    assert pd5["routing_key"] == "pd-routing-key-0123456789abcdef"
    hook = receiver.to("/hook")
    assert all(r["body"]["idempotency_key"] == r["key"] for r in hook)

    # retries: the hook's first alert was tried three times (500, 500, 200) with one key
    first_key = receiver.to("/hook", ok_only=False)[0]["key"]
    tries = [r["status"] for r in receiver.to("/hook", ok_only=False) if r["key"] == first_key]
    assert tries == [500, 500, 200]

    # the 400 is dead-lettered with the alert, destination, status and reason, once
    dlq = [json.loads(m.value()) for m in read_topic(cfg, run["dlq"])]
    assert len(dlq) == 1, dlq
    d = dlq[0]
    assert d["destination"] == "broken" and d["status"] == 400 and d["permanent"] is True
    assert d["alert"]["alert_id"] == a3["alert_id"] and d["alert"]["rule_id"] == r2
    assert d["reason"].startswith("HTTP 400") and "invalid payload" in d["reason"]
    assert d["idempotency_key"] == destinations.idempotency_key(a3, "broken")

    # a third run from the start of the group's offsets finds nothing to send
    before = len(receiver.requests)
    third = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=150)
    assert third.returncode == 0, third.stderr + third.stdout
    assert len(receiver.requests) == before
    assert "delivered      0" in third.stdout

    # and a new consumer group (offsets lost) re-reads every alert but still sends nothing: the
    # delivered topic remembers each (alert, destination)
    cmd_new_group, env = router_cmd(run, receiver, "--once", "--timeout", "120",
                                    "--group-id", f"{run['group']}-b")
    fourth = subprocess.run(cmd_new_group, env=env, capture_output=True, text=True, timeout=150)
    assert fourth.returncode == 0, fourth.stderr + fourth.stdout
    assert len(receiver.requests) == before
    assert "alerts         6" in fourth.stdout and "delivered      0" in fourth.stdout
    assert "dead-lettered  0" in fourth.stdout and len(read_topic(cfg, run["dlq"])) == 1

    # alerts tail shows them readably, and as JSON for scripts
    tail = subprocess.run([*CLI, "alerts", "tail", "--from-beginning", "--topic", run["topic"]],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "250"})
    assert tail.returncode == 0, tail.stderr
    for a in (a1, a2, a3, a4, a5):
        assert a["entity_value"] in tail.stdout
    assert r1 in tail.stdout and "critical" in tail.stdout
    js = subprocess.run([*CLI, "alerts", "tail", "--from-beginning", "--json", "--topic", run["topic"],
                         "--min-severity", "high"], capture_output=True, text=True, timeout=60)
    got = sorted(json.loads(line)["alert_id"] for line in js.stdout.splitlines())
    assert got == sorted([a1["alert_id"], a1["alert_id"], a3["alert_id"], a5["alert_id"]])


def test_topics_apply_creates_the_router_topics(cfg, stack):
    specs = [s for s in kafka.load_topics() if s.name.startswith("audit.alerts.")]
    assert {s.name for s in specs} == {"audit.alerts.delivered", "audit.alerts.dlq"}
    kafka.apply_topics(cfg, specs)
    admin = kafka.admin(cfg)
    assert {"audit.alerts.delivered", "audit.alerts.dlq"} <= set(admin.list_topics(timeout=10).topics)
    res = ConfigResource(ConfigResource.Type.TOPIC, "audit.alerts.delivered")
    conf = admin.describe_configs([res])[res].result()
    assert conf["cleanup.policy"].value == "compact,delete"


@pytest.mark.parametrize("setting,words", [
    ("kafka.bootstrap_servers=127.0.0.1:1", "Kafka at 127.0.0.1:1 is not reachable"),
    ("registry.url=http://127.0.0.1:1/apis/ccompat/v7", "schema registry at http://127.0.0.1:1"),
])
def test_unreachable_services_fail_fast_with_one_line(stack, run, receiver, setting, words):
    cmd, env = router_cmd(run, receiver, "--once")
    cmd = [*CLI, "--set", setting, *cmd[len(CLI):]]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)   # no hang
    assert out.returncode == 1 and words in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_a_record_that_is_not_an_alert_is_dead_lettered_with_its_bytes(cfg, run, receiver):
    rid = run["rid"]
    good = make_alert(rid, 1, f"IT{rid}-R1", "high", f"acme-{rid}", "alice")
    p = Producer(kafka.producer_conf(cfg, "admin"))
    p.produce(run["topic"], b"not an avro alert", b"k", partition=0)
    assert p.flush(30) == 0
    produce(cfg, run["topic"], [good])
    cmd, env = router_cmd(run, receiver, "--once", "--timeout", "120", "--only", "hook")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=150)
    assert out.returncode == 0, out.stderr + out.stdout
    assert "undecodable    1" in out.stdout and "alerts         1" in out.stdout
    dlq = [json.loads(m.value()) for m in read_topic(cfg, run["dlq"])]
    assert len(dlq) == 1 and dlq[0]["alert"] is None and dlq[0]["source"]["offset"] == 0
    assert base64.b64decode(dlq[0]["raw_base64"]) == b"not an avro alert"
    assert "cannot decode" in dlq[0]["reason"]
    # the good alert behind it still went out (the hook fails twice first, then takes it)
    keys = [r["key"] for r in receiver.to("/hook")]
    assert keys == [destinations.idempotency_key(good, "hook")]
