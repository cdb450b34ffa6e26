"""`auditflow schemas`: register the Avro contracts, check a proposed change against the real
registry, and show what changed. The registry decides; udfs.schema_compat explains."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from auditflow import registry
from udfs import schema_compat

CONTRACTS = registry.contracts()


def contract_for(path: Path) -> registry.Contract | None:
    return next((c for c in CONTRACTS if c.file == path.name), None)


def _client(obj) -> tuple[SchemaRegistryClient, str]:
    return registry.client(obj.cfg, "schema-admin"), obj.cfg.get("registry.url")


def _fail(url: str, exc: Exception) -> click.ClickException:
    if isinstance(exc, SchemaRegistryError):
        return click.ClickException(f"registry at {url} refused: {exc.error_message} "
                                    f"(HTTP {exc.http_status_code}, code {exc.error_code})")
    return click.ClickException(f"registry at {url} is not reachable ({exc}); start it with "
                                "`auditflow stack up` or set registry.url")


def _read(path: Path) -> str:
    try:
        text = path.read_text()
        schema_compat.parse(text)
    except (OSError, ValueError, KeyError) as exc:
        raise click.ClickException(f"{path}: not a readable Avro schema ({exc})") from exc
    return text


def _level(client: SchemaRegistryClient, subject: str) -> str:
    try:
        return client.get_compatibility(subject)
    except SchemaRegistryError as exc:
        if exc.http_status_code != 404:
            raise
        return client.get_compatibility()


def _versions(client: SchemaRegistryClient, subject: str) -> list[int]:
    try:
        return sorted(client.get_versions(subject))
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404:
            return []
        raise


@click.group("schemas")
def command() -> None:
    """Govern the Avro contracts in schemas/ in the Schema Registry.

    \b
    Subjects follow TopicNameStrategy (<topic>-value):
      audit.events-value  schemas/audit_event.avsc  FULL_TRANSITIVE
      audit.alerts-value  schemas/alert.avsc        BACKWARD_TRANSITIVE
      audit.dlq-value     schemas/dead_letter.avsc  BACKWARD_TRANSITIVE

    \b
    Examples:
      auditflow schemas register
      auditflow schemas check schemas/audit_event.avsc
      auditflow schemas diff
    """


@command.command("register")
@click.option("--prefix", default="", help="Prefix every subject (e.g. 'staging.' on a shared registry).")
@click.pass_obj
def register(obj, prefix: str) -> None:
    """Register every contract and set its per-subject compatibility level.

    A version the registry already holds is not duplicated. A change the subject's level
    forbids is refused with the reasons; see `auditflow schemas check`.

    \b
    Example:
      auditflow schemas register
      auditflow --set registry.url=https://sr.example.com schemas register
    """
    client, url = _client(obj)
    failed = False
    for c in CONTRACTS:
        subject = prefix + c.subject
        text = _read(registry.SCHEMAS / c.file)
        try:
            existed = bool(_versions(client, subject))
            if existed:   # so the new version is judged under the intended level
                client.set_compatibility(subject, c.compatibility)
            try:
                schema_id = client.register_schema(subject, Schema(text, "AVRO"))
            except SchemaRegistryError as exc:
                if exc.http_status_code != 409:
                    raise
                failed = True
                click.echo(f"REFUSED  {subject} ({c.file}) under {c.compatibility}:", err=True)
                latest = client.get_latest_version(subject).schema.schema_str
                for reason in schema_compat.incompatibilities(latest, text, c.compatibility) or [
                        exc.error_message]:
                    click.echo(f"  - {reason}", err=True)
                continue
            client.set_compatibility(subject, c.compatibility)
            version = client.get_latest_version(subject).version
        except SchemaRegistryError as exc:
            raise _fail(url, exc) from exc
        except Exception as exc:  # connection errors surface as requests exceptions
            raise _fail(url, exc) from exc
        click.echo(f"{subject:28} {c.file:18} id {schema_id:<5} version {version:<3} {c.compatibility}")
    if failed:
        sys.exit(1)


def _target(path: Path | None, subject: str | None, prefix: str = "") -> tuple[Path, str]:
    if path is None:
        raise click.UsageError("give a schema FILE")
    if subject:
        return path, subject
    c = contract_for(path)
    if c is None:
        known = ", ".join(c.file for c in CONTRACTS)
        raise click.UsageError(f"{path.name} is not a known contract ({known}); pass --subject")
    return path, prefix + c.subject


@command.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--subject", "-s", help="Subject to check against (default: from the file name).")
@click.pass_obj
def check(obj, file: Path, subject: str | None) -> None:
    """Ask the registry whether FILE may become the next version of its subject.

    Uses the subject's own compatibility level (for *_TRANSITIVE: every registered version).
    An incompatible change exits 1 with each reason in words, e.g. "field 'x' was removed
    and has no default in the old schema: consumers still on the old schema cannot read
    data written with the new one".

    \b
    Examples:
      auditflow schemas check schemas/audit_event.avsc
      auditflow schemas check my_event_v2.avsc --subject audit.events-value
    """
    file, subject = _target(file, subject)
    text = _read(file)
    client, url = _client(obj)
    try:
        versions = _versions(client, subject)
        if not versions:
            click.echo(f"{subject} has no versions yet: any schema is accepted; register it with "
                       "`auditflow schemas register`")
            return
        level = _level(client, subject)
        against = versions if level.endswith("_TRANSITIVE") else [versions[-1]]
        refused = [v for v in against
                   if not client.test_compatibility(subject, Schema(text, "AVRO"), version=v)]
        olds = {v: client.get_version(subject, v).schema.schema_str for v in refused}
    except Exception as exc:
        raise _fail(url, exc) from exc
    if not refused:
        click.echo(f"compatible: {file} may become the next version of {subject} ({level}, "
                   f"checked against version{'s' if len(against) > 1 else ''} "
                   f"{', '.join(map(str, against))})")
        return
    click.echo(f"INCOMPATIBLE: the registry refuses {file} as the next version of {subject} "
               f"({level}):")
    for v in refused:
        reasons = schema_compat.incompatibilities(olds[v], text, level)
        click.echo(f"  against version {v}:")
        for reason in reasons or ["the registry gave no reason and none was found locally; compare "
                                  f"with `auditflow schemas diff {file} --subject {subject}`"]:
            click.echo(f"    - {reason}")
    sys.exit(1)


@command.command("diff")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--subject", "-s", help="Subject to compare with (default: from the file name).")
@click.option("--version", "version", default="latest", show_default=True,
              help="Registered version to compare with.")
@click.pass_obj
def diff(obj, file: Path | None, subject: str | None, version: str) -> None:
    """Show what changed between the registered version and the local FILE.

    Without FILE, every contract in schemas/ is compared with its subject. Lines start
    with '+' (field added), '-' (field removed) or '~' (type, default, doc or symbols changed).

    \b
    Examples:
      auditflow schemas diff
      auditflow schemas diff schemas/audit_event.avsc --version 1
    """
    client, url = _client(obj)
    targets = [_target(file, subject)] if file else [
        (registry.SCHEMAS / c.file, c.subject) for c in CONTRACTS]
    for path, subj in targets:
        text = _read(path)
        try:
            if not _versions(client, subj):
                click.echo(f"{subj}: not registered yet ({path.name} would be version 1)")
                continue
            reg = (client.get_latest_version(subj) if version == "latest"
                   else client.get_version(subj, int(version)))
        except Exception as exc:
            raise _fail(url, exc) from exc
        changes = schema_compat.diff(json.loads(reg.schema.schema_str), json.loads(text))
        click.echo(f"{subj} version {reg.version} → {path}: "
                   + (f"{len(changes)} change(s)" if changes else "no differences"))
        for line in changes:
            click.echo(f"  {line}")
