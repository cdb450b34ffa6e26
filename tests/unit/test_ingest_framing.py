"""Record framing per source family (connectors/ingest/framing.py): pure, no services."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from connectors.ingest.framing import (
    LineSplitter,
    Overlong,
    Record,
    Reject,
    auditd_event_id,
    frame_cloudtrail,
    frame_lines,
    record_spans,
    split_lines,
)

RAW = Path(__file__).resolve().parents[1] / "fixtures" / "raw"
CT = RAW / "cloudtrail" / "123456789012_CloudTrail_us-east-2_20250112T0630Z_Ab3dEf.json"


def _records(items):
    return [i for i in items if isinstance(i, Record)]


def _rejects(items):
    return [i for i in items if isinstance(i, Reject)]


def test_syslog_one_record_per_line_and_blank_lines_are_not_records():
    items = list(frame_lines("syslog", (RAW / "syslog" / "auth-rfc3164.log").read_bytes().splitlines()))
    assert len(_records(items)) == 9 and not _rejects(items)
    assert [r.line for r in items][-2:] == [8, 10]            # line 9 is blank
    assert items[0].value.startswith(b"<38>Jan 12 06:30:01 bastion sshd[2154]: Accepted publickey")


def test_syslog_keeps_the_line_bytes_exactly_but_drops_line_endings():
    items = list(frame_lines("syslog", [b"<13>1 - - - - - - caf\xc3\xa9 \xff\r\n", b"x\n"]))
    assert [i.value for i in items] == [b"<13>1 - - - - - - caf\xc3\xa9 \xff", b"x"]


def test_auditd_groups_consecutive_lines_of_one_event():
    lines = (RAW / "auditd" / "audit.log").read_bytes().splitlines()
    items = list(frame_lines("auditd", lines))
    assert not _rejects(items)
    assert [(r.line, r.value.count(b"\n") + 1) for r in items] == [
        (1, 1), (2, 1), (3, 1), (4, 5), (9, 6), (15, 1)]
    assert all(len({auditd_event_id(x) for x in r.value.split(b"\n")}) == 1 for r in items)
    assert items[3].value.split(b"\n")[-1] == b"type=EOE msg=audit(1736663530.221:4391):"


def test_auditd_line_without_an_event_id_is_a_reject_and_ends_the_open_event():
    items = list(frame_lines("auditd", [
        b"type=SYSCALL msg=audit(1.000:1): a", b"garbage", b"type=PATH msg=audit(1.000:1): b",
    ]))
    assert [type(i).__name__ for i in items] == ["Record", "Reject", "Record"]
    assert items[1].line == 2 and "msg=audit(<time>:<serial>)" in items[1].reason


def test_auditd_same_id_later_again_is_a_new_record():
    # auditd writes an event contiguously; a repeat after another id is another record
    lines = [b"msg=audit(1.0:1): a", b"msg=audit(1.0:2): b", b"msg=audit(1.0:1): c"]
    items = list(frame_lines("auditd", lines))
    assert len(_records(items)) == 3


@pytest.mark.parametrize("fmt,path,count", [
    ("k8s-audit", "k8s-audit/audit.log", 4),
    ("app", "app/events.jsonl", 3),
    ("debezium", "debezium/changes.jsonl", 3),
    ("cloudtrail", "cloudtrail/events.jsonl", 3),
])
def test_json_lines_formats(fmt, path, count):
    data = (RAW / path).read_bytes()
    items = list(frame_lines(fmt, data.splitlines()))
    assert len(_records(items)) == count and not _rejects(items)
    assert [r.value for r in items] == data.splitlines()


def test_invalid_json_lines_are_rejected_with_line_and_reason():
    items = list(frame_lines("k8s-audit", (RAW / "rejects" / "k8s-audit-with-bad-lines.log")
                             .read_bytes().splitlines()))
    assert [r.line for r in _records(items)] == [1, 4]
    bad = _rejects(items)
    assert [r.line for r in bad] == [2, 3]
    assert "invalid JSON at column" in bad[0].reason and bad[0].error_class == "JSONDecodeError"
    assert "got a JSON list" in bad[1].reason
    assert bad[0].raw.startswith(b'{"kind":"Event"')


def test_cloudtrail_records_file_one_record_per_element_with_exact_bytes_and_lines():
    text = CT.read_text()
    items = list(frame_cloudtrail(CT.read_bytes()))
    assert len(items) == 3 and not _rejects(items)
    assert [json.loads(r.value)["eventName"] for r in items] == ["ConsoleLogin", "CreateUser", "StopLogging"]
    assert [r.line for r in items] == [3, 28, 64]
    assert all(r.value.decode() in text for r in items)       # bytes as delivered, not re-encoded


def test_cloudtrail_minified_gzip_delivery_file():
    gz = RAW / "cloudtrail" / "123456789012_CloudTrail_us-east-1_20250112T0635Z_Zx9yWv.json.gz"
    items = list(frame_cloudtrail(gzip.decompress(gz.read_bytes())))
    assert len(_records(items)) == 2 and all(r.line == 1 for r in items)


def test_cloudtrail_records_not_first_key_and_empty():
    assert record_spans('{"x": {"Records": 1}, "Records": [ {"a":1} , {"b":[2]} ]}') == [(35, 42), (45, 54)]
    assert list(frame_cloudtrail(b'{"Records": []}')) == []


@pytest.mark.parametrize("data,needle", [
    ((RAW / "rejects" / "cloudtrail-not-records.json").read_bytes(), "no \"Records\" array"),
    (b"[1, 2]\n[3]", "got a JSON list"),
])
def test_cloudtrail_file_that_cannot_be_framed_is_one_reject(data, needle):
    items = list(frame_cloudtrail(data))
    assert len(items) >= 1 and all(isinstance(i, Reject) for i in items)
    assert needle in items[0].reason


def test_cloudtrail_truncated_records_file_keeps_the_elements_before_the_break():
    items = list(frame_cloudtrail(b'{\n "Records": [\n {"a": 1},\n {"b": \n'))
    assert items[0] == Record(3, b'{"a": 1}')
    assert items[1:] == [Reject(4, b'{"b":', "in Records: invalid JSON at line 5 column 1: Expecting value; "
                                "the file ends inside it (truncated?)")]


def test_cloudtrail_json_line_holding_a_records_document_is_split():
    line = json.dumps({"Records": [{"eventName": "A"}, {"eventName": "B"}]}).encode()
    items = list(frame_lines("cloudtrail", [line, b'{"eventName": "C"}']))
    assert [(r.line, json.loads(r.value)["eventName"]) for r in items] == [(1, "A"), (1, "B"), (2, "C")]


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown format 'nginx'"):
        list(frame_lines("nginx", [b"x"]))


# ------------------------------------------------------------------ issue 16: tolerant Records
def _ct_file(events: list[str], sep: str = ",\n  ") -> bytes:
    return ('{"Records": [\n  ' + sep.join(events) + '\n]}').encode()


EVENTS = [json.dumps({"eventName": f"E{i}", "requestParameters": {"n": [i, {"k": "v"}]}})
          for i in range(1000)]


def test_cloudtrail_records_file_with_one_stray_comma_is_every_record_and_one_reject():
    events = [*EVENTS[:500], "", *EVENTS[500:]]       # "{...},\n  ,\n  {...}"
    items = list(frame_cloudtrail(_ct_file(events)))
    assert [r.value.decode() for r in _records(items)] == EVENTS
    assert _rejects(items) == [
        Reject(502, b",", "in Records: a ',' with no element before it (a stray comma)")]
    assert [r.line for r in _records(items)][499:501] == [501, 503]


@pytest.mark.parametrize("bad,reason", [
    ('{"eventName": "X" "bad": 1}',
     "in Records: invalid JSON at line 502 column 21: Expecting ',' delimiter"),
    ('{"eventName": "X", "p": [1, 2}', "in Records: invalid JSON at line 502 column 32: "
                                       "Expecting ',' delimiter"),
    ('{"eventName": "X", "s": "a}, {\\"b"}', None),   # braces inside a string do not resync
    ("nul", "in Records: invalid JSON at line 502 column 3: Expecting value"),
    ("17", "a Records element is a JSON number; expected a CloudTrail event object"),
])
def test_cloudtrail_records_file_with_one_bad_element_is_999_records_and_one_reject(bad, reason):
    events = [*EVENTS[:500], bad, *EVENTS[501:]]
    items = list(frame_cloudtrail(_ct_file(events)))
    if reason is None:           # valid JSON after all: a record
        assert len(_records(items)) == 1000 and not _rejects(items)
        return
    assert [r.value.decode() for r in _records(items)] == EVENTS[:500] + EVENTS[501:]
    assert _rejects(items) == [Reject(502, bad.encode(), reason)]


def test_cloudtrail_records_scan_trailing_comma_missing_comma_and_garbage_after_the_array():
    items = list(frame_cloudtrail(b'{"Records": [{"a": 1} {"b": 2}, {"c": 3},]} trailing'))
    assert [r.value for r in _records(items)] == [b'{"a": 1}', b'{"b": 2}', b'{"c": 3}']
    assert [(r.raw, r.reason) for r in _rejects(items)] == [
        (b",", "in Records: a ',' with no element after it before ']' (a stray comma)"),
        (b"} trailing", "after the Records array: line 1: extra data after the document")]


def test_cloudtrail_element_not_utf8_is_rejected_alone_with_its_exact_bytes():
    items = list(frame_cloudtrail(b'{"Records": [{"a": "caf\xc3\xa9"}, {"b": "\xff"}, {"c": 1}]}'))
    assert [r.value for r in _records(items)] == [b'{"a": "caf\xc3\xa9"}', b'{"c": 1}']
    assert _rejects(items) == [Reject(1, b'{"b": "\xff"}', "a Records element is not UTF-8 (invalid byte "
                                      "at offset 7 of the element)", "UnicodeDecodeError")]


def test_cloudtrail_json_line_with_a_records_document_holding_a_non_object():
    items = list(frame_lines("cloudtrail", [b'{"Records": [{"a": 1}, 2]}', b'{"Records": 3}']))
    assert items == [
        Record(1, b'{"a": 1}'),
        Reject(1, b"2", "a Records element is a JSON number; expected a CloudTrail event object"),
        Reject(2, b'{"Records": 3}', "line 1: the object has no \"Records\" array; a CloudTrail delivery "
               "file is {\"Records\":[...]}")]


def test_a_delivery_file_over_max_bytes_is_framed_by_its_records():
    events = [json.dumps({"eventName": f"E{i}", "x": "y" * 100}) for i in range(50)]
    one_line = ('{"Records": [' + ",".join(events) + "]}").encode()
    assert len(one_line) > 5000
    items = list(frame_cloudtrail(one_line, max_bytes=1000))
    assert [r.value.decode() for r in items] == events


# ------------------------------------------------------------------ issue 16: deep JSON, lines
def test_deeply_nested_json_line_is_a_reject():
    deep = b"[" * 100_000 + b"]" * 100_000
    items = list(frame_lines("app", [b'{"a": 1}', deep, b'{"b": 2}']))
    assert [type(i).__name__ for i in items] == ["Record", "Reject", "Record"]
    assert items[1].line == 2 and items[1].error_class == "RecursionError" and items[1].raw == deep


def test_split_lines_cuts_at_newline_only():
    assert split_lines(b"a\rb\x0bc\x1cd\n\ne\r\n") == [b"a\rb\x0bc\x1cd", b"", b"e\r"]
    assert split_lines("x\u2028y\n".encode()) == ["x\u2028y".encode()]


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1 << 16])
def test_line_splitter_any_chunking_same_lines_and_overlong_lines(chunk):
    # the input does not end with \n: its last line comes from end()
    data = b"a\r\n" + b"L" * 250 + b"\nbb\n\n" + b"M" * 101 + b"\n" + b"N" * 100 + b"\rtail"
    split = LineSplitter(max_bytes=100)
    got = []
    for i in range(0, len(data), chunk):
        got += split.feed(data[i:i + chunk])
        assert split.buffered <= 101
    got.append(split.end())
    # 101 bytes fit (a line at the limit may end in \r\n); the framer rejects a 101-byte value
    assert got == [b"a\r", Overlong(b"L" * 100, 250), b"bb", b"", b"M" * 101, Overlong(b"N" * 100, 105)]
    assert split.end() is None
