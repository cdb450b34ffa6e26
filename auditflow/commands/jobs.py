"""`auditflow jobs`: the pipeline's Flink jobs on the configured session cluster, through the
same `flink run -py jobs/<job>.py` a platform engineer would type."""

from __future__ import annotations

import time
from pathlib import Path

import click
import requests

from auditflow import flink

JOBS_DIR = Path(__file__).resolve().parents[2] / "jobs"
PIPELINE = ("normalize", "detect", "archive")


def _job_file(name: str) -> Path:
    path = Path(name) if name.endswith(".py") else JOBS_DIR / f"{name}.py"
    if not path.is_file():
        known = ", ".join(p.stem for p in sorted(JOBS_DIR.glob("*.py")) if p.stem != "__init__")
        raise click.ClickException(f"no job {name!r}; jobs: {known}")
    return path


def _events_topic(cfg, job: str, job_args: tuple[str, ...]) -> str:
    """The events topic a pipeline job will use: its --events-topic, else the configured one."""
    for i, arg in enumerate(job_args):
        if arg == "--events-topic" and i + 1 < len(job_args):
            return job_args[i + 1]
        if arg.startswith("--events-topic="):
            return arg.split("=", 1)[1]
    return cfg.section(job).get("events_topic", "audit.events") if job in cfg.values else "audit.events"


def _rest_error(cfg, exc: Exception) -> click.ClickException:
    return click.ClickException(f"Flink REST at {cfg.get('flink.rest_url')} is not reachable ({exc}); "
                                "start it with `auditflow stack up`")


@click.group("jobs")
def command() -> None:
    """Start, list, stop and restart the pipeline's Flink jobs."""


@command.command("start", context_settings={"ignore_unknown_options": True})
@click.argument("job")
@click.argument("job_args", nargs=-1, type=click.UNPROCESSED)
@click.option("--restore-from", help="Checkpoint or savepoint path to resume from.")
@click.option("--allow-duplicate", is_flag=True,
              help="Submit even if the same job already runs on the same events topic.")
@click.pass_obj
def start(obj, job: str, job_args: tuple[str, ...], restore_from: str | None, allow_duplicate: bool) -> None:
    """Submit JOB (normalize, detect, archive, or a .py path) detached; the rest of the
    arguments go to the job (see `python jobs/<job>.py --help`).

    A pipeline job that already runs on the same events topic is not submitted twice (two
    copies would write every event or alert twice) unless --allow-duplicate is given.

    \b
      auditflow jobs start normalize
      auditflow jobs start detect --rules AUTH-001,PRIV-001
    """
    if job in PIPELINE and not allow_duplicate:
        name = flink.pipeline_job_name(job, _events_topic(obj.cfg, job, job_args))
        try:
            jid = flink.running_job(obj.cfg, name)
        except requests.RequestException as exc:
            raise _rest_error(obj.cfg, exc) from exc
        if jid:
            raise click.ClickException(
                f"{name!r} is already running as {jid}; a second copy would write its output twice. "
                f"Stop it first (`auditflow jobs stop {jid}`) or pass --allow-duplicate.")
    job_id = flink.start(obj.cfg, _job_file(job), list(job_args), restore_from=restore_from, say=click.echo)
    state = flink.wait_for_status(obj.cfg, job_id, {"RUNNING"})
    click.echo(f"{job}: {job_id} {state}")


@command.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also finished, cancelled and failed jobs.")
@click.pass_obj
def list_jobs(obj, show_all: bool) -> None:
    """Jobs on the cluster, newest first."""
    try:
        jobs = flink.list_jobs(obj.cfg)
    except requests.RequestException as exc:
        raise _rest_error(obj.cfg, exc) from exc
    for j in sorted(jobs, key=lambda j: -j["start-time"]):
        if show_all or j["state"] in ("RUNNING", "CREATED", "RESTARTING", "INITIALIZING"):
            started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(j["start-time"] / 1000))
            click.echo(f"{j['jid']}  {j['state']:<10} {started}  {j['name']}")


@command.command("stop")
@click.argument("job_ids", nargs=-1, required=True)
@click.pass_obj
def stop(obj, job_ids: tuple[str, ...]) -> None:
    """Cancel jobs; their last checkpoint is kept, for `jobs restart` or `jobs start --restore-from`."""
    for job_id in job_ids:
        flink.cancel(obj.cfg, job_id)
        flink.wait_for_status(obj.cfg, job_id, {"CANCELED"}, timeout_s=60)
        found = flink.latest_checkpoint(obj.cfg, job_id)
        click.echo(f"{job_id} cancelled" + (f"; last checkpoint {found[1]}" if found else ""))
