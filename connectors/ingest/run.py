"""Drive one ingest: read a file (plain or gzip, or stdin), frame it, hand items to a producer.

Progress is reported through a callback with the compressed bytes read so far, so the caller
can draw a bar against the file's size.

Nothing in a file stops the run: lines are read at most ``max_bytes`` at a time (a longer line
becomes a reject with its size and is skipped to its newline), and a gzip stream that breaks
(truncated, bad CRC, corrupt data) ends that file with one reject saying after which line and
byte, once every record read before the break is sent; the next file is read as usual. A file
named ``.gz`` that is not gzip is one reject and is not read.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

from connectors.ingest.follow import Follower, Idle, Line, Reopened
from connectors.ingest.framing import (
    KEEP_BYTES,
    AuditdFramer,
    Item,
    Overlong,
    Reject,
    frame_cloudtrail,
    line_framer,
)
from connectors.ingest.producer import RawProducer

GZIP_MAGIC = b"\x1f\x8b"
PROGRESS_EVERY = 20_000
CHUNK = 1 << 16
BAD_GZIP = "ingest.bad_gzip"

Progress = Callable[[int], None]


def open_input(path: str) -> tuple[BinaryIO, BinaryIO, int | None]:
    """(stream to read records from, raw file for progress positions, raw size or None).
    Gzip is recognised by its magic bytes, whatever the file is called."""
    if path == "-":
        raw: BinaryIO = sys.stdin.buffer
        size = None
    else:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the caller through the returned stream
        size = Path(path).stat().st_size
    if not isinstance(raw, io.BufferedReader):
        raw = io.BufferedReader(raw)  # type: ignore[arg-type]
    return records_stream(raw), raw, size


def records_stream(raw: io.BufferedReader) -> BinaryIO:
    """The stream to read records from: ``raw``, or a :class:`Gunzip` of it when it starts with
    gzip's magic bytes."""
    if raw.peek(2)[:2] == GZIP_MAGIC:
        return Gunzip(gzip.GzipFile(fileobj=raw), raw)  # type: ignore[return-value]
    return raw


class Gunzip:
    """A gzip stream whose breaking ends the input instead of the run: from the first error on,
    reads return b"" and :attr:`error` holds it; :attr:`out` counts the bytes decompressed."""

    ERRORS = (EOFError, zlib.error, gzip.BadGzipFile, OSError)

    def __init__(self, gz: gzip.GzipFile, raw: BinaryIO) -> None:
        self._gz, self._raw = gz, raw
        self.error: Exception | None = None
        self.out = 0

    def readline(self, limit: int = -1) -> bytes:
        if self.error is not None:
            return b""
        try:
            line = self._gz.readline(limit)
        except self.ERRORS as exc:
            self.error = exc
            return b""
        self.out += len(line)
        return line

    def read1(self, size: int = -1) -> bytes:
        """What one step of decompression gives (read() would lose it all at a break)."""
        if self.error is not None:
            return b""
        try:
            data = self._gz.read1(size)
        except self.ERRORS as exc:
            self.error = exc
            return b""
        self.out += len(data)
        return data

    def close(self) -> None:
        with contextlib.suppress(*self.ERRORS):
            self._gz.close()

    def reject(self, line: int, raw: bytes = b"", more: str = "") -> Reject:
        """The one reject of a broken stream, at the line it broke in (``line``)."""
        if "CRC check failed" in str(self.error) or "Incorrect length" in str(self.error):
            more += " (the check is made at the end of the member: the records sent from it may be damaged)"
        return Reject(line, raw[:KEEP_BYTES],
                      f"gzip stream broken in line {line:,} (after {self.out:,} bytes decompressed, "
                      f"near byte {_position(self._raw):,} of the file): {self.error or 'unknown error'}; "
                      f"the records before it were sent, nothing after it was read{more}; fetch the file "
                      "again or check it with gzip -t", BAD_GZIP)


def read_lines(stream: BinaryIO, max_bytes: int) -> Iterator[bytes | Overlong]:
    """The lines of a stream, each with its line ending, cut at b"\\n" only; a line longer than
    ``max_bytes`` (without its line ending) is an :class:`Overlong`, read past in pieces."""
    limit = max_bytes + 2      # room for a \r\n after a line at the limit
    readline = stream.readline
    for line in iter(partial(readline, limit), b""):
        if len(line) < limit or line[-1:] == b"\n":
            yield line
            continue
        head, size, last = line[:KEEP_BYTES], len(line), line
        while last[-1:] != b"\n" and (more := readline(limit)):
            size, last = size + len(more), more
        ending = 2 if last.endswith(b"\r\n") else 1 if last.endswith(b"\n") else 0
        yield Overlong(head, size - ending)


def _position(raw: BinaryIO) -> int:
    try:
        return raw.tell()
    except (OSError, ValueError):
        return 0


def _not_gzip(path: str, raw: BinaryIO) -> Reject | None:
    """A file named .gz that does not start like gzip: reading it as text would send binary."""
    if path == "-" or not path.endswith(".gz"):
        return None
    head = raw.peek(8)[:8]
    if not head:
        return None
    return Reject(1, head, f"named .gz but not gzip (it starts with {head.hex(' ')}, gzip starts with "
                  "1f 8b); nothing was read from it: decompress it with the right tool or rename it",
                  BAD_GZIP)


def ingest_file(producer: RawProducer, fmt: str, path: str,
                progress: Progress = lambda _pos: None) -> None:
    """Frame one input and produce every record and reject; flushing is the caller's."""
    producer.set_file(path)
    stream, raw, _size = open_input(path)
    try:
        if stream is raw and (bad := _not_gzip(path, raw)) is not None:
            producer.emit(bad)
        elif fmt == "cloudtrail":
            for item in _cloudtrail(stream, producer):
                producer.emit(item)
        elif fmt == "syslog":
            _syslog_lines(producer, stream, raw, progress)
        else:
            _framed_lines(producer, fmt, stream, raw, progress)
        progress(_position(raw))
    finally:
        if stream is not raw:
            stream.close()
        if path != "-":
            raw.close()


def _cloudtrail(stream: BinaryIO, producer: RawProducer) -> list[Item]:
    items, size = frame_cloudtrail_stream(stream, producer.max_bytes)
    producer.summary.input_bytes += size
    return items


def frame_cloudtrail_stream(stream: BinaryIO, max_bytes: int) -> tuple[list[Item], int]:
    """(items, bytes read) of a CloudTrail file read whole; a broken gzip stream gives what was
    decompressed before the break and one reject for the break (merged with the reject of the
    document's broken end, when there is one)."""
    parts = []
    while chunk := stream.read1(CHUNK):  # type: ignore[attr-defined]
        parts.append(chunk)
    data = b"".join(parts)
    items = list(frame_cloudtrail(data, max_bytes))
    if not isinstance(stream, Gunzip) or stream.error is None:
        return items, len(data)
    last = items[-1] if items else None
    tail = data.rstrip(b" \t\r\n,")
    if isinstance(last, Reject) and last.raw and tail.endswith(last.raw):
        # the broken end of the document is the break, not a second fault: one reject for both
        return [*items[:-1], stream.reject(last.line, last.raw, f" (framing said: {last.reason})")], len(data)
    return [*items, stream.reject(data.count(b"\n") + 1)], len(data)


@dataclass
class Counts:
    lines: int = 0
    read: int = 0      # bytes read (decompressed)
    blank: int = 0


def frame_stream(fmt: str, stream: BinaryIO, max_bytes: int, counts: Counts | None = None,
                 progress: Callable[[], None] = lambda: None) -> Iterator[Item]:
    """Frame a stream line by line (every format but cloudtrail files); a broken gzip stream
    ends with its one reject, after the records read before the break."""
    counts = counts if counts is not None else Counts()
    framer = line_framer(fmt, max_bytes)
    n = 0
    for n, line in enumerate(read_lines(stream, max_bytes), 1):
        counts.read += line.size + 1 if isinstance(line, Overlong) else len(line)
        yield from framer.feed(n, line)
        if n % PROGRESS_EVERY == 0:
            progress()
    yield from framer.flush()
    if isinstance(stream, Gunzip) and stream.error is not None:
        yield stream.reject(n + 1)
    counts.lines, counts.blank = n, framer.blank


def _framed_lines(producer: RawProducer, fmt: str, stream: BinaryIO, raw: BinaryIO,
                  progress: Progress) -> None:
    counts = Counts()
    for item in frame_stream(fmt, stream, producer.max_bytes, counts, lambda: progress(_position(raw))):
        producer.emit(item)
    producer.summary.blank_lines += counts.blank
    producer.summary.input_bytes += counts.read


def _syslog_lines(producer: RawProducer, stream: BinaryIO, raw: BinaryIO, progress: Progress) -> None:
    """The hot path: one line is one record, nothing to look at but the line ending."""
    n, read, blank = producer.send_lines(read_lines(stream, producer.max_bytes),
                                         lambda: progress(_position(raw)))
    if isinstance(stream, Gunzip) and stream.error is not None:
        producer.emit(stream.reject(n + 1))
    producer.summary.blank_lines += blank
    producer.summary.input_bytes += read


def follow_file(producer: RawProducer, fmt: str, path: Path, from_start: bool = False,
                stop: Callable[[], bool] = lambda: False,
                on_reopen: Callable[[str], None] = lambda _reason: None,
                interval_s: float = 0.2) -> None:
    """Stream a growing file until ``stop()`` (or Ctrl-C in the caller); a rotation or
    truncation starts line numbers again at 1. An auditd event still open is sent when the
    file goes quiet for one poll interval (auditd writes an event's lines at once)."""
    fmt_framer = line_framer(fmt, producer.max_bytes)   # cloudtrail: JSON lines when followed
    producer.set_file(str(path))
    follower = Follower(path, from_start=from_start, interval_s=interval_s, max_bytes=producer.max_bytes)
    try:
        for event in follower.events(stop):
            if isinstance(event, Line):
                data = event.data
                producer.summary.input_bytes += (data.size if isinstance(data, Overlong) else len(data)) + 1
                for item in fmt_framer.feed(event.no, event.data):
                    producer.emit(item)
            elif isinstance(event, Reopened):
                for item in fmt_framer.flush():
                    producer.emit(item)
                on_reopen(event.reason)
            elif isinstance(event, Idle):
                if isinstance(fmt_framer, AuditdFramer) and fmt_framer.pending:
                    for item in fmt_framer.flush():
                        producer.emit(item)
                producer.poll()
    finally:
        for item in fmt_framer.flush():
            producer.emit(item)
        producer.summary.blank_lines += fmt_framer.blank
