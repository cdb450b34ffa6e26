"""What the stack holds secret, and where it must never show: command lines, logs, readable files."""

from __future__ import annotations

import os
import stat
import subprocess
import threading
import tomllib
from pathlib import Path

from auditflow import config, credentials

MIN_LEN = 8  # shorter values (an empty password, "true") are not secrets worth looking for


def _values(tree: dict) -> set[str]:
    out: set[str] = set()
    for key, value in tree.items():
        if isinstance(value, dict):
            out |= _values(value)
        elif key in ("secret", "password") and isinstance(value, str):
            out.add(value)
    return out


def stack_secrets(cfg: config.Config) -> set[str]:
    """Every role's secret, and every secret file the stack itself made: a file named *secret* or
    *password* under the data dir that is mode 0600 (the Java stores' password, Trino's shared
    secret). Files that only carry the word are not secrets: a detection rule shipped to Flink,
    which Flink's blob cache stores as 0600 too, so Flink's job-artifact caches are not searched
    for secrets (they are still searched for leaks). The S3 key pair of the built-in local
    profile is a published default, not a secret."""
    found: set[str] = set()
    for f in credentials.directory(cfg).glob("*.toml"):
        found |= _values(tomllib.loads(f.read_text()))
    data_dir = cfg.path("stack.data_dir")
    job_caches = [data_dir / "flink" / "tmp", data_dir / "flink" / "pyfs"]
    for pattern in ("**/*password*", "**/*secret*"):
        for f in data_dir.glob(pattern):
            if any(f.is_relative_to(c) for c in job_caches):
                continue
            if (f.is_file() and f.parent.name != "secrets" and f.stat().st_size < 4096
                    and stat.S_IMODE(f.stat().st_mode) == 0o600):
                found.add(f.read_text().strip())
    return {s for s in found if len(s) >= MIN_LEN}


def command_lines() -> list[str]:
    """Every process's command line, as `ps -eo args` prints it (what any local user sees)."""
    return subprocess.run(["ps", "-eo", "args", "--no-headers", "-ww"], capture_output=True,
                          text=True, check=True).stdout.splitlines()


class CommandLineWatch:
    """Samples every command line in the background while a pipeline runs."""

    def __init__(self, secrets: set[str], interval_s: float = 0.5):
        self.secrets, self.interval_s = secrets, interval_s
        self.samples, self.leaks = 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for line in command_lines():
                if any(s in line for s in self.secrets):
                    self.leaks.append(line[:300])
            self.samples += 1
            self._stop.wait(self.interval_s)

    def __enter__(self) -> CommandLineWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def files_showing(root: Path, secrets: set[str], readable_by_others_only: bool) -> list[str]:
    """Files under root (up to 8 MB each) holding a secret: all of them, or only those a group
    or other user can read."""
    hits = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            f = Path(dirpath) / name
            try:
                st = f.lstat()
                if not stat.S_ISREG(st.st_mode) or st.st_size > 8 << 20:
                    continue
                if readable_by_others_only and not st.st_mode & (stat.S_IRGRP | stat.S_IROTH):
                    continue
                data = f.read_bytes()
            except OSError:
                continue
            hits += [f"{f}: holds a secret" for s in secrets if s.encode() in data][:1]
    return hits
