"""Thin layer over Flink's own CLI: `flink run -py` against the configured session cluster."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import requests

from auditflow import paths
from auditflow.config import Config
from auditflow.stack import tls
from auditflow.stack.process import StackError

PYFLINK_HOME = Path(__import__("pyflink").__file__).parent


def conf_dirs(data_dir: Path) -> tuple[Path, Path]:
    """(the cluster's conf, the `flink run` CLI's): each holds its own key store and its password."""
    home = data_dir / "flink"
    return home / "conf", home / "client-conf"


def install_env(data_dir: Path, client: bool = False) -> dict[str, str]:
    """Points PyFlink's own bin/ scripts at the stack's assembled lib, plugins and conf (`client`:
    the CLI's, which presents the operator's certificate to the REST endpoint)."""
    home = data_dir / "flink"
    return {
        "FLINK_HOME": str(PYFLINK_HOME),
        "FLINK_LIB_DIR": str(home / "lib"),
        "FLINK_PLUGINS_DIR": str(home / "plugins"),
        "FLINK_CONF_DIR": str(conf_dirs(data_dir)[client]),
        "FLINK_LOG_DIR": str(home / "log"),
        "PYFLINK_PYTHON": sys.executable,
    }


def cli_env(cfg: Config) -> dict[str, str]:
    """PyFlink's bin/flink with the local stack's lib/ (connector jars) and conf/."""
    data_dir = cfg.path("stack.data_dir")
    if not (data_dir / "flink" / "lib").is_dir():
        raise StackError(f"{data_dir / 'flink' / 'lib'} is missing: run `auditflow stack up` first")
    # jobs load exactly the configuration this command runs with
    return {**os.environ, **install_env(data_dir, client=True), **cfg.as_environment()}


class RestSession(requests.Session):
    """requests against the Flink REST API: TLS verified against tls.ca_file, the operator's client
    certificate presented (the endpoint requires it); a path ("/jobs") is relative to flink.rest_url."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.base = cfg.get("flink.rest_url").rstrip("/")
        self.cert = client_cert(cfg)
        self.verify = str(tls.ca_file(cfg))

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        # per request: requests lets REQUESTS_CA_BUNDLE override a Session's verify (psf/requests#3829)
        kwargs.setdefault("verify", self.verify)
        return super().request(method, self.base + url if url.startswith("/") else url, *args, **kwargs)


def client_cert(cfg: Config) -> tuple[str, str]:
    """(certificate, key) PEM files the REST clients present: flink.client_cert/client_key, else the
    local stack's operator certificate (made by `stack up`)."""
    cert, key = cfg.get("flink.client_cert"), cfg.get("flink.client_key")
    if cert:
        return os.path.expanduser(cert), os.path.expanduser(key or cert)
    local = cfg.path("stack.data_dir") / "tls"
    return str(local / "client-operator.pem"), str(local / "client-operator-key.pem")


def rest(cfg: Config) -> RestSession:
    """The one way auditflow talks to Flink REST (mutual TLS)."""
    return RestSession(cfg)


def s3_options(cfg: Config) -> dict[str, str]:
    """Flink's S3 filesystem (flink-s3-fs-hadoop: FileSink, checkpoints), credentials aside: the
    local cluster adds its keys to its conf, a pod gets them from its environment (or its role)."""
    s3 = cfg.section("s3")
    if not s3["endpoint"]:  # AWS S3 itself, virtual-hosted addressing
        return {"s3.region": s3["region"]}
    return {"s3.endpoint": s3["endpoint"], "s3.path.style.access": "true", "s3.region": s3["region"]}


def job_files(cfg: Config) -> Path:
    """A copy of the code and data the workers import (`-pyfs`), one per submission.

    Only these folders: shipping the whole checkout would upload .venv (over 1 GB) as a blob
    with every job, which makes submissions take minutes and fills the disk."""
    root = cfg.path("stack.data_dir") / "flink" / "pyfs"
    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():  # submissions of more than an hour ago have long been uploaded
        if time.time() - old.stat().st_mtime > 3600:
            shutil.rmtree(old, ignore_errors=True)
    dest = Path(tempfile.mkdtemp(prefix="auditflow-", dir=root))
    for name in paths.PYFS:
        shutil.copytree(paths.ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def run_command(cfg: Config, job: Path, job_args: list[str], detached: bool = False,
                restore_from: str | None = None, options: Mapping[str, str] | None = None) -> list[str]:
    """The `flink run -py` command line; `restore_from` is a checkpoint or savepoint path,
    `options` Flink configuration for this job (-D), e.g. auditflow.pipeline.submission's."""
    url = urlparse(cfg.get("flink.rest_url"))
    cmd = [
        str(PYFLINK_HOME / "bin" / "flink"), "run",
        f"-Drest.address={url.hostname}", f"-Drest.port={url.port}",
        *(f"-D{key}={value}" for key, value in (options or {}).items()),
        "-py", str(job), "-pyexec", sys.executable, "-pyclientexec", sys.executable,
        "-pyfs", str(job_files(cfg)),
    ]
    if restore_from:
        cmd[2:2] = ["-s", restore_from]
    if detached:
        cmd.insert(2, "-d")
    return [*cmd, *job_args]


def _flink_run(cfg: Config, cmd: list[str], job: Path, timeout_s: float, waiting_for: str,
               say=print) -> str:
    """Run one `flink run` command line; its output, or a StackError with the output's tail."""
    say("$ " + " ".join(["flink", *cmd[1:]]))
    try:
        proc = subprocess.run(
            cmd, env=cli_env(cfg), capture_output=True, text=True, timeout=timeout_s, cwd=paths.ROOT
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"flink run {job.name} {waiting_for} within {timeout_s:.0f}s") from exc
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise StackError(f"flink run {job.name} failed (exit {proc.returncode}):\n{out[-4000:]}")
    return out


def start(cfg: Config, job: Path, job_args: list[str], restore_from: str | None = None,
          say=print, timeout_s: float = 600, options: Mapping[str, str] | None = None) -> str:
    """Submit a streaming job detached (`flink run -d -py`); returns its Flink job id."""
    cmd = run_command(cfg, job, job_args, detached=True, restore_from=restore_from, options=options)
    out = _flink_run(cfg, cmd, job, timeout_s, "was not accepted", say)
    found = re.search(r"JobID ([0-9a-f]{32})", out)
    if not found:
        raise StackError(f"flink run {job.name} failed (no job id in its output):\n{out[-4000:]}")
    return found.group(1)


def job_status(cfg: Config, job_id: str) -> str:
    r = rest(cfg).get(f"/jobs/{job_id}", timeout=5)
    r.raise_for_status()
    return r.json()["state"]


def wait_for_status(cfg: Config, job_id: str, wanted: set[str], timeout_s: float = 120) -> str:
    """Poll until the job reaches one of `wanted`; a job that fails instead raises with its cause."""
    deadline = time.monotonic() + timeout_s
    state = "UNKNOWN"
    while time.monotonic() < deadline:
        state = job_status(cfg, job_id)
        if state in wanted:
            return state
        if state in {"FAILED", "CANCELED", "FINISHED"}:
            raise StackError(f"Flink job {job_id} is {state}, expected {'/'.join(sorted(wanted))}"
                             f"{': ' + job_exception(cfg, job_id) if state == 'FAILED' else ''}")
        time.sleep(1)
    raise StackError(f"Flink job {job_id} still {state} after {timeout_s:.0f}s "
                     f"(expected {'/'.join(sorted(wanted))}); see `auditflow stack logs flink-jobmanager`")


def root_cause(stacktrace: str) -> str:
    """The line of a Java stack trace a person can act on: its innermost "Caused by:" (e.g.
    "TopicAuthorizationException: Not authorized to access topics: [...]" under Flink's
    "Recovery is suppressed ..." and the source's "fetchers have encountered exception"), with
    the outermost exception when there is no cause."""
    lines = stacktrace.strip().splitlines()
    causes = [ln.strip().removeprefix("Caused by: ") for ln in lines if ln.lstrip().startswith("Caused by: ")]
    return causes[-1] if causes else (lines[0] if lines else "")


def last_failure(cfg: Config, job_id: str) -> tuple[int, str] | None:
    """(epoch millis, root cause) of the job's latest failure, None if it never failed."""
    r = rest(cfg).get(f"/jobs/{job_id}/exceptions", timeout=5)
    entries = r.json().get("exceptionHistory", {}).get("entries") if r.ok else None
    if not entries:
        return None
    return int(entries[0].get("timestamp") or 0), root_cause(entries[0].get("stacktrace") or "")


def job_exception(cfg: Config, job_id: str) -> str:
    """The root cause of the job's latest failure, or "no exception recorded"."""
    found = last_failure(cfg, job_id)
    return found[1] if found and found[1] else "no exception recorded"


def cancel(cfg: Config, job_id: str) -> None:
    r = rest(cfg).patch(f"/jobs/{job_id}?mode=cancel", timeout=10)
    if r.status_code not in (200, 202):
        raise StackError(f"cancelling Flink job {job_id} failed: HTTP {r.status_code} {r.text[:200]}")


def latest_checkpoint(cfg: Config, job_id: str) -> tuple[int, str] | None:
    """(checkpoint id, path) of the job's newest completed checkpoint, or None."""
    r = rest(cfg).get(f"/jobs/{job_id}/checkpoints", timeout=5)
    r.raise_for_status()
    done = (r.json().get("latest") or {}).get("completed")
    return (done["id"], done["external_path"]) if done else None


def submit(cfg: Config, job: Path, job_args: list[str], say=print, timeout_s: float = 900) -> str:
    """Run `flink run -py JOB` and wait for it; returns its output, raises with it on failure."""
    return _flink_run(cfg, run_command(cfg, job, job_args), job, timeout_s, "did not finish", say)


def list_jobs(cfg: Config) -> list[dict]:
    r = rest(cfg).get("/jobs/overview", timeout=5)
    r.raise_for_status()
    return r.json()["jobs"]


def _submissions(cfg: Config) -> Path:
    return cfg.path("stack.data_dir") / "flink" / "submissions.jsonl"


def record_submission(cfg: Config, name: str, job_id: str, job_args: list[str]) -> None:
    """Remember which job id ran under which name and arguments, so a later start can find
    its checkpoints after the JobManager has forgotten it (a `stack down`, a crash)."""
    path = _submissions(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps({"name": name, "jid": job_id, "args": job_args, "at": time.time()}) + "\n")


def resumable_checkpoint(cfg: Config, name: str, job_args: list[str]) -> str | None:
    """The newest completed checkpoint (retained on cancel and on crash) of an earlier job
    submitted here under this name with these arguments, or None."""
    path, root = _submissions(cfg), cfg.path("stack.data_dir") / "flink" / "checkpoints"
    if not path.exists():
        return None
    jids = {r["jid"] for r in map(json.loads, path.read_text().splitlines())
            if r["name"] == name and r["args"] == job_args}
    done = [chk for jid in jids for chk in (root / jid).glob("chk-*") if (chk / "_metadata").is_file()]
    return str(max(done, key=lambda c: (c / "_metadata").stat().st_mtime)) if done else None


def job_prefix(job: str) -> str:
    """What the names of every copy of jobs/<job>.py start with."""
    return f"auditflow-{job}"


def pipeline_job_name(job: str, events_topic: str) -> str:
    """The name jobs/<job>.py gives itself: one running copy per job and events topic."""
    return f"{job_prefix(job)} {events_topic}"


def running_job(cfg: Config, name: str) -> str | None:
    """The id of a RUNNING job with exactly this name, if any."""
    return next((j["jid"] for j in list_jobs(cfg) if j["name"] == name and j["state"] == "RUNNING"), None)


def subtask_counts(cfg: Config, job_id: str, vertex_name: str, key: str, total: int,
                   wait_s: float = 60) -> list[int]:
    """Per subtask of the job vertex whose name contains `vertex_name`, its `key` count
    (`read-records`, `write-records`), once they add up to `total` or `wait_s` has passed: the
    JobManager fetches metrics every few seconds, so they lag the output."""
    session, deadline = rest(cfg), time.monotonic() + wait_s
    while True:
        vertices = session.get(f"/jobs/{job_id}", timeout=10).json()["vertices"]
        vertex = next(v for v in vertices if vertex_name in v["name"])
        detail = session.get(f"/jobs/{job_id}/vertices/{vertex['id']}", timeout=10).json()
        counts = [s["metrics"][key] for s in sorted(detail["subtasks"], key=lambda s: s["subtask"])]
        if sum(counts) >= total or time.monotonic() > deadline:
            return counts
        time.sleep(2)


def job_late_metrics(cfg: Config, job_id: str, attempts: int = 4) -> dict[str, int]:
    """numRecordsIn of each `late_rule_*` sink writer in the running job (Flink REST metrics).

    The JobManager fetches metrics lazily (every 10 s by default): the first request after a
    quiet spell may list none yet, so retry a few times before answering."""
    session = rest(cfg)
    for attempt in range(attempts):
        out: dict[str, int] = {}
        job = session.get(f"/jobs/{job_id}", timeout=5).json()
        for vertex in job.get("vertices", []):
            base = f"/jobs/{job_id}/vertices/{vertex['id']}/metrics"
            names = [m["id"] for m in session.get(base, timeout=5).json()
                     if "late_rule_" in m["id"] and m["id"].endswith("Writer.numRecordsIn")]
            if not names:
                continue
            for m in session.get(base, params={"get": ",".join(names)}, timeout=5).json():
                # e.g. 0.late_rule_auth_001[20]__Writer.numRecordsIn (subtask 0)
                rule = m["id"].split("late_rule_", 1)[1].split("[", 1)[0].split(":", 1)[0]
                rule = rule.upper().replace("_", "-", 1)
                out[rule] = out.get(rule, 0) + int(float(m["value"]))
        if out or attempt == attempts - 1:
            return out
        time.sleep(5)
    return {}


def late_watermark(cfg: Config, job_id: str) -> int | None:
    """The watermark the late statements' filters have reached (the lowest input watermark of
    the Calc operators in the vertices that write `late_rule_*` sinks), in epoch ms; None before
    any was reported. The late statements share the rules' one source (jobs/detect.py
    read_events_once), but their filters see its watermark only as it reaches them: an event is
    counted late only once this has passed it."""
    session = rest(cfg)
    job = session.get(f"/jobs/{job_id}", timeout=5).json()
    marks: list[int] = []
    for vertex in job.get("vertices", []):
        if "late_rule_" not in vertex["name"]:
            continue
        base = f"/jobs/{job_id}/vertices/{vertex['id']}/metrics"
        names = [i for i in (m["id"] for m in session.get(base, timeout=5).json())
                 if i.split(".", 1)[-1].startswith("Calc[") and i.endswith(".currentInputWatermark")]
        if not names:
            return None
        marks += [int(float(m["value"])) for m in session.get(base, params={"get": ",".join(names)},
                                                                 timeout=5).json()]
    return min(marks) if marks else None


RULE_METRICS = ("matches", "alerts", "suppressed", "eval_lag_ms")


def job_rule_metrics(cfg: Config, job_id: str, attempts: int = 4) -> dict[str, dict[str, int]]:
    """Per rule, the detect job's metrics summed over subtasks (eval_lag_ms: the largest):
    `matches`, `alerts`, `suppressed` and `eval_lag_ms` of the dedup operator (jobs/detect.py
    Suppress: `<subtask>.dedup-suppress-encode.detect.rule.<ID>.<name>`) and `late`, the
    numRecordsIn of the rule's `late_rule_*` sink. A counter not yet incremented is not listed
    by Flink: it reads as absent. Retried like job_late_metrics (the metric store lags)."""
    session = rest(cfg)
    for attempt in range(attempts):
        out: dict[str, dict[str, int]] = {}
        job = session.get(f"/jobs/{job_id}", timeout=5).json()
        for vertex in job.get("vertices", []):
            base = f"/jobs/{job_id}/vertices/{vertex['id']}/metrics"
            names = [m["id"] for m in session.get(base, timeout=5).json()
                     if ".detect.rule." in m["id"] or
                     ("late_rule_" in m["id"] and m["id"].endswith("Writer.numRecordsIn"))]
            if not names:
                continue
            # a few dozen ids per request: all rules' at once make a URL the server refuses
            values = [m for i in range(0, len(names), 40) for m in
                      session.get(base, params={"get": ",".join(names[i:i + 40])}, timeout=5).json()]
            for m in values:
                value = int(float(m["value"]))
                if ".detect.rule." in m["id"]:
                    rule, name = m["id"].split(".detect.rule.", 1)[1].rsplit(".", 1)
                else:
                    rule = m["id"].split("late_rule_", 1)[1].split("[", 1)[0].split(":", 1)[0]
                    rule, name = rule.upper().replace("_", "-", 1), "late"
                row = out.setdefault(rule, {})
                summed = row.get(name, 0) + value
                row[name] = max(row.get(name, 0), value) if name == "eval_lag_ms" else summed
        if out or attempt == attempts - 1:
            return out
        time.sleep(5)
    return {}
