"""`auditflow ingest`: put raw audit input into Kafka, one record per source record.

The adapters live in connectors/ingest/ (framing, follow, producer), wired to the configuration
in auditflow/ingest.py; this module is the CLI.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

from auditflow.ingest import check_topics, clients
from connectors.ingest import framing
from connectors.ingest.producer import DLQ_TOPIC, IngestError, RawProducer, format_summary

console = Console(stderr=True, soft_wrap=True, highlight=False)
MAX_REJECTS_SHOWN = 20
PROGRESS_MIN_BYTES = 4 << 20

EXAMPLES = {
    "syslog": "auditflow ingest syslog /var/log/auth.log --tenant acme",
    "cloudtrail": "auditflow ingest cloudtrail 123456789012_CloudTrail_eu-west-1_20250101T0000Z_x.json.gz "
                  "--tenant acme",
    "k8s-audit": "auditflow ingest k8s-audit /var/log/kubernetes/audit/audit.log --tenant acme",
    "auditd": "auditflow ingest auditd /var/log/audit/audit.log --tenant acme",
    "app": "myapp --audit-json | auditflow ingest app - --tenant acme",
    "debezium": "auditflow ingest debezium changes.jsonl --tenant acme",
}
RECORD_IS = {
    "syslog": "one line (RFC 3164 or RFC 5424)",
    "cloudtrail": "one element of Records in a delivered {\"Records\":[...]} file (gzip too), or one "
                  "JSON line",
    "k8s-audit": "one JSON line (an audit.k8s.io/v1 Event)",
    "auditd": "the consecutive lines that share one msg=audit(<time>:<serial>) id",
    "app": "one JSON line of the application event shape in connectors/README.md",
    "debezium": "one JSON line (a Debezium change event)",
}


class _Rejects:
    """Prints the first rejects as they happen, then only counts."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, msg: str) -> None:
        self.count += 1
        if self.count <= MAX_REJECTS_SHOWN:
            console.print(f"[yellow]reject[/yellow] {msg}")
        elif self.count == MAX_REJECTS_SHOWN + 1:
            console.print(f"[yellow]reject[/yellow] … more rejects; only the first {MAX_REJECTS_SHOWN} "
                          "are shown (all are in the dead-letter topic)")


def _open_producer(obj, fmt: str, tenant: str, topic: str | None, dlq_topic: str,
                   no_dlq: bool) -> RawProducer:
    topic = topic or framing.raw_topic(fmt)
    dlq = None if no_dlq else dlq_topic
    check_topics(obj.cfg, [topic] + ([dlq] if dlq else []))
    return RawProducer(clients(obj.cfg, tenant), fmt, tenant, topic, dlq, on_reject=_Rejects())


def _finish(producer: RawProducer, fail_on_reject: bool) -> None:
    summary = producer.close()
    for err in summary.errors:
        console.print(f"[red]error[/red] {err}")
    click.echo(format_summary(summary))
    if summary.failed:
        sys.exit(1)
    if fail_on_reject and summary.rejects:
        sys.exit(4)


def _common(f):
    for opt in reversed([
        click.option("--tenant", "-t", required=True, help="Tenant id; the Kafka key of every record."),
        click.option("--topic", help="Target topic (default: audit.raw.<format>)."),
        click.option("--dlq-topic", default=DLQ_TOPIC, show_default=True,
                     help="Where rejects go, as Avro DeadLetter records."),
        click.option("--no-dlq", is_flag=True, help="Only report rejects; do not dead-letter them."),
        click.option("--fail-on-reject", is_flag=True, help="Exit 4 if any input was rejected."),
    ]):
        f = opt(f)
    return f


def _run_files(obj, fmt: str, files: tuple[str, ...], tenant: str, topic: str | None,
               dlq_topic: str, no_dlq: bool, fail_on_reject: bool) -> None:
    try:
        producer = _open_producer(obj, fmt, tenant, topic, dlq_topic, no_dlq)
        total = sum(Path(f).stat().st_size for f in files if f != "-")
        show = total >= PROGRESS_MIN_BYTES and "-" not in files
        with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                      TransferSpeedColumn(), TimeRemainingColumn(), console=console,
                      disable=not show, transient=True) as bar:
            task = bar.add_task(f"{fmt} → {producer.topic}", total=total or None)
            done = 0
            for path in files:
                from connectors.ingest.run import ingest_file

                ingest_file(producer, fmt, path,
                            progress=lambda pos, base=done: bar.update(task, completed=base + pos))
                done += Path(path).stat().st_size if path != "-" else 0
    except (IngestError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise click.ClickException(str(exc)) from exc
    _finish(producer, fail_on_reject)


def _format_command(fmt: str) -> click.Command:
    def run(obj, files: tuple[str, ...], **opts) -> None:
        _run_files(obj, fmt, files or ("-",), **opts)

    run.__doc__ = (
        f"Send {fmt} input to audit.raw.{fmt}.\n\n"
        f"One record is {RECORD_IS[fmt]}. FILE may be gzip; '-' or nothing reads stdin. Rejects "
        "(input that cannot be framed) are reported as file:line and dead-lettered to audit.dlq.\n\n"
        f"\b\nExample:\n  {EXAMPLES[fmt]}"
    )
    cmd = click.argument("files", nargs=-1, type=click.Path(allow_dash=True, dir_okay=False))(run)
    cmd = _common(cmd)
    return click.command(fmt)(click.pass_obj(cmd))


@click.group("ingest")
def command() -> None:
    """Put raw audit input into Kafka (audit.raw.<format>), one record per source record.

    \b
    Every record: key = tenant, headers source/file/line, acks=all, idempotence, zstd.
    Input that cannot be framed is reported as file:line and written to audit.dlq with
    the reason; a summary (records, bytes, rate, rejects) ends every run.
    Exit status: 0 ok, 1 records not acknowledged by Kafka, 4 rejects with --fail-on-reject.

    \b
    Examples:
      auditflow ingest syslog /var/log/auth.log --tenant acme
      auditflow ingest cloudtrail trail/*.json.gz --tenant acme
      auditflow ingest follow /var/log/auth.log --tenant acme      # like tail -F
    """


for _fmt in framing.FORMATS:
    command.add_command(_format_command(_fmt))


def _follow(obj, file: Path, fmt: str, from_start: bool, tenant: str, topic: str | None,
            dlq_topic: str, no_dlq: bool, fail_on_reject: bool) -> None:
    """Stream a growing file to Kafka like `tail -F`, until Ctrl-C.

    Survives rotation (rename or delete and re-create) and truncation (copytruncate): the
    new file is read from its start. Lines already in the file are skipped unless
    --from-start. Ctrl-C (or SIGTERM) flushes what was read and prints the summary.

    \b
    Examples:
      auditflow ingest follow /var/log/auth.log --tenant acme
      auditflow ingest follow /var/log/audit/audit.log --format auditd --tenant acme
    """
    from connectors.ingest.run import follow_file

    try:
        producer = _open_producer(obj, fmt, tenant, topic, dlq_topic, no_dlq)
    except IngestError as exc:
        raise click.ClickException(str(exc)) from exc
    stopping = {"now": False}

    def _stop(_signum, _frame) -> None:
        stopping["now"] = True

    # both set explicitly: a shell starts background jobs with SIGINT ignored, and Python then
    # installs no KeyboardInterrupt handler, so Ctrl-C / kill -INT would do nothing
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    console.print(f"following {file} ({fmt}) → {producer.topic}; Ctrl-C to stop")
    try:
        follow_file(producer, fmt, file, from_start=from_start, stop=lambda: stopping["now"],
                    on_reopen=lambda why: console.print(f"{file} {why}; reading it from the start"))
    except KeyboardInterrupt:
        pass
    except IngestError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _finish(producer, fail_on_reject)


def _follow_command() -> click.Command:
    cmd = _common(_follow)
    cmd = click.option("--from-start", is_flag=True,
                       help="Also send the lines already in the file.")(cmd)
    cmd = click.option("--format", "-f", "fmt", type=click.Choice(framing.FORMATS), default="syslog",
                       show_default=True, help="Source family of the file.")(cmd)
    cmd = click.argument("file", type=click.Path(dir_okay=False, path_type=Path))(cmd)
    return click.command("follow")(click.pass_obj(cmd))


command.add_command(_follow_command())
