"""`auditflow ingest` on real-format sample files of every family, against the real Kafka and
registry: exactly one raw record per input record on the tenant's own topic, key = tenant,
headers source/file/line, no topic of another tenant, and rejects reported with file:line and
dead-lettered as Avro DeadLetter records. `ingest follow` streams through a real rotation and
stops on Ctrl-C. Each test uses its own topics."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from auditflow import kafka, registry
from udfs import sources

RAW = Path(__file__).resolve().parents[1] / "fixtures" / "raw"
CLI = [sys.executable, "-m", "auditflow.cli"]


def tenant_raw(topics, tenant: str) -> str:
    """A raw topic of `tenant` of the test's own (audit.raw.<tenant>.ingest.it<run>), deleted after it."""
    topic = sources.raw_topic(tenant, "ingest", f"it{topics.run}")
    topics.create(kafka.TopicSpec(topic, 3, 1))
    topics.grant(f"ingest:{tenant}", write=[topic])
    return topic


@pytest.fixture
def raw_dlq(topics) -> tuple[str, str]:
    """A raw topic of tenant acme and a dead-letter topic of the test's own, deleted after it,
    which the tenants of these tests may write (as `auditflow ingest` acts as ingest:<tenant>)."""
    dlq = topics.unique("ingest.dlq", 1)
    for tenant in ("acme", "globex"):
        topics.grant(f"ingest:{tenant}", write=[dlq])
    topics.register_schemas(dlq=dlq)
    return tenant_raw(topics, "acme"), dlq


def consume_all(cfg, topic: str, expect: int, timeout_s: float = 30) -> list:
    """Every record of a topic; waits for `expect`, then 2 s more to catch any extra."""
    c = Consumer(kafka.client_conf(cfg, "admin", **{"group.id": f"it-{uuid.uuid4().hex}",
                                           "auto.offset.reset": "earliest"}))
    c.subscribe([topic])
    out, deadline, settle = [], time.monotonic() + timeout_s, None
    try:
        while time.monotonic() < deadline and (settle is None or time.monotonic() < settle):
            msg = c.poll(0.5)
            if msg is not None and not msg.error():
                out.append(msg)
            if len(out) >= expect and settle is None:
                settle = time.monotonic() + 2
    finally:
        c.close()
    return out


def ingest(fmt: str, *files: Path, raw: str, dlq: str, tenant: str = "acme",
           extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "ingest", fmt, *map(str, files), "--tenant", tenant, "--topic", raw,
                           "--dlq-topic", dlq, *extra], capture_output=True, text=True, timeout=120)


CASES = [
    ("syslog", ["syslog/auth-rfc3164.log", "syslog/auth-rfc5424.log"], [9, 5]),
    ("cloudtrail", ["cloudtrail/123456789012_CloudTrail_us-east-2_20250112T0630Z_Ab3dEf.json",
                    "cloudtrail/123456789012_CloudTrail_us-east-1_20250112T0635Z_Zx9yWv.json.gz",
                    "cloudtrail/events.jsonl"], [3, 2, 3]),
    ("k8s-audit", ["k8s-audit/audit.log"], [4]),
    ("auditd", ["auditd/audit.log"], [6]),
    ("app", ["app/events.jsonl"], [3]),
    ("debezium", ["debezium/changes.jsonl"], [3]),
]


@pytest.mark.parametrize("fmt,files,counts", CASES, ids=[c[0] for c in CASES])
def test_every_family_lands_one_raw_record_per_input_record(cfg, raw_dlq, fmt, files, counts):
    raw, dlq = raw_dlq
    paths = [RAW / f for f in files]
    out = ingest(fmt, *paths, raw=raw, dlq=dlq)
    assert out.returncode == 0, out.stderr + out.stdout
    total = sum(counts)
    assert f"records      {total}" in out.stdout and "rejects      0" in out.stdout

    msgs = consume_all(cfg, raw, total)
    assert len(msgs) == total
    assert {m.key() for m in msgs} == {b"acme"}
    assert len({m.partition() for m in msgs}) == 1          # one tenant, one partition: order kept
    msgs.sort(key=lambda m: m.offset())
    per_file: dict[str, list[int]] = {}
    for m in msgs:
        h = dict(m.headers())
        assert h["source"] == fmt.encode()
        per_file.setdefault(h["file"].decode(), []).append(int(h["line"]))
    assert {Path(f).name: len(lines) for f, lines in per_file.items()} == {
        p.name: n for p, n in zip(paths, counts, strict=True)}
    assert consume_all(cfg, dlq, 0, timeout_s=3) == []


def test_record_bytes_and_lines_are_the_source_records(cfg, raw_dlq):
    raw, dlq = raw_dlq
    ct = RAW / "cloudtrail" / "123456789012_CloudTrail_us-east-2_20250112T0630Z_Ab3dEf.json"
    assert ingest("cloudtrail", ct, raw=raw, dlq=dlq).returncode == 0
    assert ingest("auditd", RAW / "auditd" / "audit.log", raw=raw, dlq=dlq).returncode == 0
    msgs = sorted(consume_all(cfg, raw, 9), key=lambda m: m.offset())
    ct_msgs, au_msgs = msgs[:3], msgs[3:]
    names = [json.loads(m.value())["eventName"] for m in ct_msgs]
    assert names == ["ConsoleLogin", "CreateUser", "StopLogging"]
    assert [dict(m.headers())["line"] for m in ct_msgs] == [b"3", b"28", b"64"]
    assert all(m.value().decode() in ct.read_text() for m in ct_msgs)
    assert [dict(m.headers())["line"] for m in au_msgs] == [b"1", b"2", b"3", b"4", b"9", b"15"]
    syscall = au_msgs[3].value().decode().split("\n")
    assert len(syscall) == 5 and syscall[0].startswith("type=SYSCALL msg=audit(1736663530.221:4391)")
    assert syscall[-1] == "type=EOE msg=audit(1736663530.221:4391):"


def test_rejects_are_reported_with_file_line_and_dead_lettered(cfg, raw_dlq, topics):
    acme_raw, dlq = raw_dlq
    raw = tenant_raw(topics, "globex")
    bad = RAW / "rejects" / "k8s-audit-with-bad-lines.log"
    out = ingest("k8s-audit", bad, raw=raw, dlq=dlq, tenant="globex")
    assert out.returncode == 0, out.stderr
    assert f"{bad}:2: invalid JSON at column" in out.stderr
    assert f"{bad}:3: expected one audit.k8s.io/v1 Event JSON object per line, got a JSON list" in out.stderr
    assert "records      2" in out.stdout and "rejects      2 (2 dead-lettered)" in out.stdout

    assert [dict(m.headers())["line"] for m in consume_all(cfg, raw, 2)] == [b"1", b"4"]
    dead = sorted(consume_all(cfg, dlq, 2), key=lambda m: m.offset())
    assert len(dead) == 2 and {m.key() for m in dead} == {b"globex"}
    de = AvroDeserializer(registry.client(cfg, "analyst"))
    letters = [de(m.value(), SerializationContext(dlq, MessageField.VALUE)) for m in dead]
    assert [lt["source"] for lt in letters] == ["k8s_audit", "k8s_audit"]
    assert letters[0]["error_class"] == "JSONDecodeError" and letters[0]["stage"] == "frame"
    assert letters[0]["error_message"].startswith(f"{bad}:2: invalid JSON")
    assert letters[0]["raw"] == bad.read_bytes().splitlines()[1]
    assert letters[1]["raw"] == b'["not","an","event"]' and letters[1]["tenant_id"] == "globex"
    assert [dict(m.headers())["target_topic"] for m in dead] == [raw.encode()] * 2

    strict = ingest("cloudtrail", RAW / "rejects" / "cloudtrail-not-records.json", raw=acme_raw, dlq=dlq,
                    extra=("--fail-on-reject",))
    assert strict.returncode == 4
    assert "cloudtrail-not-records.json:1: not a CloudTrail file" in strict.stderr
    assert "no \"Records\" array" in strict.stderr


def test_missing_topic_is_a_clear_error(stack):
    out = subprocess.run([*CLI, "ingest", "syslog", str(RAW / "syslog" / "auth-rfc5424.log"), "--tenant",
                          "acme", "--topic", f"audit.raw.acme.syslog.no{uuid.uuid4().hex[:6]}"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "do not exist" in out.stderr and "auditflow tenants add" in out.stderr


def test_a_tenant_writes_only_to_its_own_topics(stack, raw_dlq):
    # the topic, not the key, makes the records a tenant's: no topic of another tenant, nor one
    # bound to no tenant (the old shared audit.raw.<source>), is accepted
    raw, dlq = raw_dlq
    log = str(RAW / "syslog" / "auth-rfc5424.log")
    for topic in (raw, "audit.raw.syslog", "it.x.raw"):
        out = ingest("syslog", Path(log), raw=topic, dlq=dlq, tenant="globex")
        assert out.returncode == 2 and "is not one of tenant globex's raw topics" in out.stderr, out.stderr
    out = subprocess.run([*CLI, "ingest", "syslog", log, "--tenant", "a.b", "--dlq-topic", dlq],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "no '.'" in out.stderr, out.stderr


def test_stdin(cfg, raw_dlq):
    raw, dlq = raw_dlq
    data = (RAW / "app" / "events.jsonl").read_bytes()
    out = subprocess.run([*CLI, "ingest", "app", "-", "--tenant", "acme", "--topic", raw, "--dlq-topic", dlq],
                         input=data, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    msgs = consume_all(cfg, raw, 3)
    assert sorted(m.value() for m in msgs) == sorted(data.splitlines())
    assert {dict(m.headers())["file"] for m in msgs} == {b"-"}


def test_follow_survives_rotation_and_stops_on_ctrl_c(cfg, raw_dlq, tmp_path):
    raw, dlq = raw_dlq
    log = tmp_path / "auth.log"
    log.write_text("<38>Jan 12 06:00:00 h sshd[1]: already there, not sent\n")
    proc = subprocess.Popen([*CLI, "ingest", "follow", str(log), "--tenant", "acme", "--topic", raw,
                             "--dlq-topic", dlq], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    early = []
    try:
        while line := proc.stderr.readline():           # start-up and topic check done
            early.append(line)
            if line.startswith("following"):
                break
        time.sleep(1)                                   # then it seeks to the end of the file
        with log.open("a") as fh:
            fh.write("<38>Jan 12 06:30:01 h sshd[2]: Accepted publickey for alice\n")
            fh.write("<85>Jan 12 06:32:05 h sudo: alice : COMMAND=/bin/true\n")
        time.sleep(1)
        log.rename(tmp_path / "auth.log.1")              # logrotate: rename, then a new file
        with (tmp_path / "auth.log.1").open("a") as fh:
            fh.write("<38>Jan 12 06:33:00 h sshd[2]: last line of the old file\n")
        log.write_text("<38>Jan 12 06:34:00 h sshd[3]: first line of the new file\n")
        time.sleep(1)
        with log.open("a") as fh:
            fh.write("<38>Jan 12 06:35:00 h sshd[3]: second line of the new file\n")
        msgs = consume_all(cfg, raw, 5, timeout_s=30)
    finally:
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    stderr = "".join(early) + stderr
    assert proc.returncode == 0, stderr
    values = [m.value().decode().split(": ", 1)[1] for m in sorted(msgs, key=lambda m: m.offset())]
    assert values == ["Accepted publickey for alice", "alice : COMMAND=/bin/true",
                      "last line of the old file", "first line of the new file",
                      "second line of the new file"]
    assert [dict(m.headers())["line"] for m in sorted(msgs, key=lambda m: m.offset())] == [
        b"2", b"3", b"4", b"1", b"2"]
    assert "rotated" in stderr and "records      5" in stdout
