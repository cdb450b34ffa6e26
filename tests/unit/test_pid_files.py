"""stack.process pid files: a service is recognised by its pid and start, and a stepped wall
clock (NTP) does not make it look like a stranger's."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from auditflow.stack import process


def test_a_spawned_process_is_read_back_and_a_dead_one_is_not(tmp_path):
    pid_file = tmp_path / "sleep.pid"
    pid = process.spawn([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "log", pid_file)
    try:
        assert process.read_pid(pid_file) == pid
    finally:
        psutil.Process(pid).kill()
        psutil.Process(pid).wait(10)
    assert process.read_pid(pid_file) is None


def test_a_stepped_clock_does_not_lose_the_process(tmp_path, monkeypatch):
    pid_file = tmp_path / "sleep.pid"
    pid = process.spawn([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "log", pid_file)
    try:
        real_boot = psutil.boot_time()
        # the wall clock stepped 5 minutes ahead: the boot time derived from it moves with it,
        # and with it every create time psutil reports
        monkeypatch.setattr(psutil, "boot_time", lambda: real_boot + 300)
        real_create = psutil.Process.create_time
        monkeypatch.setattr(psutil.Process, "create_time", lambda self: real_create(self) + 300)
        assert process.read_pid(pid_file) == pid
    finally:
        psutil.Process(pid).kill()
        psutil.Process(pid).wait(10)


def test_another_process_under_a_recorded_pid_is_not_ours(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.1)
        started = process.started_since_boot(psutil.Process(other.pid))
        (tmp_path / "x.pid").write_text(f"{other.pid} {started - 30}")  # pid reused by a later process
        assert process.read_pid(tmp_path / "x.pid") is None
        (tmp_path / "y.pid").write_text(f"{other.pid} {started}")
        assert process.read_pid(tmp_path / "y.pid") == other.pid
        # an older auditflow's pid file: the epoch create time
        (tmp_path / "z.pid").write_text(f"{other.pid} {psutil.Process(other.pid).create_time()}")
        assert process.read_pid(tmp_path / "z.pid") == other.pid
    finally:
        other.kill()
        other.wait(10)


def test_stop_also_kills_a_child_that_outlives_its_parent(tmp_path):
    # a parent that exits on SIGTERM (as the supervisor does) and a child that ignores it
    child_code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    parent_code = ("import signal, subprocess, sys, time; "
                   f"c = subprocess.Popen([sys.executable, '-c', {child_code!r}]); "
                   f"open({str(tmp_path / 'child')!r}, 'w').write(str(c.pid)); time.sleep(60)")
    pid = process.spawn([sys.executable, "-c", parent_code], tmp_path / "log", tmp_path / "p.pid")
    deadline = time.monotonic() + 10
    while not (tmp_path / "child").exists() or not (tmp_path / "child").read_text():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.05)
    time.sleep(0.3)  # the child has installed its SIGTERM handler
    child = psutil.Process(int((tmp_path / "child").read_text()))
    process.stop(pid, timeout=2)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    child.wait(5)  # raises TimeoutExpired if it was left running
