"""`auditflow witness`: co-sign each new digest of the archive after checking it extends the
last one this witness co-signed (auditflow/archive/witness.py)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click
from botocore.exceptions import BotoCoreError, ClientError

from auditflow.archive import digest as dg
from auditflow.archive import wiring
from auditflow.archive import witness as wt
from auditflow.archive.wiring import WORM_HELP


def _say(msg: str) -> None:
    click.echo(msg, err=True)


def pinned_archive_keys(cfg, files: tuple[Path, ...]) -> list:
    """--public-key files, witness.trusted_keys and, in the local profile only, the public half
    of the configured archive signing key when it exists (never keys/ in the archive)."""
    keys = wt.load_trust_files([*files, *cfg.get("witness.trusted_keys")])
    arch = cfg.section("archive")
    if cfg.profile == "local" and (os.environ.get(arch.get("signing_key_env") or "")
                                   or Path(os.path.expanduser(str(arch["signing_key_file"]))).exists()):
        keys.append(dg.load_private({**arch, "generate_key": False}).public_key())
    return keys


@click.command("witness")
@click.option("--once", "mode", flag_value="once", default=True, help="Co-sign what is new, then exit.")
@click.option("--loop", "mode", flag_value="loop", help="Keep co-signing every --interval seconds.")
@click.option("--interval", type=int, help="Seconds between runs with --loop (default witness.interval_s).")
@click.option("--worm", help=WORM_HELP)
@click.option("--storage", help="The witness's own storage: s3://bucket/prefix/ or a local directory "
              "(default witness.bucket / witness.prefix).")
@click.option("--public-key", "public_keys", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Pin an archive signing key (trust file of PEM public keys); repeatable.")
@click.option("--start", metavar="DIGEST_KEY=SHA256",
              help="On the first run only: trust this digest as the starting point instead of genesis.")
@click.option("--print-key", is_flag=True, help="Print the witness's public key (PEM) and exit.")
@click.pass_obj
def command(obj, mode: str, interval: int | None, worm: str | None, storage: str | None,
            public_keys: tuple[Path, ...], start: str | None, print_key: bool) -> None:
    """Co-sign each new digest of the archive, after checking it extends the last one seen.

    \b
    The witness has its own key (witness.key_env / witness.key_file) and its own storage
    (witness.bucket): it remembers the last digest it co-signed, so an operator who rewrites
    history and re-signs it with the real archive key is refused (a split view): the witness
    says so on stderr, exits 1 (--once) and keeps refusing on every run. Each cosignature is
    also published in the archive at witness/<witness key id>/<period>.json, where
    `auditflow verify --witness WITNESS.pem` requires it.

    \b
    Examples:
      auditflow witness --print-key > witness.pem      # give this to the auditors
      auditflow witness --once --public-key archive-signing.pub
      auditflow witness --loop --interval 60
      auditflow witness --start digests/20261128T100000Z.json=<sha256>   # an archive with history
    """
    cfg = obj.cfg
    try:
        key = wiring.witness_key(cfg)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(f"witness key: {exc}") from exc
    if print_key:
        click.echo(dg.public_pem(key.public_key()).decode(), nl=False)
        return
    try:
        w = wt.Witness(wiring.worm_store(cfg, worm, "witness"), wiring.witness_store(cfg, storage), key,
                       pinned_archive_keys(cfg, public_keys), wt.parse_start(start) if start else None, _say)
    except wt.WitnessError as exc:
        raise click.ClickException(str(exc)) from exc
    except ClientError as exc:  # e.g. no right to create or read its bucket
        raise click.ClickException(f"S3: {exc}") from exc
    every = interval or int(cfg.get("witness.interval_s"))
    while True:
        try:
            res = w.run_once()
        except wt.WitnessError as exc:
            raise click.ClickException(str(exc)) from exc
        except (BotoCoreError, ClientError) as exc:
            if mode != "loop" and isinstance(exc, ClientError):  # e.g. AccessDenied: one line
                raise click.ClickException(f"S3: {exc}") from exc
            if mode != "loop":
                raise  # unreachable: the CLI says so in one line
            _say(f"error: {exc}; retrying in {every} s")  # S3 away for a while
            time.sleep(every)
            continue
        if res.refused and mode != "loop":
            sys.exit(1)
        if not res.cosigned and not res.refused:
            _say(f"witness {w.key_id}: nothing new in {w.archive.url}")
        if mode != "loop":
            return
        time.sleep(every)
