"""The supervisor that restarts a crashed TaskManager, run on small real processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from auditflow.stack.supervise import supervise


def counting(tmp_path: Path, fail_first: int) -> list[str]:
    """A command that appends a line per run and fails its first `fail_first` runs."""
    runs = tmp_path / "runs"
    script = (f"import sys; p = {str(runs)!r}; open(p, 'a').write('x\\n'); "
              f"sys.exit(3 if len(open(p).read().split()) <= {fail_first} else 0)")
    return [sys.executable, "-c", script]


def runs(tmp_path: Path) -> int:
    return len((tmp_path / "runs").read_text().split())


def test_a_crash_is_restarted_until_the_service_ends_cleanly(tmp_path, capsys):
    assert supervise("svc", counting(tmp_path, fail_first=2), backoff_s=0) == 0
    assert runs(tmp_path) == 3
    out = capsys.readouterr().out
    assert "svc exited with code 3; restarting in 0 s (restart 1)" in out
    assert "(restart 2)" in out and "(restart 3)" not in out


def test_too_many_crashes_end_the_supervisor_with_the_exit_code(tmp_path, capsys):
    assert supervise("svc", counting(tmp_path, fail_first=100), max_restarts=2, backoff_s=0) == 3
    assert runs(tmp_path) == 3  # the first run and two restarts
    assert "crash 3 in 600 s: not restarting" in capsys.readouterr().out


def test_a_stop_ends_the_service_and_is_not_restarted(tmp_path):
    marker = tmp_path / "started"
    child = f"import time; open({str(marker)!r}, 'a').write('x\\n'); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-m", "auditflow.stack.supervise", "svc", "--",
                             sys.executable, "-c", child], start_new_session=True)
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline, "the service never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)  # to the supervisor only: it passes the stop on
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM  # the service's own end
    time.sleep(0.5)
    assert marker.read_text().split() == ["x"]


def test_usage_without_a_command():
    done = subprocess.run([sys.executable, "-m", "auditflow.stack.supervise", "svc"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "usage:" in done.stderr
