"""Drive one ingest: read a file (plain or gzip, or stdin), frame it, hand items to a producer.

Progress is reported through a callback with the compressed bytes read so far, so the caller
can draw a bar against the file's size.
"""

from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from connectors.ingest.follow import Follower, Idle, Line, Reopened
from connectors.ingest.framing import AuditdFramer, frame_cloudtrail, line_framer
from connectors.ingest.producer import RawProducer

GZIP_MAGIC = b"\x1f\x8b"
PROGRESS_EVERY = 20_000

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
    if raw.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw), raw, size  # type: ignore[return-value]
    return raw, raw, size


def _position(raw: BinaryIO) -> int:
    try:
        return raw.tell()
    except (OSError, ValueError):
        return 0


def ingest_file(producer: RawProducer, fmt: str, path: str,
                progress: Progress = lambda _pos: None) -> None:
    """Frame one input and produce every record and reject; flushing is the caller's."""
    producer.set_file(path)
    stream, raw, _size = open_input(path)
    try:
        if fmt == "cloudtrail":
            data = stream.read()
            progress(_position(raw))
            producer.summary.input_bytes += len(data)
            for item in frame_cloudtrail(data):
                producer.emit(item)
        elif fmt == "syslog":
            _syslog_lines(producer, stream, raw, progress)
        else:
            framer = line_framer(fmt)
            read = 0
            for n, line in enumerate(stream, 1):
                read += len(line)
                for item in framer.feed(n, line):
                    producer.emit(item)
                if n % PROGRESS_EVERY == 0:
                    progress(_position(raw))
            for item in framer.flush():
                producer.emit(item)
            producer.summary.blank_lines += framer.blank
            producer.summary.input_bytes += read
        progress(_position(raw))
    finally:
        if stream is not raw:
            stream.close()
        if path != "-":
            raw.close()


def _syslog_lines(producer: RawProducer, stream: BinaryIO, raw: BinaryIO, progress: Progress) -> None:
    """The hot path: one line is one record, nothing to look at but the line ending."""
    _n, read, blank = producer.send_lines(stream, lambda: progress(_position(raw)))
    producer.summary.blank_lines += blank
    producer.summary.input_bytes += read


def follow_file(producer: RawProducer, fmt: str, path: Path, from_start: bool = False,
                stop: Callable[[], bool] = lambda: False,
                on_reopen: Callable[[str], None] = lambda _reason: None,
                interval_s: float = 0.2) -> None:
    """Stream a growing file until ``stop()`` (or Ctrl-C in the caller); a rotation or
    truncation starts line numbers again at 1. An auditd event still open is sent when the
    file goes quiet for one poll interval (auditd writes an event's lines at once)."""
    fmt_framer = line_framer(fmt)   # cloudtrail: JSON lines when followed
    producer.set_file(str(path))
    follower = Follower(path, from_start=from_start, interval_s=interval_s)
    try:
        for event in follower.events(stop):
            if isinstance(event, Line):
                producer.summary.input_bytes += len(event.data) + 1
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
