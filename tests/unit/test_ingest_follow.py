"""tail -F semantics of connectors/ingest/follow.py on real files: appends, rotation by rename,
delete and re-create, truncation. No services."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from connectors.ingest.follow import CHUNK, Follower, Idle, Line, Reopened
from connectors.ingest.framing import Overlong


class Collector:
    def __init__(self, path: Path, from_start: bool = False) -> None:
        self.events: list = []
        self.stop = threading.Event()
        self.follower = Follower(path, from_start=from_start, interval_s=0.02)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for ev in self.follower.events(self.stop.is_set):
            if type(ev).__name__ != "Idle":
                self.events.append(ev)

    def lines(self) -> list[tuple[int, bytes]]:
        return [(e.no, e.data) for e in self.events if isinstance(e, Line)]

    def wait_for(self, n_lines: int, timeout: float = 5) -> list[tuple[int, bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.lines()) < n_lines and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.lines()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as fh:
        fh.write(data)


def test_starts_at_the_end_and_numbers_lines_from_the_file_start(tmp_path):
    log = tmp_path / "auth.log"
    log.write_bytes(b"old 1\nold 2\n")
    c = Collector(log)
    try:
        time.sleep(0.2)   # the follower has opened the file and skipped to its end
        _append(log, b"new 3\nnew ")
        time.sleep(0.1)
        _append(log, b"4\r\n")
        assert c.wait_for(2) == [(3, b"new 3"), (4, b"new 4")]
    finally:
        c.close()


def test_survives_rename_rotation_and_reads_the_old_file_to_its_end(tmp_path):
    log = tmp_path / "auth.log"
    log.write_bytes(b"")
    c = Collector(log, from_start=True)
    try:
        _append(log, b"a1\na2\n")
        assert c.wait_for(2) == [(1, b"a1"), (2, b"a2")]
        # logrotate: rename, a last write to the old file (still open by the writer), new file
        os.rename(log, tmp_path / "auth.log.1")
        _append(tmp_path / "auth.log.1", b"a3 unterminated")
        log.write_bytes(b"b1\nb2\n")
        got = c.wait_for(5)
        assert got == [(1, b"a1"), (2, b"a2"), (3, b"a3 unterminated"), (1, b"b1"), (2, b"b2")]
        assert any(isinstance(e, Reopened) and e.reason == "rotated" for e in c.events)
    finally:
        c.close()


def test_survives_delete_and_recreate_and_truncation(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"x\n")
    c = Collector(log, from_start=True)
    try:
        assert c.wait_for(1) == [(1, b"x")]
        log.unlink()
        time.sleep(0.1)
        log.write_bytes(b"y1\ny2\n")
        assert c.wait_for(3)[1:] == [(1, b"y1"), (2, b"y2")]
        # copytruncate: same inode, size drops below our position
        with log.open("r+b") as fh:
            fh.truncate(0)
        time.sleep(0.1)
        _append(log, b"z\n")
        assert c.wait_for(4)[3:] == [(1, b"z")]
        reasons = [e.reason for e in c.events if isinstance(e, Reopened)]
        assert reasons[-1] == "truncated" and ("rotated" in reasons or "appeared" in reasons)
    finally:
        c.close()


def test_waits_for_a_file_that_does_not_exist_yet(tmp_path):
    log = tmp_path / "later.log"
    c = Collector(log)
    try:
        time.sleep(0.1)
        log.write_bytes(b"first\n")
        assert c.wait_for(1) == [(1, b"first")]
    finally:
        c.close()


def test_a_32_mb_file_without_newlines_is_read_in_bounded_memory(tmp_path):
    """issue 16: the unfinished line was held whole (and copied per chunk: quadratic); now no
    more than max_bytes + 1 bytes of it are held, and it comes out as an Overlong with its size."""
    log = tmp_path / "one-line.log"
    size = 32 << 20
    with log.open("wb") as fh:
        for _ in range(size >> 20):
            fh.write(b"x" * (1 << 20))
    follower = Follower(log, from_start=True, interval_s=0.001, max_bytes=1 << 20)
    held: list[int] = []
    events = []

    def stop() -> bool:
        held.append(follower.buffered)
        return len([e for e in events if isinstance(e, Line)]) >= 2

    for ev in follower.events(stop):
        events.append(ev)
        if isinstance(ev, Idle) and len(events) == 1:      # all read: now end the line
            _append(log, b"\nok\n")
    lines = [e for e in events if isinstance(e, Line)]
    assert [ln.no for ln in lines] == [1, 2]
    assert lines[0].data == Overlong(b"x" * (64 << 10), size)
    assert lines[1].data == b"ok"
    assert len(held) > size // CHUNK                        # checked after every chunk read
    assert max(held) == 1 << 20                              # up to the limit ...
    assert held[len(held) // 2] == 64 << 10                  # ... then only the head, once over it


def test_lines_already_there_are_counted_in_bounded_memory_when_starting_at_the_end(tmp_path):
    log = tmp_path / "big.log"
    log.write_bytes(b"a\n" * 10 + b"y" * (3 << 20))          # an unfinished 3 MB line at the end
    follower = Follower(log, max_bytes=1 << 20)
    events = []
    for ev in follower.events(lambda: len(events) >= 3):
        events.append(ev)
        if isinstance(ev, Idle):
            _append(log, b"\nz\n")
    lines = [e for e in events if isinstance(e, Line)]
    assert lines == [Line(11, Overlong(b"y" * (64 << 10), 3 << 20)), Line(12, b"z")]
