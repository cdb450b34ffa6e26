"""`auditflow hold set|release`: S3 Object Lock legal holds on the sealed objects of a case."""

from __future__ import annotations

import datetime as dt

import click
from botocore.exceptions import ClientError

from auditflow.archive import hold, wiring
from auditflow.archive.store import S3Store
from auditflow.archive.wiring import WORM_HELP


def _when(value: str, flag: str) -> dt.datetime:
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.ClickException(f"{flag} {value!r} is not an ISO 8601 time (e.g. 2026-11-01 or "
                                   "2026-11-01T12:00:00Z)") from exc
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _run(obj, on: bool, tenant: str, start: str, end: str, worm: str | None, digests: bool) -> None:
    t0, t1 = _when(start, "--from"), _when(end, "--to")
    if t1 <= t0:
        raise click.ClickException(f"--to {end} is not after --from {start}")
    store = wiring.worm_store(obj.cfg, worm, "sealer")
    if not isinstance(store, S3Store):
        raise click.ClickException(f"{store.url} is a directory; legal holds exist only on the S3 archive")
    found = hold.targets(store, tenant, t0, t1, digests=digests)
    if not found:
        raise click.ClickException(f"no sealed object of tenant {tenant!r} in a period overlapping "
                                   f"{start} .. {end} in {store.url}")
    verb = "held" if on else "released"
    for t in found:
        try:
            version = store.set_legal_hold(t.key, on, t.version_id)
        except ClientError as exc:
            raise click.ClickException(f"{t.key}: {exc.response['Error']['Code']}: "
                                       f"{exc.response['Error'].get('Message', '')}") from exc
        click.echo(f"{verb}: {store.url}{t.key} (version {version or '-'}, {t.what}, period {t.period})")
    periods = len({t.period for t in found})
    n_digests = sum(t.what == "digest" for t in found)
    click.echo(f"{verb} {len(found)} objects of tenant {tenant!r} in {periods} periods "
               f"({len(found) - n_digests} files and quarantined records, {n_digests} digests)")


@click.group("hold")
def command() -> None:
    """Legal holds (S3 Object Lock) on a case's sealed objects: kept past their retention.

    \b
    A held object version cannot be deleted, even after archive.retention has run out, until
    the hold is released. `auditflow verify` counts the held objects it checks.
    """


@command.command("set")
@click.option("--tenant", required=True, help="The case's tenant.")
@click.option("--from", "start", required=True, help="Start of the case (UTC, ISO 8601).")
@click.option("--to", "end", required=True, help="End of the case (UTC, ISO 8601, exclusive).")
@click.option("--worm", help=WORM_HELP)
@click.pass_obj
def set_(obj, tenant: str, start: str, end: str, worm: str | None) -> None:
    """Hold the tenant's sealed events and alerts files and quarantined records of every period
    overlapping the range, and those periods' digests (they prove the files; a digest covers
    every tenant of its period).

    \b
    Examples:
      auditflow hold set --tenant acme --from 2026-11-01 --to 2026-12-01
      auditflow hold set --tenant acme --from 2026-11-28T10:00:00Z --to 2026-11-28T12:00:00Z
    """
    _run(obj, True, tenant, start, end, worm, digests=True)


@command.command("release")
@click.option("--tenant", required=True, help="The case's tenant.")
@click.option("--from", "start", required=True, help="Start of the case (UTC, ISO 8601).")
@click.option("--to", "end", required=True, help="End of the case (UTC, ISO 8601, exclusive).")
@click.option("--worm", help=WORM_HELP)
@click.option("--digests", is_flag=True,
              help="Release the periods' digests too (they stay held by default: another tenant's case "
                   "may rely on them, and a hold is one flag per object, not a count).")
@click.pass_obj
def release(obj, tenant: str, start: str, end: str, worm: str | None, digests: bool) -> None:
    """Release the holds `hold set` put on the tenant's files of the range; their retention
    (archive.retention) then applies again.

    \b
    Examples:
      auditflow hold release --tenant acme --from 2026-11-01 --to 2026-12-01
      auditflow hold release --tenant acme --from 2026-11-01 --to 2026-12-01 --digests
    """
    _run(obj, False, tenant, start, end, worm, digests=digests)
