"""Thin layer over Flink's own CLI: `flink run -py` against the configured session cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import requests

from auditflow.config import Config
from auditflow.stack.process import StackError

PYFLINK_HOME = Path(__import__("pyflink").__file__).parent
REPO = Path(__file__).resolve().parents[1]


def cli_env(cfg: Config) -> dict[str, str]:
    """PyFlink's bin/flink with the local stack's lib/ (connector jars) and conf/."""
    home = cfg.path("stack.data_dir") / "flink"
    env = {
        **os.environ,
        "FLINK_HOME": str(PYFLINK_HOME),
        "FLINK_LIB_DIR": str(home / "lib"),
        "FLINK_PLUGINS_DIR": str(home / "plugins"),
        "FLINK_CONF_DIR": str(home / "conf"),
        "FLINK_LOG_DIR": str(home / "log"),
        "PYFLINK_PYTHON": sys.executable,
        # jobs load exactly the configuration this command runs with
        **cfg.as_environment(),
    }
    if not (home / "lib").is_dir():
        raise StackError(f"{home / 'lib'} is missing: run `auditflow stack up` first")
    return env


def run_command(cfg: Config, job: Path, job_args: list[str], detached: bool = False) -> list[str]:
    rest = urlparse(cfg.get("flink.rest_url"))
    cmd = [
        str(PYFLINK_HOME / "bin" / "flink"), "run",
        f"-Drest.address={rest.hostname}", f"-Drest.port={rest.port}",
        "-py", str(job), "-pyexec", sys.executable, "-pyclientexec", sys.executable,
        "-pyfs", str(REPO),
    ]
    if detached:
        cmd.insert(2, "-d")
    return [*cmd, *job_args]


def submit(cfg: Config, job: Path, job_args: list[str], say=print, timeout_s: float = 900) -> str:
    """Run `flink run -py JOB` and wait for it; returns its output, raises with it on failure."""
    cmd = run_command(cfg, job, job_args)
    say("$ " + " ".join(["flink", *cmd[1:]]))
    try:
        proc = subprocess.run(
            cmd, env=cli_env(cfg), capture_output=True, text=True, timeout=timeout_s, cwd=REPO
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"flink run {job.name} did not finish within {timeout_s:.0f}s") from exc
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise StackError(f"flink run {job.name} failed (exit {proc.returncode}):\n{out[-4000:]}")
    return out


def list_jobs(cfg: Config) -> list[dict]:
    r = requests.get(cfg.get("flink.rest_url") + "/jobs/overview", timeout=5)
    r.raise_for_status()
    return r.json()["jobs"]
