"""`auditflow users`: keep the user directory (the compacted `audit.users` topic) that the
normalize job joins each event with, as of the event's time."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from confluent_kafka import KafkaException, Producer

from auditflow import kafka
from udfs import users

USERS_TOPIC = "audit.users"
# the directory is reference data the stack's owner loads; no pipeline role may rewrite it
ROLE = "admin"


def _current(cfg, topic: str) -> tuple[users.UserDirectory, dict[bytes, bytes]]:
    """The directory as the topic holds it now (the last record per key wins)."""
    directory, latest = users.UserDirectory(), {}
    for m in kafka.read_topic(cfg, topic, role=ROLE):
        directory.apply(m.key(), m.value())
        latest[m.key()] = m.value()
    return directory, latest


@click.group("users")
def command() -> None:
    """The user directory that enriches events (enrichment.user)."""


@command.command("load")
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--topic", default=USERS_TOPIC, show_default=True)
@click.option("--extra-columns", type=click.Choice(["error", "ignore"]), default="error", show_default=True,
              help="What to do with columns the directory does not know.")
@click.option("--dry-run", is_flag=True, help="Check the file and show what would change; write nothing.")
@click.pass_obj
def load(obj, file: str, topic: str, extra_columns: str, dry_run: bool) -> None:
    """Merge FILE (.csv, .json, .jsonl) into the directory.

    One row per profile version: uid, name, display_name, department, title, manager,
    privileged, valid_from, valid_to, deleted (see udfs/users.py). Versions merge into each
    user's history by valid_from, so loading a corrected file replaces those versions and
    loading the same file twice changes nothing. Only users whose history changed are written.

    \b
      auditflow users load hr-export.csv
      auditflow users load users.json --dry-run
    """
    cfg = obj.cfg
    try:
        versions = users.load_file(file, extra_columns)
    except users.UserDirectoryError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        directory, latest = _current(cfg, topic)
        merged = directory.merged_with(versions)
        changed = [(k, v) for k, v in merged.records() if latest.get(k) != v]
        click.echo(f"{file}: {len(versions)} versions of {len({v.uid for v in versions})} users; "
                   f"directory has {len(directory)} users, {len(changed)} to write")
        if dry_run or not changed:
            return
        errors: list[str] = []
        producer = Producer(kafka.producer_conf(cfg, ROLE))
        for key, value in changed:
            producer.produce(topic, key=key, value=value,
                             on_delivery=lambda err, _m: errors.append(str(err)) if err else None)
            producer.poll(0)
        if producer.flush(30) or errors:
            raise click.ClickException(f"{topic}: {len(errors) or 'some'} records not acknowledged: "
                                       f"{errors[:1] or 'flush timed out after 30s'}")
    except KafkaException as exc:
        raise click.ClickException(f"Kafka: {exc}; is `auditflow stack up` running?") from exc
    click.echo(f"wrote {len(changed)} user records to {topic}")


@command.command("show")
@click.argument("user")
@click.option("--at", "at", help="ISO 8601 time or epoch millis (default: now).")
@click.option("--topic", default=USERS_TOPIC, show_default=True)
@click.pass_obj
def show(obj, user: str, at: str | None, topic: str) -> None:
    """The profile of USER (uid or name) valid at --at, as an event at that time gets it."""
    try:
        when = users.parse_time_ms(at) if at else int(datetime.now(UTC).timestamp() * 1000)
        directory, _ = _current(obj.cfg, topic)
    except users.UserDirectoryError as exc:
        raise click.ClickException(str(exc)) from exc
    except KafkaException as exc:
        raise click.ClickException(f"Kafka: {exc}; is `auditflow stack up` running?") from exc
    for key, value in directory.profile_at(user, when).items():
        click.echo(f"{key:14} {value}")
