"""Record framing per source family: split raw input into records without parsing their content.

Pure functions and small state machines over ``(line_number, line_bytes)``; nothing here talks to
Kafka or the file system. A framer yields :class:`Record` for every record it can cut out and
:class:`Reject` (with the line number and a reason a person can act on) for input it cannot frame,
so nothing is dropped silently. Blank lines are not records and are only counted.

| format      | one record is                                                        |
| ----------- | -------------------------------------------------------------------- |
| syslog      | one line (RFC 3164 or RFC 5424; content is not parsed)               |
| cloudtrail  | one element of ``Records`` of a delivered file, or one JSON line      |
| k8s-audit   | one JSON line (an audit.k8s.io/v1 Event)                             |
| auditd      | consecutive lines sharing one ``msg=audit(<time>:<serial>)`` id      |
| app         | one JSON line (see connectors/README.md for the event shape)         |
| debezium    | one JSON line (a Debezium change event envelope)                     |
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from udfs import sources

# the formats are the source families (udfs/sources.py), and so are their topics and names
FORMATS = sources.NAMES
# DeadLetter.source / lineage.source_system use these names (schemas/dead_letter.avsc)
SOURCE_SYSTEM = sources.SOURCE_SYSTEMS
raw_topic = sources.raw_topic


@dataclass(frozen=True, slots=True)
class Record:
    line: int          # 1-based line of the record's first byte in its file
    value: bytes


@dataclass(frozen=True, slots=True)
class Reject:
    line: int
    raw: bytes
    reason: str
    error_class: str = "FramingError"


Item = Record | Reject


def strip_eol(line: bytes) -> bytes:
    if line.endswith(b"\n"):
        line = line[:-1]
    if line.endswith(b"\r"):
        line = line[:-1]
    return line


# ------------------------------------------------------------------ line framers
class LineFramer:
    """One non-blank line is one record (syslog)."""

    def __init__(self) -> None:
        self.blank = 0

    def _content(self, line: bytes) -> bytes | None:
        """The line without its line ending, or None for a blank line (counted, not a record)."""
        value = strip_eol(line)
        if not value.strip():
            self.blank += 1
            return None
        return value

    def feed(self, line_no: int, line: bytes) -> list[Item]:
        value = self._content(line)
        return [] if value is None else [Record(line_no, value)]

    def flush(self) -> list[Item]:
        return []


def _json_error(exc: json.JSONDecodeError) -> str:
    return f"invalid JSON at column {exc.colno}: {exc.msg}"


class JsonLineFramer(LineFramer):
    """One non-blank line holding one JSON object is one record (k8s-audit, app, debezium)."""

    def __init__(self, what: str = "JSON object") -> None:
        super().__init__()
        self.what = what

    def feed(self, line_no: int, line: bytes) -> list[Item]:
        value = self._content(line)
        if value is None:
            return []
        try:
            doc = json.loads(value)
        except json.JSONDecodeError as exc:
            return [Reject(line_no, value, f"{_json_error(exc)}; expected one {self.what} per line",
                           "JSONDecodeError")]
        except UnicodeDecodeError as exc:
            return [Reject(line_no, value, f"not UTF-8 ({exc.reason} at byte {exc.start})",
                           "UnicodeDecodeError")]
        if not isinstance(doc, dict):
            return [Reject(line_no, value,
                           f"expected one {self.what} per line, got a JSON {type(doc).__name__}")]
        return self.accept(line_no, value, doc)

    def accept(self, line_no: int, value: bytes, doc: dict) -> list[Item]:
        return [Record(line_no, value)]


class CloudTrailLineFramer(JsonLineFramer):
    """CloudTrail as JSON lines: one event per line, or a whole ``{"Records":[...]}`` per line
    (as some S3/Firehose exports write them), which is split into its events."""

    def __init__(self) -> None:
        super().__init__("CloudTrail event or {\"Records\":[...]} object")

    def accept(self, line_no: int, value: bytes, doc: dict) -> list[Item]:
        if "Records" not in doc:
            return [Record(line_no, value)]
        try:
            return [Record(line_no, v) for v in split_records(value.decode())]
        except FramingError as exc:
            return [Reject(line_no, value, str(exc))]


_AUDIT_ID = re.compile(rb"msg=audit\((\d+(?:\.\d+)?:\d+)\)")


def auditd_event_id(line: bytes) -> bytes | None:
    """The ``<time>:<serial>`` of an auditd line, e.g. b'1364481363.243:24287'."""
    m = _AUDIT_ID.search(line)
    return m.group(1) if m else None


class AuditdFramer(LineFramer):
    """auditd writes the records of one event contiguously, all with the same
    ``msg=audit(<time>:<serial>)``; consecutive lines with one id become one record (the lines
    joined by newlines, in order). The last event is complete only at :meth:`flush`."""

    def __init__(self) -> None:
        super().__init__()
        self._id: bytes | None = None
        self._lines: list[bytes] = []
        self._first = 0

    def feed(self, line_no: int, line: bytes) -> list[Item]:
        value = self._content(line)
        if value is None:
            return []
        event_id = auditd_event_id(value)
        if event_id is None:
            return [*self.flush(), Reject(
                line_no, value, "no msg=audit(<time>:<serial>) id; is this an auditd log "
                "(/var/log/audit/audit.log, raw format)?")]
        if event_id == self._id:
            self._lines.append(value)
            return []
        out = self.flush()
        self._id, self._lines, self._first = event_id, [value], line_no
        return out

    def flush(self) -> list[Item]:
        if not self._lines:
            return []
        rec = Record(self._first, b"\n".join(self._lines))
        self._id, self._lines = None, []
        return [rec]

    @property
    def pending(self) -> bool:
        return bool(self._lines)


# Family.framing -> its streaming framer
_FRAMERS: dict[str, type[LineFramer]] = {
    "line": LineFramer, "auditd": AuditdFramer, "cloudtrail": CloudTrailLineFramer,
}


def line_framer(fmt: str) -> LineFramer:
    """The streaming framer for a format (cloudtrail: the JSON lines form)."""
    family = sources.BY_NAME.get(fmt)
    if family is None:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    if family.framing == "json":
        return JsonLineFramer(family.framing_what)
    return _FRAMERS[family.framing]()


def frame_lines(fmt: str, lines: Iterable[bytes], first_line: int = 1) -> Iterator[Item]:
    """Frame an iterable of raw lines (with or without line endings)."""
    framer = line_framer(fmt)
    for n, line in enumerate(lines, first_line):
        yield from framer.feed(n, line)
    yield from framer.flush()


# ------------------------------------------------------------------ CloudTrail files
class FramingError(ValueError):
    """Input that cannot be cut into records; the message names where and why."""


_WS = re.compile(r"[ \t\n\r]*")


def _skip_ws(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()  # type: ignore[union-attr]


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def record_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each element of the top-level ``Records`` array of a CloudTrail
    delivery document, found with the JSON decoder so the elements' bytes stay exactly as
    delivered. Raises FramingError when the text is not ``{"Records":[...]}``."""
    dec = json.JSONDecoder()
    try:
        pos = _skip_ws(text, 0)
        if text[pos:pos + 1] != "{":
            raise FramingError(f"line {_line_of(text, pos)}: expected a JSON object {{\"Records\":[...]}}")
        pos = _skip_ws(text, pos + 1)
        spans: list[tuple[int, int]] | None = None
        while text[pos:pos + 1] != "}":
            key, pos = dec.raw_decode(text, pos)
            pos = _skip_ws(text, pos)
            if text[pos:pos + 1] != ":":
                raise FramingError(f"line {_line_of(text, pos)}: expected ':' after key {key!r}")
            pos = _skip_ws(text, pos + 1)
            if key == "Records" and text[pos:pos + 1] == "[":
                spans = []
                pos = _skip_ws(text, pos + 1)
                while text[pos:pos + 1] != "]":
                    _, end = dec.raw_decode(text, pos)
                    spans.append((pos, end))
                    pos = _skip_ws(text, end)
                    if text[pos:pos + 1] == ",":
                        pos = _skip_ws(text, pos + 1)
                    elif text[pos:pos + 1] != "]":
                        raise FramingError(
                            f"line {_line_of(text, pos)}: expected ',' or ']' in Records")
                pos = _skip_ws(text, pos + 1)
            else:
                _, pos = dec.raw_decode(text, pos)
                pos = _skip_ws(text, pos)
            if text[pos:pos + 1] == ",":
                pos = _skip_ws(text, pos + 1)
            elif text[pos:pos + 1] != "}":
                raise FramingError(f"line {_line_of(text, pos)}: expected ',' or '}}'")
        if _skip_ws(text, pos + 1) != len(text):
            raise FramingError(f"line {_line_of(text, pos + 1)}: extra data after the document")
    except json.JSONDecodeError as exc:
        raise FramingError(f"line {exc.lineno}: {_json_error(exc)}") from exc
    if spans is None:
        raise FramingError("line 1: the object has no \"Records\" array; a CloudTrail delivery "
                           "file is {\"Records\":[...]}")
    return spans


def split_records(text: str) -> list[bytes]:
    return [text[a:b].encode() for a, b in record_spans(text)]


def looks_like_json_lines(text: str) -> bool:
    """True when the first non-blank line is a complete JSON value on its own."""
    for line in text.splitlines():
        if line.strip():
            try:
                json.loads(line)
                return True
            except json.JSONDecodeError:
                return False
    return False


def frame_cloudtrail(data: bytes) -> Iterator[Item]:
    """A delivered CloudTrail file (``{"Records":[...]}``, possibly pretty-printed) gives one
    record per element, each carrying the line it starts on; JSON lines are framed per line."""
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        yield Reject(1, data[:4096], f"not UTF-8 ({exc.reason} at byte {exc.start})",
                     "UnicodeDecodeError")
        return
    if not text.strip():
        return
    if looks_like_json_lines(text):
        yield from frame_lines("cloudtrail", data.splitlines())
        return
    try:
        spans = record_spans(text)
    except FramingError as exc:
        yield Reject(_reject_line(str(exc)), data[:4096],
                     f"not a CloudTrail file ({{\"Records\":[...]}} or JSON lines): {exc}")
        return
    line, counted = 1, 0
    for start, end in spans:
        line += text.count("\n", counted, start)
        counted = start
        yield Record(line, text[start:end].encode())


def _reject_line(message: str) -> int:
    m = re.match(r"line (\d+)", message)
    return int(m.group(1)) if m else 1
