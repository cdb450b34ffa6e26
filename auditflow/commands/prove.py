"""`auditflow prove EVENT_ID`: an inclusion proof for one archived event."""

from __future__ import annotations

import json

import click

from auditflow.archive import proof, wiring
from auditflow.archive.wiring import WORM_HELP


@click.command("prove")
@click.argument("event_id")
@click.option("--tenant", help="Search only this tenant's files (faster).")
@click.option("--worm", help=WORM_HELP)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the proof to this file.")
@click.pass_obj
def command(obj, event_id: str, tenant: str | None, worm: str | None, output: str | None) -> None:
    """Print a JSON inclusion proof: the event, its Merkle audit path to the period's root,
    and the signed digest with its public key (format: schemas/CHAIN.md section 9).

    \b
    Example:
      auditflow prove 7c9e6679-7425-40de-944b-e07fc1f90ae7 -o proof.json
      auditflow verify-proof proof.json
    """
    try:
        p = proof.prove(wiring.worm_store(obj.cfg, worm), event_id, tenant)
    except proof.ProofError as exc:
        raise click.ClickException(str(exc)) from exc
    text = json.dumps(p, indent=1, ensure_ascii=False)
    if output:
        with open(output, "w") as fh:
            fh.write(text + "\n")
        click.echo(f"proof for {event_id} (period {p['period']}, leaf {p['leaf_index']} of "
                   f"{p['tree_size']}) written to {output}", err=True)
    else:
        click.echo(text)
