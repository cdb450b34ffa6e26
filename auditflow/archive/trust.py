"""Pinned trust: which Ed25519 keys may sign an archive's digests (schemas/CHAIN.md section 8).

Whoever runs the pipeline can write the archive, so nothing in it (`keys/`) and nothing a proof
embeds is trusted by itself. Trust starts from keys pinned outside the archive: trust files
(`--public-key FILE`, `archive.trusted_keys`) and, in the local profile only, the public half
of the configured signing key. A key change is a rotation record signed by the previous key,
carried in the first digest the new key signs; `KeyChain` applies that rule, one digest (or one
proof's `rotations`) at a time, for `verify`, `verify-proof`, the sealer and the witness.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from auditflow.archive import digest as dg

ROTATION_FORMAT = "auditflow-key-rotation/1"
# where `auditflow keys rotate` leaves a hand-over for the sealer: <new key id>/<period id>.json
ROTATIONS = "keys/rotations/"
ROTATION_FIELDS = ("format", "previous_key_id", "key_id", "public_key", "valid_from", "signature")
NO_PINNED_KEY = ("no pinned signing key: pass --public-key FILE (a trust file of PEM public keys), "
                 "list trust files in archive.trusted_keys, or, in the local profile, create the "
                 "signing key (archive.signing_key_file or $AUDITFLOW_SIGNING_KEY); keys/ in the "
                 "archive is never trusted by itself")
_PEM = re.compile(rb"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----", re.S)

Pinned = Mapping[str, Ed25519PublicKey]


class TrustError(ValueError):
    """Nothing pinned, or a trust file that holds no usable key: a user error, said in one line."""


class UntrustedKey(ValueError):
    """A digest or rotation the pinned keys do not reach; the message names the key id."""


# ---------------------------------------------------------------- pinned keys
def read_trust_file(path: str | Path) -> list[Ed25519PublicKey]:
    """Every key of a trust file: concatenated PEM PUBLIC KEY (SPKI, Ed25519) blocks; a file
    with no PEM block may hold one key as base64 or hex of its 32 raw bytes."""
    p = Path(os.path.expanduser(str(path)))
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise TrustError(f"trust file {p}: {exc.strerror or exc}") from exc
    blocks = list(_PEM.finditer(data))
    if any(b.group(1) != b"PUBLIC KEY" for b in blocks):
        kind = next(b.group(1).decode() for b in blocks if b.group(1) != b"PUBLIC KEY")
        raise TrustError(f"trust file {p} holds a {kind} block; pin only public keys "
                         "(`openssl pkey -in KEY -pubout`)")
    try:
        if not blocks:
            return [dg.load_public(data)]
        return [dg.load_public(b.group(0)) for b in blocks]
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise TrustError(f"trust file {p}: not an Ed25519 public key ({exc})") from exc


def pinned_keys(files: Iterable[str | Path] = (), cfg: Any = None) -> dict[str, Ed25519PublicKey]:
    """Key id -> key of every pinned key: the trust files given, `archive.trusted_keys` and, in
    the local profile, the configured signing key's public half (never generated here)."""
    paths = list(files)
    local = None
    if cfg is not None:
        arch = cfg.section("archive")
        listed = arch.get("trusted_keys") or []
        paths += [listed] if isinstance(listed, str) else list(listed)
        if cfg.profile == "local":
            try:
                local = dg.configured_public(arch)
            except (OSError, ValueError, TypeError) as exc:  # unreadable, malformed, encrypted
                raise TrustError(f"the local signing key cannot be read: {exc}") from exc
    keys = {dg.key_id(k): k for p in paths for k in read_trust_file(p)}
    if local is not None:
        keys.setdefault(dg.key_id(local), local)
    if not keys:
        raise TrustError(NO_PINNED_KEY)
    return keys


def as_pinned(keys: Any) -> dict[str, Ed25519PublicKey]:
    """One key, several, a key id mapping or a KeyChain's pins, as key id -> key."""
    if isinstance(keys, KeyChain):
        return dict(keys.pinned)
    if isinstance(keys, Ed25519PublicKey):
        return {dg.key_id(keys): keys}
    if isinstance(keys, Mapping):
        return dict(keys)
    return {dg.key_id(k): k for k in keys or ()}


# ---------------------------------------------------------------- rotation records
def rotation_record(previous: Ed25519PrivateKey, new: Ed25519PublicKey, valid_from: str) -> dict:
    """The record by which the previous key hands the archive over to `new` from `valid_from`
    (the period.start of the first digest `new` signs)."""
    rec = {"format": ROTATION_FORMAT, "previous_key_id": dg.key_id(previous.public_key()),
           "key_id": dg.key_id(new), "public_key": dg.public_pem(new).decode(), "valid_from": valid_from}
    rec["signature"] = base64.b64encode(previous.sign(rotation_bytes(rec))).decode()
    return rec


def rotation_bytes(rec: Mapping[str, Any]) -> bytes:
    return rfc8785.dumps({k: v for k, v in rec.items() if k != "signature"})


def rotation_problem(rec: Any, previous: Ed25519PublicKey) -> str | None:
    """What is wrong with a rotation record checked against the previous key, or None."""
    if not isinstance(rec, Mapping) or rec.get("format") != ROTATION_FORMAT:
        return f"is not an {ROTATION_FORMAT} object"
    if any(not isinstance(rec.get(k), str) for k in ROTATION_FIELDS):
        return "lacks " + ", ".join(k for k in ROTATION_FIELDS if not isinstance(rec.get(k), str))
    try:
        new = dg.load_public(rec["public_key"])
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return "has a public_key that is not an Ed25519 PEM public key"
    if dg.key_id(new) != rec["key_id"]:
        return f"names key_id {rec['key_id']} but its public_key has key id {dg.key_id(new)}"
    if rec["previous_key_id"] != dg.key_id(previous):
        return f"is signed for previous key {rec['previous_key_id']}, not {dg.key_id(previous)}"
    try:
        previous.verify(base64.b64decode(rec["signature"], validate=True), rotation_bytes(rec))
    except (InvalidSignature, ValueError, TypeError):
        return f"has a signature that does not verify with the previous key {dg.key_id(previous)}"
    return None


def rotation_key(key_id: str, valid_from: str) -> str:
    """The store key of a prepared rotation: valid_from 2026-11-28T10:00:00Z is period 20261128T100000Z."""
    return f"{ROTATIONS}{key_id}/{valid_from.replace('-', '').replace(':', '')}.json"


def rotation_period(store_key: str) -> str:
    return store_key.rsplit("/", 1)[-1].removesuffix(".json")


def stored_rotation(worm: Any, previous_key_id: str, new: Ed25519PublicKey, valid_from: str) -> dict:
    """The record `keys rotate` stored for handing the archive from `previous_key_id` to `new`
    at `valid_from`, checked against the previous key published in keys/ (a self-check of the
    sealer; verifiers check it against what they pinned). Raises TrustError saying what to do."""
    kid = dg.key_id(new)
    k = rotation_key(kid, valid_from)
    if not worm.exists(k):
        raise TrustError(f"the signing key {kid} is not the key of the last digest ({previous_key_id}) "
                         f"and no rotation to it is valid from {valid_from} ({worm.url}{k}); configure "
                         f"key {previous_key_id} and run `auditflow keys rotate --new-key FILE`, or seal "
                         f"with key {previous_key_id}")
    try:
        rec = json.loads(worm.get(k))
    except ValueError as exc:
        raise TrustError(f"{worm.url}{k} is not JSON: {exc}") from exc
    rec = rec if isinstance(rec, dict) else {}
    fields = (rec.get("previous_key_id"), rec.get("key_id"), rec.get("valid_from"))
    if fields != (previous_key_id, kid, valid_from):
        raise TrustError(f"{worm.url}{k} is not a rotation from {previous_key_id} to {kid} valid from "
                         f"{valid_from}")
    pem = f"keys/{previous_key_id}.pem"
    problem = rotation_problem(rec, dg.load_public(worm.get(pem))) if worm.exists(pem) else None
    if problem:
        raise TrustError(f"{worm.url}{k} {problem}")
    return rec


# ---------------------------------------------------------------- the rule
class KeyChain:
    """The accepted signing key along one digest chain, oldest digest first.

    It starts as the pinned key of the first digest. A digest under another key must carry a
    `rotation` from the accepted key (valid from the digest's period.start); from then on the
    new key is accepted and the old one retired. Feed digests in order: `key_for` says which
    key checks a digest (or raises UntrustedKey), `accept` moves on once its signature held.
    """

    def __init__(self, pinned: Any):
        self.pinned = as_pinned(pinned)
        self.current: str | None = None
        self._keys: dict[str, Ed25519PublicKey] = dict(self.pinned)
        self.retired: dict[str, str] = {}  # key id -> the key id that replaced it

    def resume(self, key: Ed25519PublicKey) -> None:
        """Continue from a key accepted before (a witness restarting from what it last saw)."""
        kid = dg.key_id(key)
        self.current, self._keys[kid] = kid, key

    def key_for(self, doc: Mapping[str, Any]) -> Ed25519PublicKey:
        kid = doc.get("key_id")
        period = doc.get("period") if isinstance(doc.get("period"), Mapping) else {}
        what = f"digests/{period.get('id')}.json"
        if not isinstance(kid, str):
            raise UntrustedKey(f"untrusted key: {what} names no key_id")
        if kid is not None and kid == self.current:
            return self._keys[kid]
        if kid in self.retired:
            raise UntrustedKey(f"untrusted key: {what} is signed with key {kid}, which the rotation to "
                               f"{self.retired[kid]} retired")
        rot = doc.get("rotation")
        if self.current is None and kid in self.pinned:
            return self.pinned[kid]
        if rot is None:
            if self.current is None:
                raise UntrustedKey(f"untrusted key: {what} is signed with key {kid}, which is not pinned "
                                   f"(pinned: {', '.join(sorted(self.pinned)) or 'none'})")
            raise UntrustedKey(f"untrusted key: {what} is signed with key {kid}, but the accepted key is "
                               f"{self.current} and the digest carries no rotation record from it")
        if not isinstance(rot, Mapping) or rot.get("key_id") != kid:
            raise UntrustedKey(f"untrusted key: {what} is signed with key {kid}, but its rotation record "
                               f"introduces key {rot.get('key_id') if isinstance(rot, Mapping) else None}")
        if rot.get("valid_from") != period.get("start"):
            raise UntrustedKey(f"untrusted key: {what} introduces key {kid} with a rotation valid from "
                               f"{rot.get('valid_from')}, not the period start {period.get('start')}")
        return self._rotate(rot, what)

    def accept(self, doc: Mapping[str, Any], key: Ed25519PublicKey) -> None:
        """`key` (what key_for returned) signed `doc`, a digest or a rotation record."""
        kid = dg.key_id(key)
        rot = doc.get("rotation") if doc.get("format") != ROTATION_FORMAT else doc
        old = self.current
        if old is None and isinstance(rot, Mapping) and rot.get("key_id") == kid:
            old = rot.get("previous_key_id")  # the first digest seen is already a hand-over
        if old is not None and old != kid:
            self.retired[old] = kid
        self.current, self._keys[kid] = kid, key

    def check(self, doc: Mapping[str, Any]) -> str | None:
        """None when the digest is signed by the key the rule accepts (then it moves on), else
        the problem in words, naming the key id."""
        try:
            key = self.key_for(doc)
        except UntrustedKey as exc:
            return str(exc)
        if not dg.check_signature(dict(doc), key):
            period = doc.get("period") if isinstance(doc.get("period"), Mapping) else {}
            return (f"bad signature: digests/{period.get('id')}.json does not verify with key "
                    f"{dg.key_id(key)}: its content was changed or another key signed it")
        self.accept(doc, key)
        return None

    def follow(self, rot: Any, before: str | None = None) -> None:
        """Apply one rotation record of a proof's `rotations` (oldest first): records before the
        first pinned key are skipped, the rest must link up from it. `before` is the proof's
        digest period.start; a rotation valid only after it does not belong to the proof."""
        if not isinstance(rot, Mapping):
            raise UntrustedKey("untrusted key: a proof's rotation record is not a JSON object")
        prev, kid = rot.get("previous_key_id"), rot.get("key_id")
        if self.current is None and prev not in self.pinned:
            return
        if self.current is not None and prev != self.current:
            if kid == self.current:  # the same hand-over listed twice
                return
            raise UntrustedKey(f"untrusted key: the rotation to {kid} is signed by {prev}, but the "
                               f"accepted key is {self.current}")
        if before is not None and isinstance(rot.get("valid_from"), str) and rot["valid_from"] > before:
            raise UntrustedKey(f"untrusted key: the rotation to {kid} is valid from {rot['valid_from']}, "
                               f"after the proof's period start {before}")
        self.accept(rot, self._rotate(rot, f"the rotation to {kid}"))

    def _rotate(self, rot: Mapping[str, Any], what: str) -> Ed25519PublicKey:
        prev = rot.get("previous_key_id")
        if self.current is not None and prev != self.current:
            raise UntrustedKey(f"untrusted key: {what} introduces key {rot.get('key_id')} by a rotation "
                               f"from {prev}, but the accepted key is {self.current}")
        if self.current is None and prev not in self.pinned:
            raise UntrustedKey(f"untrusted key: {what} introduces key {rot.get('key_id')} by a rotation "
                               f"from {prev}, which is not pinned")
        problem = rotation_problem(rot, self._keys[prev])
        if problem:
            raise UntrustedKey(f"untrusted key: {what} introduces key {rot.get('key_id')} with a rotation "
                               f"record that {problem}")
        return dg.load_public(rot["public_key"])


def proof_key(p: Mapping[str, Any], pinned: Any) -> Ed25519PublicKey:
    """The key that must have signed a proof's digest: from the pinned keys through the proof's
    `rotations` (oldest first) and the digest's own `rotation`; raises UntrustedKey."""
    doc = p.get("digest") if isinstance(p.get("digest"), Mapping) else {}
    period = doc.get("period") if isinstance(doc.get("period"), Mapping) else {}
    keys = KeyChain(pinned)
    rotations = p.get("rotations") or []
    if not isinstance(rotations, list):
        raise UntrustedKey("untrusted key: the proof's rotations is not a list")
    for rot in rotations:
        keys.follow(rot, period.get("start"))
    return keys.key_for(doc)
