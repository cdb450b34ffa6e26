"""The `auditflow` command line. Commands are grouped by the user's task."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

import botocore.exceptions
import click
from rich.console import Console
from rich.table import Table

from auditflow import config as config_mod
from auditflow.commands import (
    alerts,
    demo,
    hold,
    ingest,
    jobs,
    k8s,
    keys,
    query,
    reconcile,
    roles,
    rules,
    schemas,
    seal,
    tenants,
    users,
    verify,
    witness,
)
from auditflow.stack.process import StackError

console = Console(stderr=True, soft_wrap=True)


def say(msg: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {msg}", highlight=False)


class Ctx:
    def __init__(self, profile: str | None, config_file: str | None, sets: tuple[str, ...]):
        self.profile, self.config_file, self.sets = profile, config_file, sets
        self._cfg: config_mod.Config | None = None

    @property
    def cfg(self) -> config_mod.Config:
        if self._cfg is None:
            self._cfg = config_mod.load(self.profile, self.config_file, self.sets)
        return self._cfg

    @property
    def cli_args(self) -> list[str]:
        """The global flags this command got, for the `auditflow` commands it runs in turn."""
        args = (["-p", self.profile] if self.profile else []) + (
            ["--config", self.config_file] if self.config_file else [])
        for s in self.sets:
            args += ["--set", s]
        return args


pass_ctx = click.make_pass_decorator(Ctx)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--profile", "-p", envvar="AUDITFLOW_PROFILE", help="Config profile (default: local).")
@click.option("--config", "config_file", envvar="AUDITFLOW_CONFIG", type=click.Path(),
              help="Config file with [profiles.NAME] tables (default: ./auditflow.toml if present).")
@click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override one config value; repeatable. Wins over file and environment.")
@click.version_option(package_name="auditflow")
@click.pass_context
def cli(ctx: click.Context, profile: str | None, config_file: str | None, sets: tuple[str, ...]):
    """auditflow: a real-time compliance audit pipeline on Apache Flink.

    \b
    Start here:
      auditflow stack up        fetch and start Kafka, registry, S3, Flink, Trino locally
      auditflow smoke           send events end to end and compare the counts
      auditflow config show     the effective configuration, secrets hidden

    Configuration: built-in defaults < config file profile < AUDITFLOW_<SECTION>__<KEY>
    environment variables < --set flags.
    """
    ctx.obj = Ctx(profile, config_file, sets)


# ---------------------------------------------------------------- config
@cli.group()
def config() -> None:
    """Inspect the effective configuration."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML-like text.")
@pass_ctx
def config_show(obj: Ctx, as_json: bool) -> None:
    """Print the effective values with secrets hidden, and where they came from.

    \b
    Example:
      AUDITFLOW_KAFKA__BOOTSTRAP_SERVERS=broker:9092 auditflow config show
    """
    cfg = obj.cfg
    values = cfg.redacted()
    if as_json:
        click.echo(json.dumps({"profile": cfg.profile, "values": values}, indent=2))
        return
    click.echo(f"# profile: {cfg.profile}")
    for src in cfg.sources:
        click.echo(f"# from: {src}")
    for section, kv in values.items():
        click.echo(f"\n[{section}]")
        for key, value in kv.items():
            click.echo(f"{key} = {json.dumps(value)}")


# ---------------------------------------------------------------- stack
@cli.group()
def stack() -> None:
    """Run the local services: Kafka, Apicurio Registry, SeaweedFS S3, Flink, Trino.

    Everything binds to 127.0.0.1. State and logs live under stack.data_dir
    (default ~/.local/share/auditflow); downloads under stack.cache_dir (~/.cache/auditflow).
    """


def _lifecycle_ctx(obj: Ctx):
    from auditflow.stack import lifecycle

    return lifecycle, lifecycle.context(obj.cfg, say)


@stack.command("fetch")
@click.option("--update-lock", is_flag=True,
              help="Resolve the poms in auditflow/stack/maven afresh (transitive jars included) and "
                   "rewrite auditflow/stack/artifacts.lock with every file's SHA-256, then fetch.")
@pass_ctx
def stack_fetch(obj: Ctx, update_lock: bool) -> None:
    """Download every artifact (Maven Central, Go module proxy) without starting anything.

    Every file is checked against the SHA-256 pinned in auditflow/stack/artifacts.lock; a
    mismatch stops with the artifact and both hashes. A normal fetch never rewrites the lock:
    after editing a pom, run it with --update-lock and review the lock's diff before committing.
    """
    lifecycle, ctx = _lifecycle_ctx(obj)
    if update_lock:
        from auditflow.stack import artifacts

        for group, (added, removed, changed) in artifacts.update_lock(say).items():
            click.echo(f"{group:18} +{added} -{removed} ~{changed}")
        click.echo(f"wrote {artifacts.LOCK_FILE}")
    lifecycle.fetch(ctx)
    for name, path in sorted(ctx.paths.items()):
        click.echo(f"{name:18} {path}")


@stack.command("up")
@click.option("--only", multiple=True, help="Start only these services (repeatable).")
@pass_ctx
def stack_up(obj: Ctx, only: tuple[str, ...]) -> None:
    """Fetch what is missing and start every service; safe to run again.

    \b
    Examples:
      auditflow stack up
      auditflow --set stack.trino=false stack up     # skip Trino on a small laptop
    """
    lifecycle, ctx = _lifecycle_ctx(obj)
    t0 = time.monotonic()
    lifecycle.up(ctx, list(only) or None)
    say(f"[green]stack up[/green] in {time.monotonic() - t0:.1f}s; see `auditflow stack status`")


@stack.command("down")
@click.argument("services", nargs=-1)
@pass_ctx
def stack_down(obj: Ctx, services: tuple[str, ...]) -> None:
    """Stop the services this stack started (by pid); data stays in the data directory.

    \b
    Examples:
      auditflow stack down              # everything
      auditflow stack down trino        # one service; `stack up` starts it again
    """
    lifecycle, ctx = _lifecycle_ctx(obj)
    unknown = set(services) - set(lifecycle.service_names(obj.cfg))
    if unknown:
        raise click.BadParameter(f"unknown service(s) {', '.join(sorted(unknown))}")
    stopped = lifecycle.down(ctx, list(services) or None)
    say(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")


@stack.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def stack_status(obj: Ctx, as_json: bool) -> None:
    """Show service, port, health, pid and memory. Exit code 1 if any service is unhealthy."""
    lifecycle, ctx = _lifecycle_ctx(obj)
    rows = lifecycle.status(ctx)
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in rows], indent=2))
    else:
        table = Table("service", "port", "health", "pid", "memory")
        for r in rows:
            health = "[green]healthy[/green]" if r.healthy else "[red]down[/red]"
            table.add_row(r.name, ",".join(map(str, r.ports)) or "-", health,
                          str(r.pid or "-"), f"{r.rss_mb:.0f} MiB" if r.pid else "-")
        Console().print(table)
    sys.exit(0 if all(r.healthy for r in rows) else 1)


@stack.command("logs")
@click.argument("service", required=False)
@click.option("-n", "lines", default=40, show_default=True, help="Lines to show.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@pass_ctx
def stack_logs(obj: Ctx, service: str | None, lines: int, follow: bool) -> None:
    """Show a service's log (or where all logs are, without SERVICE)."""
    lifecycle, ctx = _lifecycle_ctx(obj)
    names = lifecycle.service_names(obj.cfg)
    logs = ctx.data_dir / "logs"
    if not service:
        for name in names:
            click.echo(f"{name:18} {logs / (name + '.log')}")
        return
    if service not in names:
        raise click.BadParameter(f"unknown service {service!r}; one of {', '.join(names)}")
    path = logs / f"{service}.log"
    if not path.exists():
        raise click.ClickException(f"{path} does not exist: {service} was never started")
    with path.open(errors="replace") as fh:
        for line in fh.readlines()[-lines:]:
            click.echo(line, nl=False)
        while follow:
            line = fh.readline()
            if line:
                click.echo(line, nl=False)
            else:
                time.sleep(0.5)


# ---------------------------------------------------------------- topics
@cli.group()
def topics() -> None:
    """Kafka topics of the pipeline, from a declarative file."""


@topics.command("apply")
@click.option("--file", "file", type=click.Path(exists=True, path_type=Path),
              help="Topics file (default: kafka.topics_file or the built-in topics.toml).")
@pass_ctx
def topics_apply(obj: Ctx, file: Path | None) -> None:
    """Create missing topics and set their configs on the configured cluster."""
    from auditflow import kafka

    path = file or (Path(obj.cfg.get("kafka.topics_file")) if obj.cfg.get("kafka.topics_file") else None)
    for change in kafka.apply_topics(obj.cfg, kafka.load_topics(path)):
        click.echo(change)


# ---------------------------------------------------------------- smoke
@cli.command()
@click.option("-n", "count", default=1000, show_default=True, help="Events to send.")
@pass_ctx
def smoke(obj: Ctx, count: int) -> None:
    """Send N events through Kafka, Flink, S3 and Trino/DuckDB and compare the counts.

    \b
    Needs a running stack (`auditflow stack up`). Steps: register the event schema, produce N
    Avro events (acks=all, idempotent), run jobs/smoke_archive.py with `flink run -py`, copy
    the Parquet into the worm bucket with COMPLIANCE retention, check the server refuses a
    delete and a retention shortening, and count the rows with Trino and DuckDB.
    """
    from auditflow import smoke as smoke_mod

    result = smoke_mod.run(obj.cfg, count, say)
    for key, value in result.counts.items():
        click.echo(f"{key:22} {value}")
    if not result.ok:
        raise click.ClickException("counts differ: " + "; ".join(result.problems))
    click.echo(f"OK: all counts equal {count}")


# ---------------------------------------------------------------- task groups
# One module per user task, each with its click group or commands (auditflow/commands/).
TASK_COMMANDS: list[click.Command] = [
    alerts.command, demo.command, hold.command, ingest.command, jobs.command, k8s.command, keys.command,
    query.command, reconcile.command, roles.command, rules.command, schemas.command, seal.command,
    tenants.command, users.command, witness.command, *verify.commands,
]
for _command in TASK_COMMANDS:
    cli.add_command(_command)


def main() -> None:
    try:
        cli(standalone_mode=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    except (StackError, config_mod.ConfigError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        code = 2
    except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError,
            botocore.exceptions.ReadTimeoutError) as exc:
        # S3 away (every command retried first): say where, not a traceback; a re-run resumes
        console.print(f"[red]error:[/red] S3 is unreachable: {exc}. Is the endpoint (s3.endpoint) up"
                      " (`auditflow stack status`)? Run the command again once it answers"
                      " (sealing resumes where it stopped).", highlight=False)
        code = 2
    # The command is done and its output written. Arrow's thread pools (Parquet reads, DuckDB
    # over Arrow datasets) can abort the process in C++ teardown at interpreter exit
    # ("terminate called without an active exception", exit 134) after a successful command,
    # so leave without that teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    main()
