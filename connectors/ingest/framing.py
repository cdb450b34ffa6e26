"""Record framing per source family: split raw input into records without parsing their content.

Pure functions and small state machines over ``(line_number, line_bytes)``; nothing here talks to
Kafka or the file system. A framer yields :class:`Record` for every record it can cut out and
:class:`Reject` (with the line number and a reason a person can act on) for input it cannot frame,
so nothing is dropped silently. Blank lines are not records and are only counted.

Lines end at ``\n`` only (a ``\r`` before it is dropped); never at the other characters
``str.splitlines`` also breaks on (``\r``, ``\x0b``, ``\x1c``, ``\u2028``, ...), which JSON strings and
syslog messages may hold. No record is larger than ``max_bytes`` (``limits.max_bytes``, default
1 MiB): a larger one is a reject (``ingest.oversize``) carrying only its first ``KEEP_BYTES``.

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
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from udfs import sources, validate

# the formats are the source families (udfs/sources.py), and so are their topics and names
FORMATS = sources.NAMES
# DeadLetter.source / lineage.source_system use these names (schemas/dead_letter.avsc)
SOURCE_SYSTEM = sources.SOURCE_SYSTEMS
raw_topic = sources.raw_topic


DEFAULT_MAX_BYTES = validate.DEFAULT_LIMITS.max_bytes   # limits.max_bytes: the largest record
KEEP_BYTES = 64 << 10           # the first bytes of an oversize record kept in its dead letter
OVERSIZE = "ingest.oversize"


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
    lines: int = 1     # input lines it stands for (an auditd event may span several)


Item = Record | Reject


@dataclass(frozen=True, slots=True)
class Overlong:
    """A line longer than the limit as a reader hands it on: its first bytes and its full size
    (without the line ending); the rest was skipped, never held in memory."""

    head: bytes
    size: int


def oversize(line_no: int, head: bytes, size: int, max_bytes: int, what: str = "record",
             lines: int = 1) -> Reject:
    """The reject of a record over the limit; only its first KEEP_BYTES (or max_bytes, if less)
    go to the dead letter."""
    kept = min(len(head), KEEP_BYTES, max_bytes)
    return Reject(line_no, head[:kept],
                  f"{what} is {size:,} bytes, over the {max_bytes:,}-byte limit (limits.max_bytes); "
                  f"the dead letter keeps its first {kept:,} bytes; split it at the source or raise "
                  "limits.max_bytes", OVERSIZE, lines)


def split_lines(data: bytes) -> list[bytes]:
    """The lines of a buffer, cut at b"\n" only (bytes.splitlines also cuts at a lone b"\r");
    a final line ending does not start another line."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


class LineSplitter:
    """Cuts a stream of chunks into lines at b"\n", in linear time and bounded memory: a line
    longer than ``max_bytes`` (plus one for a ``\r``) comes out as an :class:`Overlong`, and
    no more than ``max_bytes + 1`` bytes of an unfinished line are ever held (:attr:`buffered`)."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.limit = max_bytes + 1
        self.keep = min(KEEP_BYTES, max_bytes)
        self._parts: list[bytes] = []
        self.buffered = 0              # bytes of the unfinished line held
        self._head: bytes | None = None  # an overlong line: its first bytes ...
        self._size = 0                 # ... and its size so far

    def feed(self, chunk: bytes) -> list[bytes | Overlong]:
        out: list[bytes | Overlong] = []
        pos = 0
        while (nl := chunk.find(b"\n", pos)) >= 0:
            self._add(chunk[pos:nl])
            out.append(self._take())
            pos = nl + 1
        if pos < len(chunk):
            self._add(chunk[pos:])
        return out

    def end(self) -> bytes | Overlong | None:
        """The unfinished last line (the input has ended), or None."""
        if self._head is None and not self._parts:
            return None
        return self._take()

    def reset(self) -> None:
        self._parts, self.buffered, self._head, self._size = [], 0, None, 0

    def _add(self, piece: bytes) -> None:
        if self._head is not None:
            self._size += len(piece)
        elif self.buffered + len(piece) > self.limit:
            held = b"".join(self._parts)
            self._head = held[:self.keep] + piece[:max(0, self.keep - len(held))]
            self._size = self.buffered + len(piece)
            self._parts, self.buffered = [], len(self._head)
        elif piece:
            self._parts.append(piece)
            self.buffered += len(piece)

    def _take(self) -> bytes | Overlong:
        if self._head is not None:
            line: bytes | Overlong = Overlong(self._head, self._size)
        else:
            line = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
        self.reset()
        return line


def strip_eol(line: bytes) -> bytes:
    if line.endswith(b"\n"):
        line = line[:-1]
    if line.endswith(b"\r"):
        line = line[:-1]
    return line


# ------------------------------------------------------------------ line framers
class LineFramer:
    """One non-blank line is one record (syslog). Every framer takes a line as bytes (with or
    without its line ending) or as an :class:`Overlong`, and rejects a line over ``max_bytes``."""

    # a line may hold many records (cloudtrail: {"Records":[...]}), so the limit is the records'
    whole_documents = False

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.blank = 0
        self.max_bytes = max_bytes

    def feed(self, line_no: int, line: bytes | Overlong) -> list[Item]:
        if isinstance(line, Overlong):
            return [*self.flush(), oversize(line_no, line.head, line.size, self.max_bytes, "line")]
        value = strip_eol(line)
        if not value.strip():
            self.blank += 1
            return []
        if len(value) > self.max_bytes and not self.whole_documents:
            return [*self.flush(), oversize(line_no, value, len(value), self.max_bytes, "line")]
        return self.frame(line_no, value)

    def frame(self, line_no: int, value: bytes) -> list[Item]:
        """One non-blank line within the limit, without its line ending."""
        return [Record(line_no, value)]

    def flush(self) -> list[Item]:
        return []


def _json_error(exc: json.JSONDecodeError) -> str:
    return f"invalid JSON at column {exc.colno}: {exc.msg}"


TOO_DEEP = (f"JSON nested too deeply to decode (the decoder stops near {sys.getrecursionlimit()} "
            "levels of arrays/objects); no audit event nests like this")


class JsonLineFramer(LineFramer):
    """One non-blank line holding one JSON object is one record (k8s-audit, app, debezium)."""

    def __init__(self, what: str = "JSON object", max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        super().__init__(max_bytes)
        self.what = what

    def frame(self, line_no: int, value: bytes) -> list[Item]:
        try:
            doc = json.loads(value)
        except json.JSONDecodeError as exc:
            return [Reject(line_no, value, f"{_json_error(exc)}; expected one {self.what} per line",
                           "JSONDecodeError")]
        except UnicodeDecodeError as exc:
            return [Reject(line_no, value, f"not UTF-8 ({exc.reason} at byte {exc.start})",
                           "UnicodeDecodeError")]
        except RecursionError:
            return [Reject(line_no, value, TOO_DEEP, "RecursionError")]
        if not isinstance(doc, dict):
            return [Reject(line_no, value,
                           f"expected one {self.what} per line, got a JSON {type(doc).__name__}")]
        return self.accept(line_no, value, doc)

    def accept(self, line_no: int, value: bytes, doc: dict) -> list[Item]:
        return [Record(line_no, value)]


class CloudTrailLineFramer(JsonLineFramer):
    """CloudTrail as JSON lines: one event per line, or a whole ``{"Records":[...]}`` per line
    (as some S3/Firehose exports write them), which is split into its events."""

    whole_documents = True   # a delivery file is one {"Records":[...]} line, often over 1 MiB

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        super().__init__("CloudTrail event or {\"Records\":[...]} object", max_bytes)

    def frame(self, line_no: int, value: bytes) -> list[Item]:
        items = super().frame(line_no, value)
        if items and isinstance(items[0], Reject) and items[0].error_class == "UnicodeDecodeError":
            # a Records document with an element that is not UTF-8: only that element is rejected
            try:
                doc = json.loads(value.decode("utf-8", "surrogateescape"))
            except (json.JSONDecodeError, RecursionError):
                return items
            if isinstance(doc, dict) and "Records" in doc:
                return self.accept(line_no, value, doc)
        return items

    def accept(self, line_no: int, value: bytes, doc: dict) -> list[Item]:
        if "Records" not in doc:
            if len(value) > self.max_bytes:
                return [oversize(line_no, value, len(value), self.max_bytes, "line")]
            return [Record(line_no, value)]
        # the line is valid JSON, so its elements are too; only their type or size can be wrong
        try:
            items = list(_frame_records(value.decode("utf-8", "surrogateescape"), self.max_bytes))
        except FramingError as exc:
            return [Reject(line_no, value, str(exc))]
        return [_at_line(item, line_no) for item in items]


def _at_line(item: Item, line_no: int) -> Item:
    if isinstance(item, Record):
        return Record(line_no, item.value)
    return Reject(line_no, item.raw, item.reason, item.error_class, item.lines)


_AUDIT_ID = re.compile(rb"msg=audit\((\d+(?:\.\d+)?:\d+)\)")


def auditd_event_id(line: bytes) -> bytes | None:
    """The ``<time>:<serial>`` of an auditd line, e.g. b'1364481363.243:24287'."""
    m = _AUDIT_ID.search(line)
    return m.group(1) if m else None


class AuditdFramer(LineFramer):
    """auditd writes the records of one event contiguously, all with the same
    ``msg=audit(<time>:<serial>)``; consecutive lines with one id become one record (the lines
    joined by newlines, in order). The last event is complete only at :meth:`flush`."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        super().__init__(max_bytes)
        self._id: bytes | None = None
        self._lines: list[bytes] = []
        self._first = 0
        self._count = 0      # lines of the open event
        self._size = 0       # its size joined; lines past the limit are counted, not kept

    def frame(self, line_no: int, value: bytes) -> list[Item]:
        event_id = auditd_event_id(value)
        if event_id is None:
            return [*self.flush(), Reject(
                line_no, value, "no msg=audit(<time>:<serial>) id; is this an auditd log "
                "(/var/log/audit/audit.log, raw format)?")]
        if event_id == self._id:
            self._count += 1
            self._size += 1 + len(value)
            if self._size <= self.max_bytes:
                self._lines.append(value)
            return []
        out = self.flush()
        self._id, self._lines, self._first = event_id, [value], line_no
        self._count, self._size = 1, len(value)
        return out

    def flush(self) -> list[Item]:
        if not self._lines:
            return []
        value = b"\n".join(self._lines)
        if self._size > self.max_bytes:
            item: Item = oversize(self._first, value, self._size, self.max_bytes,
                                  f"auditd event of {self._count} lines", self._count)
        else:
            item = Record(self._first, value)
        self._id, self._lines, self._count, self._size = None, [], 0, 0
        return [item]

    @property
    def pending(self) -> bool:
        return bool(self._lines)


# Family.framing -> its streaming framer
_FRAMERS: dict[str, type[LineFramer]] = {
    "line": LineFramer, "auditd": AuditdFramer, "cloudtrail": CloudTrailLineFramer,
}


def line_framer(fmt: str, max_bytes: int = DEFAULT_MAX_BYTES) -> LineFramer:
    """The streaming framer for a format (cloudtrail: the JSON lines form)."""
    family = sources.BY_NAME.get(fmt)
    if family is None:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    if family.framing == "json":
        return JsonLineFramer(family.framing_what, max_bytes)
    return _FRAMERS[family.framing](max_bytes)


def frame_lines(fmt: str, lines: Iterable[bytes | Overlong], first_line: int = 1,
                max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[Item]:
    """Frame an iterable of raw lines (with or without line endings)."""
    framer = line_framer(fmt, max_bytes)
    for n, line in enumerate(lines, first_line):
        yield from framer.feed(n, line)
    yield from framer.flush()


# ------------------------------------------------------------------ CloudTrail files
class FramingError(ValueError):
    """Input that cannot be cut into records; the message names where and why."""


_WS = re.compile(r"[ \t\n\r]*")
# what matters to the resynchronizing scan, outside and inside a JSON string
_STRUCTURE = re.compile(r'[{}\[\]"]')
_IN_STRING = re.compile(r'["\\\n]')
_CLOSE = {"}": "{", "]": "["}


def _skip_ws(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()  # type: ignore[union-attr]


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _resync(text: str, start: int) -> int:
    """Where the next element may start after a bad one starting at ``pos``: the next ``{`` at
    element depth, or the ``]`` that ends ``Records``, or the end of the text. Brackets are
    counted outside strings; a closer pops back to its opener (so ``[1, 2}`` closes both), a
    raw newline ends a string (JSON strings cannot hold one: the scan had lost its place)."""
    stack: list[str] = []
    in_string = False
    pos = start
    while True:
        m = (_IN_STRING if in_string else _STRUCTURE).search(text, pos)
        if m is None:
            return len(text)
        c, pos = m.group(), m.end()
        if in_string:
            if c == "\\":
                pos += 1
            else:
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "{[":
            if c == "{" and not stack and m.start() != start:
                return m.start()
            stack.append(c)
        elif _CLOSE[c] in stack:
            while stack.pop() != _CLOSE[c]:
                pass
        elif c == "]" and not stack:
            return m.start()


def _scan_records(text: str) -> Iterator[tuple[int, int, str | None]]:
    """The elements of the ``Records`` array of a CloudTrail delivery document as
    ``(start, end, None)`` for an element the JSON decoder accepts (bytes exactly as delivered)
    and ``(start, end, reason)`` for input between elements that it cannot decode: a stray
    comma, a broken element (skipped up to the next ``{`` at element depth), a truncated end.
    Raises FramingError when the text is not ``{"Records":[...]}`` before any element; a fault
    after the array is one last ``(start, len(text), reason)``."""
    dec = json.JSONDecoder()
    found, after = False, 0
    try:
        pos = _skip_ws(text, 0)
        if text[pos:pos + 1] != "{":
            raise FramingError(f"line {_line_of(text, pos)}: expected a JSON object {{\"Records\":[...]}}")
        pos = _skip_ws(text, pos + 1)
        while text[pos:pos + 1] != "}":
            key, pos = dec.raw_decode(text, pos)
            pos = _skip_ws(text, pos)
            if text[pos:pos + 1] != ":":
                raise FramingError(f"line {_line_of(text, pos)}: expected ':' after key {key!r}")
            pos = _skip_ws(text, pos + 1)
            if key == "Records" and text[pos:pos + 1] == "[" and not found:
                found = True
                pos = yield from _scan_array(text, _skip_ws(text, pos + 1))
                if pos >= len(text):
                    return
                after = pos = _skip_ws(text, pos + 1)
            else:
                _, pos = dec.raw_decode(text, pos)
                pos = _skip_ws(text, pos)
            if text[pos:pos + 1] == ",":
                pos = _skip_ws(text, pos + 1)
            elif text[pos:pos + 1] != "}":
                raise FramingError(f"line {_line_of(text, pos)}: expected ',' or '}}'")
        if not found:
            raise FramingError("line 1: the object has no \"Records\" array; a CloudTrail delivery "
                               "file is {\"Records\":[...]}")
        if (end := _skip_ws(text, pos + 1)) != len(text):
            raise FramingError(f"line {_line_of(text, end)}: extra data after the document")
        return
    except json.JSONDecodeError as exc:
        error = FramingError(f"line {exc.lineno}: {_json_error(exc)}")
    except RecursionError:
        error = FramingError(f"line {_line_of(text, pos)}: {TOO_DEEP}")
    except FramingError as exc:
        error = exc
    if not found:
        raise error
    # the elements are out; what follows the array is broken
    yield after, len(text), f"after the Records array: {error}"


def _scan_array(text: str, pos: int) -> Iterator[tuple[int, int, str | None]]:
    """The elements from ``pos`` (just inside ``[``) up to the closing ``]``; returns its offset
    (or len(text) when the text ends first)."""
    dec = json.JSONDecoder()
    comma = -1      # where the comma before this element is, if one is
    while True:
        c = text[pos:pos + 1]
        if c == "]":
            if comma >= 0:
                yield comma, comma + 1, "a ',' with no element after it before ']' (a stray comma)"
            return pos
        if c == "":
            return pos
        if c == ",":
            yield pos, pos + 1, "a ',' with no element before it (a stray comma)"
            # ',,]' after an element: the second comma is still waiting for an element
            pos, comma = _skip_ws(text, pos + 1), (pos if comma >= 0 else -1)
            continue
        try:
            _, end = dec.raw_decode(text, pos)
            reason = None
        except json.JSONDecodeError as exc:
            end, reason = _resync(text, pos), _json_error_here(text, exc)
        except RecursionError:
            end, reason = _resync(text, pos), TOO_DEEP
        if reason is not None:
            bad_end = len(text[pos:end].rstrip(" \t\r\n,")) + pos
            if end >= len(text):
                reason += "; the file ends inside it (truncated?)"
            yield pos, bad_end, reason
            pos, comma = end, -1
            continue
        start, pos = pos, _skip_ws(text, end)
        c = text[pos:pos + 1]
        if c == ",":
            yield start, end, None
            pos, comma = _skip_ws(text, pos + 1), pos
        elif c in ("]", "{"):      # '{': a missing comma loses nothing, the next element starts
            yield start, end, None
            comma = -1
        elif not c:
            yield start, end, None
            yield pos, pos, "the file ends inside Records (truncated?)"
        else:
            # an object and then junk: the object is an event, the junk a reject of its own; junk
            # right after a value that is not an object (e.g. 01x) is one bad element with it
            after = _resync(text, pos)
            if text[start] == "{":
                yield start, end, None
            else:
                pos = start
            bad_end = len(text[pos:after].rstrip(" \t\r\n,")) + pos
            yield pos, max(bad_end, pos + 1), "expected ',' or ']' after an element"
            pos, comma = after, -1


def _json_error_here(text: str, exc: json.JSONDecodeError) -> str:
    return f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"


def record_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each element of the top-level ``Records`` array of a CloudTrail
    delivery document, strictly: raises FramingError at the first element that is not JSON."""
    spans = []
    for start, end, reason in _scan_records(text):
        if reason is not None:
            raise FramingError(f"line {_line_of(text, start)}: {reason}")
        spans.append((start, end))
    return spans


def _frame_records(text: str, max_bytes: int, first_line: int = 1) -> Iterator[Item]:
    """Every element of a ``{"Records":[...]}`` text: a Record per good element, a Reject per bad
    one (with its line); the text was decoded from bytes with surrogateescape, so an element's
    bytes are exactly as delivered and one not UTF-8 is rejected alone. Raises FramingError as
    :func:`_scan_records` does."""
    line, counted = first_line, 0
    for start, end, reason in _scan_records(text):
        line += text.count("\n", counted, start)
        counted = start
        raw = text[start:end].encode("utf-8", "surrogateescape")
        if reason is not None:
            yield (oversize(line, raw, len(raw), max_bytes, "bad element") if len(raw) > max_bytes
                   else Reject(line, raw, reason if reason.startswith("after") else f"in Records: {reason}"))
        elif len(raw) > max_bytes:
            yield oversize(line, raw, len(raw), max_bytes, "Records element")
        elif text[start] != "{":
            kind = _KIND.get(text[start], "number")
            yield Reject(line, raw, f"a Records element is a JSON {kind}; expected a CloudTrail event object")
        elif _not_utf8(text, start, end):
            yield Reject(line, raw, f"a Records element is not UTF-8 ({_not_utf8(text, start, end)})",
                         "UnicodeDecodeError")
        else:
            yield Record(line, raw)


_KIND = {"[": "array", '"': "string", "t": "boolean", "f": "boolean", "n": "null"}


def _not_utf8(text: str, start: int, end: int) -> str | None:
    try:
        text[start:end].encode()
        return None
    except UnicodeEncodeError as exc:
        return f"invalid byte at offset {exc.start} of the element"


def looks_like_json_lines(text: str) -> bool:
    """True when the first non-blank line is a complete JSON value on its own."""
    pos = 0
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        if (line := text[pos:end]).strip():
            try:
                json.loads(line)
                return True
            except (json.JSONDecodeError, RecursionError):
                return False
        pos = end + 1
    return False


HEAD_BYTES = 4096   # how much of a file that cannot be framed at all its one dead letter keeps


def frame_cloudtrail(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[Item]:
    """A delivered CloudTrail file (``{"Records":[...]}``, possibly pretty-printed) gives one
    record per element, each carrying the line it starts on, and one reject per element (or
    stray input between elements) that cannot be decoded; JSON lines are framed per line."""
    text = data.decode("utf-8", "surrogateescape")
    if not text.strip():
        return
    if looks_like_json_lines(text):
        yield from frame_lines("cloudtrail", split_lines(data), max_bytes=max_bytes)
        return
    try:
        yield from _frame_records(text, max_bytes)
    except FramingError as exc:
        kept = f"; the dead letter keeps its first {HEAD_BYTES:,} of {len(data):,} bytes" \
            if len(data) > HEAD_BYTES else ""
        yield Reject(_reject_line(str(exc)), data[:HEAD_BYTES],
                     f"not a CloudTrail file ({{\"Records\":[...]}} or JSON lines): {exc}{kept}")


def _reject_line(message: str) -> int:
    m = re.match(r"line (\d+)", message)
    return int(m.group(1)) if m else 1
