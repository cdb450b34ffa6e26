"""`auditflow ingest` end to end over files, with librdkafka and the registry replaced by fakes
(connectors/ingest/run.py + producer.py): what is produced to the raw topic and to audit.dlq
for input that cannot be framed (issue 16). No services."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from connectors.ingest import producer as producer_mod
from connectors.ingest.framing import DEFAULT_MAX_BYTES, KEEP_BYTES
from connectors.ingest.producer import MESSAGE_HEADROOM, Clients, RawProducer
from connectors.ingest.run import follow_file, ingest_file

TOPIC, DLQ = "audit.raw.test", "audit.dlq"


class FakeKafka:
    """Stands in for confluent_kafka.Producer: keeps every produce call."""

    instances: list[FakeKafka] = []

    def __init__(self, conf: dict) -> None:
        self.conf = conf
        self.sent: list[tuple[str, bytes, dict[str, bytes]]] = []
        FakeKafka.instances.append(self)

    def list_topics(self, topic, timeout):
        meta = SimpleNamespace(partitions={0: None, 1: None}, error=None)
        return SimpleNamespace(topics={topic: meta})

    def produce(self, topic, value, key, headers, partition):
        if len(value) > self.conf["message.max.bytes"]:
            raise AssertionError(f"librdkafka would refuse a {len(value)}-byte message")
        self.sent.append((topic, value, dict(headers)))

    def poll(self, _timeout=0):
        return 0

    def flush(self, _timeout=0):
        return 0


@pytest.fixture
def make_producer(monkeypatch):
    monkeypatch.setattr(producer_mod, "Producer", FakeKafka)
    FakeKafka.instances.clear()

    def make(fmt: str, max_bytes: int = DEFAULT_MAX_BYTES) -> RawProducer:
        clients = Clients(
            producer_conf={"bootstrap.servers": "fake:9092", "acks": "all"},
            # the DeadLetter as JSON with raw in latin-1: the test reads back what would be sent
            dead_letter_serializer=lambda: lambda rec, _ctx: json.dumps(
                {**rec, "raw": rec["raw"].decode("latin-1")}).encode(),
            bootstrap_servers="fake:9092", registry_url="http://fake:8081", max_bytes=max_bytes)
        return RawProducer(clients, fmt, "acme", TOPIC, DLQ)

    return make


def sent(p: RawProducer) -> tuple[list[tuple[bytes, int]], list[dict]]:
    """(records as (value, line), dead letters as dicts) that went to the fake Kafka."""
    fake = p._producer
    records = [(v, int(h["line"])) for t, v, h in fake.sent if t == TOPIC]
    letters = [json.loads(v) for t, v, _h in fake.sent if t == DLQ]
    return records, letters


def _k8s_lines(n: int) -> list[bytes]:
    return [b'{"kind":"Event","auditID":"%d","stage":"ResponseComplete","pad":"%s"}\n'
            % (i, b"x" * (i % 97)) for i in range(1, n + 1)]


# ------------------------------------------------------------------ deep JSON, following files
def test_deeply_nested_json_line_is_one_reject_and_the_rest_and_the_next_file_are_sent(
        tmp_path, make_producer):
    deep = b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"\n"
    first = tmp_path / "a.log"
    first.write_bytes(b"".join(_k8s_lines(2)) + deep + b"".join(_k8s_lines(3)))
    second = tmp_path / "b.log"
    second.write_bytes(b"".join(_k8s_lines(4)))
    p = make_producer("k8s-audit")
    for f in (first, second):
        ingest_file(p, "k8s-audit", str(f))
    records, letters = sent(p)
    assert [line for _v, line in records] == [1, 2, 4, 5, 6, 1, 2, 3, 4]
    assert len(letters) == 1
    assert letters[0]["error_class"] == "RecursionError"
    assert letters[0]["error_message"].startswith(f"{first}:3: JSON nested too deeply to decode")
    assert letters[0]["raw"].encode("latin-1") == deep[:-1]
    assert (p.summary.records, p.summary.rejects, p.summary.dead_lettered) == (9, 1, 1)


def test_deeply_nested_cloudtrail_element_is_one_reject_among_the_good_ones(make_producer, tmp_path):
    deep = '{"a":' * 50_000 + "1" + "}" * 50_000
    doc = '{"Records": [{"eventName": "A"},\n' + deep + ',\n{"eventName": "B"}]}'
    f = tmp_path / "ct.json"
    f.write_text(doc)
    p = make_producer("cloudtrail")
    ingest_file(p, "cloudtrail", str(f))
    records, letters = sent(p)
    assert records == [(b'{"eventName": "A"}', 1), (b'{"eventName": "B"}', 3)]
    assert len(letters) == 1 and letters[0]["error_class"] == "FramingError"
    assert letters[0]["error_message"].startswith(f"{f}:2: in Records: JSON nested too deeply to decode")
    assert letters[0]["raw"] == deep


# ------------------------------------------------------------------ gzip
@pytest.fixture
def k8s_gz(tmp_path) -> tuple[Path, list[bytes], bytes]:
    lines = _k8s_lines(3000)
    gz = gzip.compress(b"".join(lines), mtime=0)
    return tmp_path / "audit.log.gz", lines, gz


def _complete_lines(truncated_gz: bytes) -> int:
    return zlib.decompressobj(31).decompress(truncated_gz).count(b"\n")


@pytest.mark.parametrize("fmt", ["k8s-audit", "syslog"])
def test_truncated_gzip_sends_every_line_before_the_break_then_one_reject(
        k8s_gz, make_producer, tmp_path, fmt):
    path, lines, gz = k8s_gz
    path.write_bytes(gz[:len(gz) // 2])
    complete = _complete_lines(gz[:len(gz) // 2])
    assert complete == 1476           # the fixture: half of the compressed file holds 1476 lines
    after = tmp_path / "after.log"
    after.write_bytes(b"".join(lines[:5]))
    p = make_producer(fmt)
    ingest_file(p, fmt, str(path))
    ingest_file(p, fmt, str(after))
    records, letters = sent(p)
    assert [v + b"\n" for v, _line in records[:complete]] == lines[:complete]
    assert len(records) == complete + 5
    assert len(letters) == 1
    msg = letters[0]["error_message"]
    assert letters[0]["error_class"] == "ingest.bad_gzip"
    assert msg.startswith(f"{path}:{complete + 1}: gzip stream broken in line {complete + 1:,} (after ")
    assert "Compressed file ended before the end-of-stream marker was reached" in msg


def test_gzip_with_a_bad_crc_sends_the_records_then_one_reject(k8s_gz, make_producer):
    path, lines, gz = k8s_gz
    bad = bytearray(gz)
    bad[-8] ^= 0xFF                   # the CRC32 of the member
    path.write_bytes(bytes(bad))
    p = make_producer("k8s-audit")
    ingest_file(p, "k8s-audit", str(path))
    records, letters = sent(p)
    assert len(records) == 3000
    assert len(letters) == 1 and "CRC check failed" in letters[0]["error_message"]
    assert "the records sent from it may be damaged" in letters[0]["error_message"]
    assert letters[0]["error_message"].startswith(f"{path}:3001: gzip stream broken in line 3,001")


def test_truncated_gzip_cloudtrail_file_keeps_the_elements_before_the_break(make_producer, tmp_path):
    events = [{"eventName": f"E{i}", "pad": "y" * (i % 50)} for i in range(1000)]
    doc = ('{"Records": [\n' + ",\n".join(json.dumps(e) for e in events) + "\n]}").encode()
    gz = gzip.compress(doc, mtime=0)
    path = tmp_path / "ct.json.gz"
    path.write_bytes(gz[:len(gz) * 2 // 3])
    prefix = zlib.decompressobj(31).decompress(gz[:len(gz) * 2 // 3])
    whole = prefix.count(b"}")        # elements ending before the break
    assert whole == 643 and not prefix.endswith(b"}")   # the fixture: the break is inside E643
    p = make_producer("cloudtrail")
    ingest_file(p, "cloudtrail", str(path))
    records, letters = sent(p)
    assert [json.loads(v) for v, _line in records] == events[:whole]
    assert [line for _v, line in records] == list(range(2, whole + 2))
    assert len(letters) == 1
    assert letters[0]["error_message"].startswith(f"{path}:{whole + 2}: gzip stream broken in line")
    assert "framing said: in Records: " in letters[0]["error_message"]


def test_a_gz_file_that_is_not_gzip_is_one_reject_and_the_next_file_is_read(make_producer, tmp_path):
    fake = tmp_path / "auth.log.gz"
    fake.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(range(256)) * 10)   # zstd-like
    real = tmp_path / "auth.log"
    real.write_bytes(b"<38>Jan 12 06:30:01 h sshd[1]: a\n<38>Jan 12 06:30:02 h sshd[1]: b\n")
    p = make_producer("syslog")
    ingest_file(p, "syslog", str(fake))
    ingest_file(p, "syslog", str(real))
    records, letters = sent(p)
    assert [line for _v, line in records] == [1, 2]
    assert len(letters) == 1 and letters[0]["error_class"] == "ingest.bad_gzip"
    assert letters[0]["error_message"] == (
        f"{fake}:1: named .gz but not gzip (it starts with 28 b5 2f fd 00 01 02 03, gzip starts with "
        "1f 8b); nothing was read from it: decompress it with the right tool or rename it")


# ------------------------------------------------------------------ one maximum record size
@pytest.mark.parametrize("fmt", ["syslog", "k8s-audit", "app", "debezium", "auditd"])
def test_a_line_over_max_bytes_is_a_reject_with_its_size_and_a_64k_dead_letter(make_producer, tmp_path, fmt):
    good = {"syslog": b"<38>Jan 12 06:30:01 h sshd[1]: ok", "auditd": b"type=X msg=audit(1.0:%d): ok"}.get(
        fmt, b'{"n": %d}')
    big = (b"type=X msg=audit(1.0:9): " if fmt == "auditd" else b"") + b"z" * (2 * DEFAULT_MAX_BYTES)
    f = tmp_path / "in.log"
    f.write_bytes(b"\n".join([good.replace(b"%d", b"1"), big, good.replace(b"%d", b"2")]) + b"\n")
    p = make_producer(fmt)
    ingest_file(p, fmt, str(f))
    records, letters = sent(p)
    assert [line for _v, line in records] == [1, 3]
    assert len(letters) == 1
    assert letters[0]["error_class"] == "ingest.oversize"
    assert letters[0]["raw"].encode("latin-1") == big[:KEEP_BYTES]
    assert letters[0]["error_message"] == (
        f"{f}:2: line is {len(big):,} bytes, over the 1,048,576-byte limit (limits.max_bytes); the "
        "dead letter keeps its first 65,536 bytes; split it at the source or raise limits.max_bytes")


def test_a_line_at_max_bytes_is_a_record(make_producer, tmp_path):
    f = tmp_path / "in.log"
    f.write_bytes(b"a" * 1000 + b"\r\n" + b"b" * 1001 + b"\n")
    p = make_producer("syslog", max_bytes=1000)
    ingest_file(p, "syslog", str(f))
    records, letters = sent(p)
    assert records == [(b"a" * 1000, 1)]
    assert len(letters) == 1
    assert ":2: line is 1,001 bytes, over the 1,000-byte limit" in letters[0]["error_message"]


def test_auditd_event_over_max_bytes_is_one_reject_for_all_its_lines(make_producer, tmp_path):
    lines = [b"type=PATH msg=audit(1.0:7): item=%d %s" % (i, b"p" * 300) for i in range(10)]
    f = tmp_path / "audit.log"
    f.write_bytes(b"type=X msg=audit(1.0:6): a\n" + b"\n".join(lines) + b"\ntype=X msg=audit(1.0:8): b\n")
    p = make_producer("auditd", max_bytes=2000)
    ingest_file(p, "auditd", str(f))
    records, letters = sent(p)
    assert [line for _v, line in records] == [1, 12]
    assert len(letters) == 1
    size = sum(len(x) for x in lines) + 9
    assert letters[0]["error_message"].startswith(
        f"{f}:2: auditd event of 10 lines is {size:,} bytes, over the 2,000-byte limit")
    assert letters[0]["raw"].encode("latin-1") == b"\n".join(lines[:5])   # the lines within the limit


def test_cloudtrail_element_over_max_bytes_is_a_reject_and_the_others_records(make_producer, tmp_path):
    doc = json.dumps({"Records": [{"eventName": "A"}, {"eventName": "B", "x": "q" * 5000},
                                  {"eventName": "C"}]})
    f = tmp_path / "ct.json"
    f.write_text(doc)
    p = make_producer("cloudtrail", max_bytes=4096)
    ingest_file(p, "cloudtrail", str(f))
    records, letters = sent(p)
    assert [json.loads(v)["eventName"] for v, _line in records] == ["A", "C"]
    assert len(letters) == 1
    assert letters[0]["error_message"].startswith(f"{f}:1: Records element is 5,027 bytes, over the 4,096")


def test_producer_message_max_bytes_fits_a_record_at_the_limit(make_producer):
    p = make_producer("syslog")
    assert p._producer.conf["message.max.bytes"] == DEFAULT_MAX_BYTES + MESSAGE_HEADROOM == 1_114_112
    p.send(1, b"v" * DEFAULT_MAX_BYTES)
    p.send(2, b"v" * (DEFAULT_MAX_BYTES + 1))    # from a caller that frames itself (the demo)
    records, letters = sent(p)
    assert [line for _v, line in records] == [1]
    assert len(letters) == 1 and letters[0]["error_class"] == "ingest.oversize"
    assert len(letters[0]["raw"]) == KEEP_BYTES


# ------------------------------------------------------------------ lines end at \n only
def test_lines_are_cut_at_newline_only(make_producer, tmp_path):
    odd = "<38>Jan 12 06:30:01 h app: a\rb\x0bc\x0cd\x1ce\x1df\x1eg\x85h\u2028i\u2029j".encode()
    f = tmp_path / "in.log"
    f.write_bytes(odd + b"\n" + b"last\n")
    p = make_producer("syslog")
    ingest_file(p, "syslog", str(f))
    assert sent(p)[0] == [(odd, 1), (b"last", 2)]


def test_cloudtrail_json_lines_with_u2028_and_a_lone_cr_are_one_record_each(make_producer, tmp_path):
    lines = ['{"eventName": "A", "m": "x\u2028y\u0085z"}', '{"eventName": "B",\r"n": 1}',
             '{"eventName": "C"}']
    f = tmp_path / "events.jsonl"
    f.write_bytes("\n".join(lines).encode() + b"\n")
    p = make_producer("cloudtrail")
    ingest_file(p, "cloudtrail", str(f))
    records, letters = sent(p)
    assert records == [(line.encode(), n) for n, line in enumerate(lines, 1)] and letters == []


# ------------------------------------------------------------------ follow
def test_follow_rejects_a_line_over_the_limit_and_goes_on(make_producer, tmp_path):
    log = tmp_path / "auth.log"
    log.write_bytes(b"one\n" + b"w" * 5000 + b"\ntwo\n")
    p = make_producer("syslog", max_bytes=1000)
    follow_file(p, "syslog", log, from_start=True, stop=lambda: len(sent(p)[0]) >= 2, interval_s=0.01)
    records, letters = sent(p)
    assert records == [(b"one", 1), (b"two", 3)]
    assert len(letters) == 1
    assert letters[0]["error_message"].startswith(f"{log}:2: line is 5,000 bytes, over the 1,000-byte")
    assert letters[0]["raw"].encode("latin-1") == b"w" * 1000    # never more than the limit
