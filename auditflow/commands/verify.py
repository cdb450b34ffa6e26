"""`auditflow verify`: recompute every chain from the WORM archive and check the signed digests."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from auditflow.archive import digest as dg
from auditflow.archive import wiring
from auditflow.archive.store import LocalStore
from auditflow.archive.verify import Verifier, summary
from auditflow.archive.wiring import WORM_HELP


def _when(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


@click.command("verify")
@click.option("--tenant", help="Only this tenant's chain and files (digests are always all checked).")
@click.option("--from", "start", help="Only periods ending after this UTC time (ISO 8601).")
@click.option("--to", "end", help="Only periods starting before this UTC time (ISO 8601).")
@click.option("--worm", help=WORM_HELP)
@click.option("--public-key", type=click.Path(exists=True, path_type=Path),
              help="Pin the signing public key (PEM) instead of trusting keys/ in the archive.")
@click.pass_obj
def command(obj, tenant: str | None, start: str | None, end: str | None, worm: str | None,
            public_key: Path | None) -> None:
    """Check that nothing in the archive was altered, removed, reordered or added.

    \b
    Prints OK with counts, or the first broken point: which tenant, which sequence and what
    kind (modified, missing, reordered, extra, duplicate, wrong_prev_hash, overwritten,
    digest mismatch, bad signature). Exit code 1 when broken.

    \b
    Examples:
      auditflow verify
      auditflow verify --tenant acme --from 2026-11-01 --to 2026-12-01
      auditflow verify --worm ./worm-copy --public-key auditflow-signing.pub
    """
    store = wiring.worm_store(obj.cfg, worm)
    if isinstance(store, LocalStore) and not Path(store.root).is_dir():
        raise click.ClickException(f"{worm}: no such directory (an archive copy to verify)")
    key = dg.load_public(public_key.read_bytes()) if public_key else None
    rep = Verifier(store, key).run(tenant, _when(start), _when(end))
    if rep.ok:
        click.echo(summary(rep) + (f" (tenant {tenant})" if tenant else ""))
        return
    p = rep.problem
    click.echo(f"BROKEN: {p.message}")
    click.echo(f"  kind: {p.kind}; tenant/chain: {p.tenant or '-'}; sequence: "
               f"{p.sequence if p.sequence is not None else '-'}; period: {p.period or '-'}")
    click.echo(f"  checked before the break: {rep.digests} digests, {rep.periods_checked} periods, "
               f"{rep.events} events")
    sys.exit(1)
