"""`auditflow jobs`: the pipeline's Flink jobs on the configured session cluster, through the
same `flink run -py jobs/<job>.py` a platform engineer would type."""

from __future__ import annotations

import time
from pathlib import Path

import click
import requests

from auditflow import flink, pipeline
from auditflow.stack.process import StackError


def _job_file(name: str) -> Path:
    path = Path(name) if name.endswith(".py") else pipeline.JOBS_DIR / f"{name}.py"
    if not path.is_file():
        known = ", ".join(p.stem for p in sorted(pipeline.JOBS_DIR.glob("*.py")) if p.stem != "__init__")
        raise click.ClickException(f"no job {name!r}; jobs: {known}")
    return path


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
@click.option("--fresh", is_flag=True,
              help="Start without state, even if an earlier run left a checkpoint (normalize: new chains).")
@click.option("--allow-duplicate", is_flag=True,
              help="Submit even if the same job already runs on the same events topic.")
@click.pass_obj
def start(obj, job: str, job_args: tuple[str, ...], restore_from: str | None, fresh: bool,
          allow_duplicate: bool) -> None:
    """Submit JOB (normalize, detect, archive, or a .py path) detached; the rest of the
    arguments go to the job (see `python jobs/<job>.py --help`).

    A pipeline job resumes from the newest checkpoint of its last run with the same arguments
    (kept when it was stopped, and when the cluster went down), so the normalize job's chains
    continue; --fresh starts without it. One that already runs on the same events topic is not
    submitted twice (two copies would write their output twice) unless --allow-duplicate.

    \b
      auditflow jobs start normalize
      auditflow jobs start detect --rules AUTH-001,PRIV-001
      auditflow jobs start archive --restore-from ~/.local/share/auditflow/flink/savepoints/sp-1
    """
    cfg, args = obj.cfg, list(job_args)
    if job not in pipeline.JOBS:
        job_id = flink.start(cfg, _job_file(job), args, restore_from=restore_from, say=click.echo)
        click.echo(f"{job}: {job_id} {flink.wait_for_status(cfg, job_id, {'RUNNING'})}")
        return
    try:
        jid = None if allow_duplicate else pipeline.running(cfg, job, args)
    except requests.RequestException as exc:
        raise _rest_error(cfg, exc) from exc
    if jid:
        raise click.ClickException(
            f"{pipeline.name(cfg, job, args)!r} is already running as {jid}; a second copy would write its "
            f"output twice. Stop it first (`auditflow jobs stop {jid}`) or pass --allow-duplicate.")
    try:
        job_id = pipeline.start(cfg, job, args, click.echo, restore_from=restore_from, fresh=fresh)
    except StackError as exc:
        hint = "" if fresh or restore_from else (
            "\nIf it failed restoring an earlier checkpoint (changed job code or arguments), "
            "`--fresh` starts it without state.")
        raise click.ClickException(f"{exc}{hint}") from exc
    click.echo(f"{job}: {job_id} RUNNING")


@command.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also finished, cancelled and failed jobs.")
@click.pass_obj
def list_jobs(obj, show_all: bool) -> None:
    """Jobs on the cluster, newest first. A job that has failed since it started (and was
    restarted, or gave up) gets a second line: when, and the root cause of its latest failure,
    e.g. a TopicAuthorizationException when its role lacks a grant (such a job keeps
    restarting until the grant is there)."""
    try:
        jobs = flink.list_jobs(obj.cfg)
        for j in sorted(jobs, key=lambda j: -j["start-time"]):
            if show_all or j["state"] in ("RUNNING", "CREATED", "RESTARTING", "INITIALIZING"):
                started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(j["start-time"] / 1000))
                click.echo(f"{j['jid']}  {j['state']:<10} {started}  {j['name']}")
                if (failed := flink.last_failure(obj.cfg, j["jid"])) is not None:
                    at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(failed[0] / 1000))
                    click.echo(f"    last failure at {at}: {failed[1] or 'no stack trace recorded'}")
    except requests.RequestException as exc:
        raise _rest_error(obj.cfg, exc) from exc


@command.command("stop")
@click.argument("job_ids", nargs=-1, required=True)
@click.pass_obj
def stop(obj, job_ids: tuple[str, ...]) -> None:
    """Cancel jobs; their last checkpoint is kept: a later `jobs start` with the same arguments
    resumes from it (or give it to `jobs start --restore-from`)."""
    for job_id in job_ids:
        flink.cancel(obj.cfg, job_id)
        flink.wait_for_status(obj.cfg, job_id, {"CANCELED"}, timeout_s=60)
        found = flink.latest_checkpoint(obj.cfg, job_id)
        click.echo(f"{job_id} cancelled" + (f"; last checkpoint {found[1]}" if found else ""))
