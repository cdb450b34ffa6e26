"""`auditflow keys`: the archive's signing keys as auditors see them (key ids) and key rotation,
the record by which the current key hands the archive over to a new one (trust.py)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from auditflow.archive import digest as dg
from auditflow.archive import trust, wiring
from auditflow.archive.wiring import WORM_HELP
from auditflow.config import retention


@click.group("keys")
def command() -> None:
    """Signing keys of the archive: key ids to pin, and rotation to a new key."""


def _public(path: Path) -> Ed25519PublicKey:
    """The public key of FILE: a PEM private key (its public half) or a trust file of one key."""
    data = path.read_bytes()
    if b"PRIVATE KEY-----" in data:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise click.ClickException(f"{path}: not a readable PEM private key ({exc})") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise click.ClickException(f"{path}: not an Ed25519 key")
        return key.public_key()
    try:
        keys = trust.read_trust_file(path)
    except trust.TrustError as exc:
        raise click.ClickException(str(exc)) from exc
    if len(keys) != 1:
        raise click.ClickException(f"{path} holds {len(keys)} public keys; give the one new key")
    return keys[0]


@command.command("id")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
def key_id(files: tuple[Path, ...]) -> None:
    """Print the key id (first 16 hex of SHA-256 of the raw public key) of every key in FILES:
    trust files of PEM public keys, or a PEM private key. Compare it with what verify names.

    \b
    Example:
      auditflow keys id auditor-trust.pem
    """
    for f in files:
        keys = [_public(f)] if b"PRIVATE KEY-----" in f.read_bytes() else _trust_file(f)
        for k in keys:
            click.echo(f"{dg.key_id(k)}  {f}")


def _trust_file(path: Path) -> list[Ed25519PublicKey]:
    try:
        return trust.read_trust_file(path)
    except trust.TrustError as exc:
        raise click.ClickException(str(exc)) from exc


@command.command("rotate")
@click.option("--new-key", "new_key", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The new signing key: its public key PEM (enough), or its private key PEM.")
@click.option("--worm", help=WORM_HELP)
@click.pass_obj
def rotate(obj, new_key: Path, worm: str | None) -> None:
    """Hand the archive over from the configured signing key to NEW-KEY.

    \b
    Signs, with the current key (the one that signed the last digest), a rotation record:
    the new key's id and public key, valid from the next period to seal. It is stored in the
    archive (keys/rotations/<new key id>/<period>.json); the sealer, once configured with the
    new key, embeds it in the first digest it signs, so a verifier pinned to the old key
    follows the change and refuses any key that appears without one.

    \b
    Steps: stop `seal --loop`; run this with the current key configured; configure the new
    key ($AUDITFLOW_SIGNING_KEY or archive.signing_key_file); seal again.

    \b
    Example:
      openssl genpkey -algorithm ed25519 -out new-signing.pem
      openssl pkey -in new-signing.pem -pubout -out new-signing.pub
      auditflow keys rotate --new-key new-signing.pub
    """
    cfg = obj.cfg
    arch = cfg.section("archive")
    try:
        current = dg.configured_private(arch)
    except (OSError, ValueError, TypeError) as exc:  # unreadable, malformed, encrypted
        raise click.ClickException(str(exc)) from exc
    if current is None:
        raise click.ClickException(f"no signing key configured ({dg.key_file(arch)} does not exist and "
                                   f"${arch.get('signing_key_env')} is empty): the current key signs "
                                   "the rotation")
    new = _public(new_key)
    store = wiring.worm_store(cfg, worm, "sealer")
    digests = sorted(o.key for o in store.list("digests/") if o.key.endswith(".json"))
    if not digests:
        raise click.ClickException(f"{store.url} has no digest yet: nothing to hand over (the first digest "
                                   "may be signed by any key the auditors pin)")
    last = json.loads(store.get(digests[-1]))
    old_id, new_id = dg.key_id(current.public_key()), dg.key_id(new)
    if last.get("key_id") != old_id:
        raise click.ClickException(f"{digests[-1]} is signed by key {last.get('key_id')}, but the configured "
                                   f"signing key is {old_id}: configure the key that signs the archive now")
    if new_id == old_id:
        raise click.ClickException(f"the new key is the current key {old_id}")
    valid_from = last["period"]["end"]
    rec = trust.rotation_record(current, new, valid_from)
    k = trust.rotation_key(new_id, valid_from)
    if store.exists(k):
        click.echo(f"rotation {old_id} -> {new_id} from {valid_from} is already at {store.url}{k}")
        return
    retain = dt.datetime.now(dt.UTC) + retention(cfg)
    store.put(k, (json.dumps(rec, indent=1, sort_keys=True) + "\n").encode(), retain_until=retain)
    click.echo(f"rotation {old_id} -> {new_id} valid from {valid_from} stored at {store.url}{k}")
    click.echo(f"next: configure key {new_id} for sealing; the next period sealed must start at "
               f"{valid_from}. Auditors pinned to {old_id} follow the rotation.")
