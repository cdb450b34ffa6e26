"""Properties of ingest framing (issue 16): any bytes in, from random bytes to mutations of the
fixture corpora, plain or gzip (whole, truncated, corrupted), and every input line is accounted
for as exactly one Record or Reject or a counted blank line; nothing raises; the good elements of
a CloudTrail file with bad ones are all there. No services; max_examples keep it to seconds."""

from __future__ import annotations

import gzip
import io
import json
import zlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.ingest.framing import (
    DEFAULT_MAX_BYTES,
    FORMATS,
    KEEP_BYTES,
    OVERSIZE,
    Record,
    Reject,
    frame_cloudtrail,
    split_lines,
    strip_eol,
)
from connectors.ingest.run import BAD_GZIP, Counts, frame_cloudtrail_stream, frame_stream, records_stream

RAW = Path(__file__).resolve().parents[1] / "fixtures" / "raw"
CORPUS = {
    "syslog": [RAW / "syslog" / "auth-rfc3164.log", RAW / "syslog" / "auth-rfc5424.log"],
    "cloudtrail": sorted((RAW / "cloudtrail").iterdir()) + [RAW / "rejects" / "cloudtrail-not-records.json"],
    "k8s-audit": [RAW / "k8s-audit" / "audit.log", RAW / "rejects" / "k8s-audit-with-bad-lines.log"],
    "auditd": [RAW / "auditd" / "audit.log"],
    "app": [RAW / "app" / "events.jsonl"],
    "debezium": [RAW / "debezium" / "changes.jsonl"],
}
LINE_FORMATS = [f for f in FORMATS if f != "cloudtrail"]
FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _corpus(fmt: str) -> list[bytes]:
    out = []
    for path in CORPUS[fmt]:
        data = path.read_bytes()
        out.append(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    return out


# ------------------------------------------------------------------ inputs
SPECIAL = st.sampled_from([
    b"\n", b"\r\n", b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\x85", "\u2028".encode(),
    b"{", b"}", b"[", b"]", b",", b'"', b"\\", b":", b"\xff", b"\xc3", b" ", b"", b"null",
    b'{"a":' * 2000, b"]" * 2000, b"msg=audit(1.0:1): ", b"z" * 700,
])


@st.composite
def mutated(draw, fmt: str) -> bytes:
    """A corpus file of the format (or random bytes), with a few bytes inserted, deleted or
    replaced, lines duplicated or dropped."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=600))
    data = bytearray(draw(st.sampled_from(_corpus(fmt))))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "line", "new line"]))
        at = draw(st.integers(0, len(data)))
        if op == "insert":
            data[at:at] = draw(st.one_of(SPECIAL, st.binary(max_size=8)))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 40))]
        elif op == "replace" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "new line":     # a whole line of its own: deep, long, or odd line breaks
            data[at:at] = b"\n" + draw(st.sampled_from([
                b'{"a":' * 3000 + b"1" + b"}" * 3000, b'{"x": "' + b"y" * 900 + b'"}',
                b'{"a": "\xe2\x80\xa8", "b":\r1}', b"[" * 5000, b"\x1c\x1d\x1e\x85\x0b\x0c"])) + b"\n"
        elif op == "line":
            lines = bytes(data).split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines[i:i + 1] = draw(st.sampled_from([[], [lines[i], lines[i]], [lines[i] * 3]]))
            data = bytearray(b"\n".join(lines))
    return bytes(data)


@st.composite
def maybe_gzip(draw, data: bytes) -> tuple[bytes, str]:
    """(input bytes, how): the data plain, gzip, gzip truncated, or gzip with bytes flipped."""
    how = draw(st.sampled_from(["plain", "plain", "gzip", "truncated", "flipped"]))
    if how == "plain":
        return data, how
    gz = gzip.compress(data, mtime=0)
    if how == "truncated":
        return gz[:draw(st.integers(2, len(gz) - 1))], how
    if how == "flipped":
        gz = bytearray(gz)
        for _ in range(draw(st.integers(1, 4))):
            gz[draw(st.integers(10, len(gz) - 1))] ^= draw(st.integers(1, 255))
        return bytes(gz), how
    return gz, how


def _stream(data: bytes):
    return records_stream(io.BufferedReader(io.BytesIO(data)))  # type: ignore[arg-type]


# ------------------------------------------------------------------ line formats
def _covered(fmt: str, item) -> range:
    if isinstance(item, Reject):
        return range(item.line, item.line + item.lines)
    return range(item.line, item.line + (item.value.count(b"\n") + 1 if fmt == "auditd" else 1))


def _check_lines(fmt: str, data: bytes, items: list, counts: Counts, max_bytes: int) -> None:
    lines = split_lines(data)
    covered: list[int] = []
    for item in items:
        covered.extend(_covered(fmt, item))
        if isinstance(item, Record):
            assert len(item.value) <= max_bytes
            if fmt != "auditd":
                assert item.value == strip_eol(lines[item.line - 1])
        elif item.error_class == OVERSIZE:
            assert len(item.raw) <= min(KEEP_BYTES, max_bytes)
    assert covered == sorted(set(covered))                       # no line twice, in order
    assert set(covered) <= set(range(1, len(lines) + 1))
    blank = [n for n in range(1, len(lines) + 1) if n not in set(covered)]
    assert all(not strip_eol(lines[n - 1]).strip() for n in blank)  # the rest is blank ...
    assert len(blank) == counts.blank                                # ... and counted
    assert counts.lines == len(lines)


@FAST
@given(st.sampled_from(LINE_FORMATS).flatmap(lambda f: st.tuples(st.just(f), mutated(f))),
       st.sampled_from([64, 300, DEFAULT_MAX_BYTES]))
def test_every_line_is_one_record_or_one_reject_or_a_counted_blank_line(fmt_data, max_bytes):
    fmt, data = fmt_data
    counts = Counts()
    items = list(frame_stream(fmt, _stream(data), max_bytes, counts))
    if data[:2] == b"\x1f\x8b":          # random bytes that happen to look like gzip
        return
    _check_lines(fmt, data, items, counts, max_bytes)


@FAST
@given(st.sampled_from(LINE_FORMATS).flatmap(
    lambda f: st.tuples(st.just(f), mutated(f).flatmap(lambda d: st.tuples(st.just(d), maybe_gzip(d))))))
def test_gzip_input_whole_truncated_or_corrupt_never_raises_and_breaks_with_one_reject(fmt_case):
    fmt, (data, (given_bytes, how)) = fmt_case
    counts = Counts()
    items = list(frame_stream(fmt, _stream(given_bytes), DEFAULT_MAX_BYTES, counts))
    breaks = [i for i in items if isinstance(i, Reject) and i.error_class == BAD_GZIP]
    assert len(breaks) <= 1 and (not breaks or items[-1] is breaks[0])
    plain_text = how == "plain" and given_bytes[:2] != b"\x1f\x8b"   # not random bytes like gzip
    if plain_text or how == "gzip":
        assert not breaks
        _check_lines(fmt, data, items, counts, DEFAULT_MAX_BYTES)
    if how == "truncated":
        # every line complete before the break is framed exactly as the plain prefix would be
        prefix = zlib.decompressobj(31).decompress(given_bytes)
        whole = prefix[:prefix.rfind(b"\n") + 1]
        expected = list(frame_stream(fmt, _stream(whole), DEFAULT_MAX_BYTES))
        assert items[:-1] == expected and len(breaks) == 1
        assert breaks[0].line == whole.count(b"\n") + 1


# ------------------------------------------------------------------ CloudTrail files
@FAST
@given(mutated("cloudtrail").flatmap(maybe_gzip), st.sampled_from([100, DEFAULT_MAX_BYTES]))
def test_cloudtrail_any_file_frames_without_raising_into_objects_and_rejects(case, max_bytes):
    given_bytes, _how = case
    items, _size = frame_cloudtrail_stream(_stream(given_bytes), max_bytes)
    lines = [it.line for it in items]
    assert lines == sorted(lines) and all(n >= 1 for n in lines)
    for item in items:
        if isinstance(item, Record):
            assert len(item.value) <= max_bytes
            assert isinstance(json.loads(item.value), dict)
        else:
            assert len(item.raw) <= max(KEEP_BYTES, 4096) and item.reason


JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8)
EVENT = st.dictionaries(st.text(max_size=8), JSON_VALUE, min_size=1, max_size=4)


NOT_OBJECT = JSON_VALUE.filter(lambda v: not isinstance(v, dict))


@st.composite
def records_array(draw) -> list[tuple[str, str]]:
    """Elements of a Records array as (kind, text): 'good' events; 'value', JSON that is not an
    object; 'fail', input the decoder refuses (brackets and strings balanced, as in a broken
    event); 'stray', an extra comma. The scan resynchronizes at the next '{' at element depth,
    so what follows a 'fail' starts with '{' (else both are one stretch of bad input), and a
    stray comma comes before a good event and not after a 'fail' (it would be part of that)."""
    key = json.dumps(draw(st.text(max_size=6)))
    value = json.dumps(draw(JSON_VALUE))
    fail_obj = ["{" + key + " " + value + "}", "{" + key + ": " + value + ",}", "{" + key + ": }",
                "{" + key + ": [1, 2}", "{" + key + ": nul}", '{"a":' * 3000 + "1" + "}" * 3000]
    out: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(1, 25))):
        prev = out[-1][0] if out else None
        kinds = ["good", "good", "fail_obj"] + ([] if prev == "fail" else ["value", "fail_other", "stray"])
        kind = draw(st.sampled_from(kinds))
        if kind == "stray":
            out.append(("stray", ","))
            kind = "good"
        if kind == "good":
            out.append(("good", json.dumps(draw(EVENT), ensure_ascii=draw(st.booleans()))))
        elif kind == "value":
            out.append(("value", json.dumps(draw(NOT_OBJECT))))
        elif kind == "fail_obj":
            out.append(("fail", draw(st.sampled_from(fail_obj))))
        else:
            out.append(("fail", draw(st.sampled_from(["nul", "tru", "-", "+1", "01x"]))))
    return out


@FAST
@given(records_array(), st.sampled_from(["compact", "pretty", "one line"]), st.booleans())
def test_cloudtrail_records_file_with_bad_elements_keeps_every_good_one(elements, layout, gz):
    sep = {"compact": ",", "pretty": ",\n    ", "one line": ", "}[layout]
    body = ""
    for n, (kind, text) in enumerate(elements):
        # a stray comma is an extra ',' before the event that follows it
        body += text if kind == "stray" or n == len(elements) - 1 else text + sep
    nl = "\n" if layout == "pretty" else ""
    doc = ('{"Records": [' + nl + body + nl + '], "x": 1}').encode()
    given_bytes = gzip.compress(doc, mtime=0) if gz else doc
    items, _ = frame_cloudtrail_stream(_stream(given_bytes), DEFAULT_MAX_BYTES)
    records = [i for i in items if isinstance(i, Record)]
    rejects = [i for i in items if isinstance(i, Reject)]
    assert [r.value.decode() for r in records] == [t for k, t in elements if k == "good"]
    assert len(rejects) == sum(1 for k, _t in elements if k != "good")
    assert [r.raw.decode() for r in rejects] == [t for k, t in elements if k != "good"]


def test_frame_cloudtrail_is_what_the_stream_reader_gives_for_a_plain_file():
    data = (RAW / "cloudtrail" / "123456789012_CloudTrail_us-east-2_20250112T0630Z_Ab3dEf.json").read_bytes()
    items = list(frame_cloudtrail(data))
    assert len(items) == 3
    assert frame_cloudtrail_stream(_stream(data), DEFAULT_MAX_BYTES) == (items, len(data))
