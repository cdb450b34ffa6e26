"""`auditflow verify-proof FILE`: check an inclusion proof offline."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from auditflow.archive import digest as dg
from auditflow.archive import proof


@click.command("verify-proof")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--public-key", type=click.Path(exists=True, path_type=Path),
              help="Pin the signing public key (PEM); else the proof's own key is used and its id shown.")
def command(file: Path, public_key: Path | None) -> None:
    """Check a proof from `auditflow prove` without the archive: the event hashes to its
    event_hash, the audit path leads to the root, and the digest signing that root verifies.

    \b
    Example:
      auditflow verify-proof proof.json --public-key auditflow-signing.pub
    """
    p = json.loads(file.read_text())
    key = dg.load_public(public_key.read_bytes()) if public_key else None
    problems = proof.verify_proof(p, key)
    if problems:
        for m in problems:
            click.echo(f"FAILED: {m}")
        sys.exit(1)
    used = key or dg.load_public(p["public_key"])
    click.echo(f"OK: event {p['event_id']} (chain {p['chain_id']!r} sequence {p['sequence']}) is leaf "
               f"{p['leaf_index']} of {p['tree_size']} in period {p['period']}, whose digest is signed by "
               f"key {dg.key_id(used)}" + ("" if key else " (compare this key id with the one you trust)"))
