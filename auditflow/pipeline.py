"""The pipeline's Flink jobs (jobs/normalize.py, detect.py, archive.py) as one running copy
each per events topic, resumed from their own checkpoints.

State matters across restarts: the normalize job's SHA-256 chains (and every job's Kafka
positions) live in Flink state, so a fresh start after a `stack down` or a crash would begin new
chains that the sealer and `auditflow verify` rightly report as broken. A start therefore
resumes from the newest completed checkpoint of an earlier run submitted here under the same
name and arguments (checkpoints are retained on cancel and survive a killed cluster).
"""

from __future__ import annotations

from collections.abc import Callable

from auditflow import flink, paths
from auditflow.config import Config

JOBS = ("normalize", "detect", "archive")
JOBS_DIR = paths.JOBS


def submission(cfg: Config, job: str, job_args: list[str]) -> tuple[list[str], dict[str, str]]:
    """(arguments of jobs/<job>.py, Flink options) a pipeline job is submitted with, on any
    cluster: `start` passes them to `flink run` (options as -D), auditflow.k8s writes them into
    the job's FlinkDeployment (job.args, flinkConfiguration), so the two cannot differ. All else
    a job reads from the auditflow configuration (AUDITFLOW_* variables)."""
    return list(job_args), {"parallelism.default": str(cfg.get("flink.parallelism"))}


def arg_value(job_args: list[str], option: str) -> str | None:
    """The value of `option` (e.g. --events-topic) in a job's arguments, as `--opt V` or `--opt=V`."""
    for i, arg in enumerate(job_args):
        if arg == option and i + 1 < len(job_args):
            return job_args[i + 1]
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
    return None


def events_topic(cfg: Config, job: str, job_args: list[str]) -> str:
    """The events topic a pipeline job will use: its --events-topic, else the configured one."""
    if topic := arg_value(job_args, "--events-topic"):
        return topic
    return cfg.section(job).get("events_topic", "audit.events") if job in cfg.values else "audit.events"


def name(cfg: Config, job: str, job_args: list[str]) -> str:
    return flink.pipeline_job_name(job, events_topic(cfg, job, job_args))


def running(cfg: Config, job: str, job_args: list[str]) -> str | None:
    """The id of the running copy of this job on this events topic, if any."""
    return flink.running_job(cfg, name(cfg, job, job_args))


def start(cfg: Config, job: str, job_args: list[str], say: Callable[[str], None],
          restore_from: str | None = None, fresh: bool = False) -> str:
    """Submit jobs/<job>.py detached (`flink run -d -py`) and wait until it runs; resume from
    `restore_from`, else (unless `fresh`) from the newest checkpoint of an earlier run."""
    job_args, options = submission(cfg, job, job_args)
    job_name = name(cfg, job, job_args)
    if restore_from is None and not fresh:
        restore_from = flink.resumable_checkpoint(cfg, job_name, job_args)
        if restore_from:
            say(f"{job}: resuming from {restore_from} (the last run with these arguments)")
    job_id = flink.start(cfg, JOBS_DIR / f"{job}.py", job_args, restore_from=restore_from, say=say,
                         options=options)
    flink.record_submission(cfg, job_name, job_id, job_args)
    flink.wait_for_status(cfg, job_id, {"RUNNING"})
    return job_id
