"""Follow a growing file with ``tail -F`` semantics: keep reading as lines are appended, and
carry on when the file is rotated (renamed or deleted and created anew) or truncated in place
(copytruncate). Only the file system is touched; the caller frames and produces the lines.

Reading is linear and memory is bounded: lines are cut by framing.LineSplitter, which holds at
most ``max_bytes + 1`` bytes of an unfinished line; a longer line is handed on as an
``Overlong`` (its first bytes and size) once its newline comes, and the rest of it is skipped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from connectors.ingest.framing import DEFAULT_MAX_BYTES, LineSplitter, Overlong

CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class Line:
    no: int            # 1-based line number within the current file
    data: bytes | Overlong   # without the line ending; Overlong: over max_bytes, cut short


@dataclass(frozen=True, slots=True)
class Reopened:
    reason: str        # 'rotated', 'truncated' or 'appeared'


@dataclass(frozen=True, slots=True)
class Idle:
    """Nothing new for one poll interval (a chance to flush a pending auditd event)."""


FollowEvent = Line | Reopened | Idle


def _inode(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


class Follower:
    """Iterate with :meth:`events`; stop by setting ``stop`` or with Ctrl-C in the caller."""

    def __init__(self, path: Path, from_start: bool = False, interval_s: float = 0.2,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = Path(path)
        self.from_start = from_start
        self.interval_s = interval_s
        self._fh: BinaryIO | None = None
        self._split = LineSplitter(max_bytes)
        self._line_no = 0

    @property
    def buffered(self) -> int:
        """Bytes of an unfinished line held in memory (at most max_bytes + 1)."""
        return self._split.buffered

    def close(self) -> None:
        if self._fh:
            self._fh.close()
            self._fh = None

    def _open(self, at_end: bool) -> bool:
        try:
            self._fh = self.path.open("rb")
        except FileNotFoundError:
            return False
        self._split.reset()
        self._line_no = 0
        if at_end:
            # count the lines already there so later lines carry their true line numbers; an
            # unfinished last line is kept and completed by the writer
            while chunk := self._fh.read(CHUNK):
                self._line_no += len(self._split.feed(chunk))
        return True

    def _lines(self, chunk: bytes) -> Iterator[Line]:
        for raw in self._split.feed(chunk):
            self._line_no += 1
            yield Line(self._line_no, _line(raw))

    def _drain(self) -> Iterator[Line]:
        assert self._fh
        while chunk := self._fh.read(CHUNK):
            yield from self._lines(chunk)

    def _end_of_file(self) -> Iterator[Line]:
        """The old file is done (rotated away): its unfinished last line is a line too."""
        yield from self._drain()
        last = self._split.end()
        if last is not None:
            self._line_no += 1
            yield Line(self._line_no, _line(last))

    def events(self, stop: Callable[[], bool] = lambda: False) -> Iterator[FollowEvent]:
        self._open(at_end=not self.from_start)
        try:
            while not stop():
                if self._fh is not None:
                    chunk = self._fh.read(CHUNK)
                    if chunk:
                        yield from self._lines(chunk)
                        continue
                event = self._check_rotation()
                if event is not None:
                    if isinstance(event, Reopened):
                        yield event
                    else:
                        yield from event
                    continue
                yield Idle()
                time.sleep(self.interval_s)
        finally:
            self.close()

    def _check_rotation(self) -> Reopened | list[Line] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            st = None
        if self._fh is None:
            if st is not None and self._open(at_end=False):
                return Reopened("appeared")
            return None
        current = os.fstat(self._fh.fileno())
        if st is not None and _inode(st) != _inode(current):
            tail = list(self._end_of_file())   # lines written to the old file before the switch
            if tail:
                return tail
            self.close()
            self._open(at_end=False)
            return Reopened("rotated")
        if current.st_size < self._fh.tell():
            self._fh.seek(0)
            self._split.reset()
            self._line_no = 0
            return Reopened("truncated")
        return None


def _line(raw: bytes | Overlong) -> bytes | Overlong:
    if isinstance(raw, Overlong):
        return raw
    return raw[:-1] if raw.endswith(b"\r") else raw
