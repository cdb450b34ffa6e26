"""Run a service in the foreground and start it again when it crashes, as Kubernetes restarts a
pod: `python -m auditflow.stack.supervise NAME -- COMMAND...`.

The local stack runs the Flink TaskManager under it. A TaskManager can end itself on a fatal
error that no job caused on purpose: PyFlink's Beam runner sometimes fails a reference count
while a job with Python operators is cancelled ("Reference count must not be negative" in
DefaultJobBundleFactory), and Flink treats an error in a task's cancellation as fatal to the
whole TaskManager. Without a restart every later job would wait for a slot that never comes.

Each restart is written to the service's log with the exit code. A stop (SIGTERM or SIGINT, as
`auditflow stack down` sends to the process group) ends the service and the supervisor; more
than MAX_RESTARTS crashes within WINDOW_S seconds end it too, so a service that cannot start
shows up as down in `auditflow stack status` instead of looping.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

MAX_RESTARTS = 5
WINDOW_S = 600.0
BACKOFF_S = 2.0


def say(name: str, message: str) -> None:
    print(f"--- auditflow supervise {time.strftime('%Y-%m-%d %H:%M:%S')}: {name} {message}", flush=True)


def supervise(name: str, cmd: list[str], max_restarts: int = MAX_RESTARTS, window_s: float = WINDOW_S,
              backoff_s: float = BACKOFF_S) -> int:
    """Run cmd until it exits with 0 or is stopped; returns its last exit code."""
    stopping = False
    child: subprocess.Popen | None = None

    def stop(signum: int, _frame) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    crashes: list[float] = []
    while True:
        child = subprocess.Popen(cmd)
        code = child.wait()
        if stopping or code == 0:
            return code
        now = time.monotonic()
        crashes = [t for t in crashes if now - t < window_s] + [now]
        if len(crashes) > max_restarts:
            say(name, f"exited with code {code}, crash {len(crashes)} in {window_s:.0f} s: not restarting")
            return code
        say(name, f"exited with code {code}; restarting in {backoff_s:g} s (restart {len(crashes)})")
        time.sleep(backoff_s)
        if stopping:
            return code


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m auditflow.stack.supervise NAME -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    code = supervise(argv[0], argv[2:])
    return 128 - code if code < 0 else code  # killed by a signal: as a shell reports it


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
