"""Start, watch and stop local service processes by pid file. Nothing here knows a service."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil


class StackError(RuntimeError):
    """A local service could not be prepared, started or reached; the message says what to do."""


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_holder(port: int) -> str:
    """Describe the process listening on a port, for a 'port busy' message."""
    try:
        for conn in psutil.net_connections(kind="inet"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
                if conn.pid:
                    proc = psutil.Process(conn.pid)
                    cmd = " ".join(proc.cmdline()[:3])
                    return f"pid {conn.pid} ({proc.name()}: {cmd[:120]})"
                return "a process of another user"
    except (psutil.AccessDenied, psutil.NoSuchProcess):
        pass
    return "an unknown process"


def started_since_boot(proc: psutil.Process) -> float:
    """Seconds from boot to the process's start. Unlike its create time (boot time + this, with
    the boot time derived from the wall clock), it does not move when the clock is stepped (NTP):
    a stepped clock once made every service of a running stack look like a stranger's."""
    boot = psutil.boot_time()  # first: create_time() then uses this same boot time
    return proc.create_time() - boot


def read_pid(pid_file: Path) -> int | None:
    """The pid in pid_file if that process is still alive and is the one we started."""
    try:
        pid_text, _, started = pid_file.read_text().partition(" ")
        proc = psutil.Process(int(pid_text))
        # guard against pid reuse: the start must match what we recorded (seconds since boot;
        # a pid file of an older auditflow holds the epoch create time)
        if started:
            recorded = float(started)
            now = proc.create_time() if recorded > 1e9 else started_since_boot(proc)
            if abs(now - recorded) > 1:
                return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc.pid
    except (FileNotFoundError, ValueError, psutil.NoSuchProcess):
        return None


def spawn(
    cmd: list[str], log_file: Path, pid_file: Path, env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True,
            # what a service writes (Kafka's log segments, Keycloak's database with the client
            # secrets, SeaweedFS's volumes, Flink's checkpoints) is readable by the stack's user only
            umask=0o077,
        )
    pid_file.write_text(f"{proc.pid} {started_since_boot(psutil.Process(proc.pid))}")
    return proc.pid


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, alive: Callable[[], bool],
    log_file: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if not alive():
            raise StackError(f"{what} exited during start-up; last log lines:\n{tail(log_file)}")
        time.sleep(0.5)
    raise StackError(f"{what} not healthy after {timeout:.0f}s; last log lines:\n{tail(log_file)}")


def tail(log_file: Path | None, lines: int = 15) -> str:
    if not log_file or not log_file.exists():
        return "(no log)"
    with log_file.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 16384))
        text = fh.read().decode("utf-8", "replace")
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def stop(pid: int, timeout: float = 30) -> None:
    """SIGTERM the process group, then SIGKILL what is left after the timeout. It waits for the
    children too, not only for `pid`: a supervisor (stack/supervise.py) exits at once on SIGTERM,
    and a child still starting up would otherwise outlive it."""
    try:
        pgid = os.getpgid(pid)
        leader = psutil.Process(pid)
        procs = [leader, *leader.children(recursive=True)]
        os.killpg(pgid, signal.SIGTERM)
    except (ProcessLookupError, psutil.NoSuchProcess):
        return
    _gone, alive = psutil.wait_procs(procs, timeout)
    if alive:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        for proc in alive:  # one that left the group
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MiB."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs) / 2**20
    except psutil.NoSuchProcess:
        return 0.0
