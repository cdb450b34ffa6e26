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
