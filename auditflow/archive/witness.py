"""The witness: an independent co-signer of the archive's digest chain (the transparency-log
witness model of C2SP tlog-witness / tlog-cosignature, schemas/CHAIN.md section 10).

An operator who holds the real signing key can re-sign a rewritten history, and a verifier that
only checks signatures accepts it. A witness runs elsewhere, with a key and a storage of its own.
For each new digest it checks that the digest extends the last one it co-signed (the
`previous.sha256` link and the period that meets the last one's end), that it is signed by an
archive key pinned in the witness's own configuration (following signed `rotation` records), and
only then co-signs exactly the digest's stored bytes. What it saw is kept in its own storage, so
a rewritten or forked history (a split view) is refused on every later run, not just once.

Storage of the witness (its own bucket/prefix):
    state.json                       the last digest co-signed: key, SHA-256, period end, key id
    cosignatures/<period>.json       every cosignature it made
    conflicts/<period>-<sha16>.json  each digest it refused, with the reason
and a copy of each cosignature goes to the archive at witness/<witness_key_id>/<period>.json,
where verifiers find it (they trust only the witness keys they pin).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from auditflow.archive import digest as dg
from auditflow.archive import trust
from auditflow.archive.proof import is_hash
from auditflow.archive.store import Store

FORMAT = "auditflow-cosignature/1"
STATE_KEY = "state.json"


class WitnessError(RuntimeError):
    """The witness cannot go on (bad configuration or storage); the message says what to do."""


def iso_now(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_trust_files(paths: Iterable[str | Path]) -> list[Ed25519PublicKey]:
    """The keys of trust files (trust.read_trust_file), a bad file as a WitnessError."""
    try:
        return [k for p in paths for k in trust.read_trust_file(p)]
    except trust.TrustError as exc:
        raise WitnessError(str(exc)) from exc


def cosignature_key(witness_key_id: str, period: str) -> str:
    """Where a cosignature is published in the archive."""
    return f"witness/{witness_key_id}/{period}.json"


def cosign(digest_key: str, raw: bytes, period: str, key: Ed25519PrivateKey,
           now: dt.datetime | None = None) -> dict:
    doc = {"format": FORMAT, "digest_key": digest_key, "period": period,
           "digest_sha256": dg.sha256(raw), "witness_key_id": dg.key_id(key.public_key()),
           "cosigned_at": iso_now(now)}
    doc["signature"] = base64.b64encode(key.sign(dg.signed_bytes(doc))).decode()
    return doc


def check_cosignature(data: bytes, digest_key: str, raw: bytes, pub: Ed25519PublicKey) -> str | None:
    """Why `data` is not a valid cosignature by `pub` of exactly the digest bytes `raw`, or None."""
    wid = dg.key_id(pub)
    try:
        doc = json.loads(data)
    except ValueError:
        return f"the cosignature by witness {wid} is not valid JSON"
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return f"the cosignature by witness {wid} is not in format {FORMAT}"
    if doc.get("witness_key_id") != wid or not dg.check_signature(doc, pub):
        return f"the cosignature by witness {wid} does not verify with that key"
    if doc.get("digest_key") != digest_key:
        return f"the cosignature by witness {wid} is for {doc.get('digest_key')}, not {digest_key}"
    sha = dg.sha256(raw)
    if doc.get("digest_sha256") != sha:
        return (f"witness {wid} co-signed a digest with SHA-256 {str(doc.get('digest_sha256'))[:16]}..., "
                f"the stored digest hashes to {sha[:16]}... (rewritten after the witness saw it)")
    return None


@dataclass
class Seen:
    """The last digest the witness co-signed."""

    key: str
    sha256: str
    period_end: str
    key_id: str  # the archive key accepted for the next digest
    public_key: str  # its PEM, so a restart follows rotations from it

    @classmethod
    def of(cls, raw: bytes) -> Seen:
        d = json.loads(raw)
        return cls(d["key"], d["sha256"], d["period_end"], d["key_id"], d["public_key"])

    def encode(self) -> bytes:
        return (json.dumps(self.__dict__, indent=1, sort_keys=True) + "\n").encode()


@dataclass
class Result:
    cosigned: list[str] = field(default_factory=list)  # periods co-signed by this run
    refused: str | None = None  # why the next digest was refused (a split view, a bad signature)


class Witness:
    def __init__(self, archive: Store, own: Store, key: Ed25519PrivateKey, trusted: list[Ed25519PublicKey],
                 start: tuple[str, str] | None = None, say: Callable[[str], None] = lambda _m: None):
        """`trusted`: the archive signing keys pinned in the witness's configuration; `start`:
        (digest key, SHA-256) of a digest to trust as the starting point instead of genesis."""
        if not trusted:
            raise WitnessError("no archive signing key pinned: set witness.trusted_keys (trust files "
                               "with PEM public keys) or pass --public-key FILE")
        self.archive, self.own, self.key, self.say = archive, own, key, say
        self.trusted = {dg.key_id(k): k for k in trusted}
        self.start = start
        self.key_id = dg.key_id(key.public_key())

    def seen(self) -> Seen | None:
        return Seen.of(self.own.get(STATE_KEY)) if self.own.exists(STATE_KEY) else None

    def run_once(self, now: dt.datetime | None = None) -> Result:
        res = Result()
        seen = self.seen()
        digests = sorted(o.key for o in self.archive.list("digests/") if o.key.endswith(".json"))
        if seen is not None:
            # the digest co-signed last must still be the one it co-signed: a rewrite of the
            # last period replaces it rather than adding one after it
            if not self.archive.exists(seen.key):
                return self._refuse(res, seen.key, None, f"{seen.key}, which this witness co-signed last, "
                                    "is gone from the archive")
            raw = self.archive.get(seen.key)
            if dg.sha256(raw) != seen.sha256:
                return self._refuse(res, seen.key, raw, f"{seen.key} now hashes to {dg.sha256(raw)[:16]}..., "
                                    f"but this witness co-signed it as {seen.sha256[:16]}... (history "
                                    "rewritten)")
            todo = [k for k in digests if k > seen.key]
        elif self.start is not None:
            skey, ssha = self.start
            if skey not in digests:
                raise WitnessError(f"the starting digest {skey} is not in the archive {self.archive.url}")
            todo = [k for k in digests if k >= skey]
        else:
            todo = digests
        for key in todo:
            raw = self.archive.get(key)
            why, accepted = self._check(key, raw, seen)
            if why:
                return self._refuse(res, key, raw, why)
            doc = json.loads(raw)
            pid = doc["period"]["id"]
            cos = json.dumps(cosign(key, raw, pid, self.key, now), indent=1, sort_keys=True).encode() + b"\n"
            self.own.put(f"cosignatures/{pid}.json", cos)
            retain = dg_retain(doc, now)
            self.archive.put(cosignature_key(self.key_id, pid), cos, retain_until=retain)
            seen = Seen(key, dg.sha256(raw), doc["period"]["end"], dg.key_id(accepted),
                        dg.public_pem(accepted).decode())
            self.own.put(STATE_KEY, seen.encode())  # after the cosignature: a crash only repeats it
            res.cosigned.append(pid)
            self.say(f"co-signed {key} (SHA-256 {seen.sha256[:16]}...) as witness {self.key_id}")
        return res

    def _check(self, key: str, raw: bytes, seen: Seen | None) -> tuple[str | None, Any]:
        """(why `raw` may not be co-signed, the archive key accepted after it)."""
        try:
            doc = json.loads(raw)
            pid, start, prev = doc["period"]["id"], doc["period"]["start"], doc["previous"]
        except (ValueError, KeyError, TypeError):
            return f"{key} is not a digest (JSON with period and previous)", None
        if key != f"digests/{pid}.json":
            return f"{key} holds period {pid}", None
        if seen is None and self.start is not None and key == self.start[0]:
            if dg.sha256(raw) != self.start[1]:
                return (f"{key} hashes to {dg.sha256(raw)[:16]}..., not the trusted starting digest "
                        f"{self.start[1][:16]}...", None)
        elif seen is None:
            if prev.get("sha256") != dg.GENESIS:
                return (f"{key} is the first digest this witness sees but continues from "
                        f"{prev.get('key')}, not from genesis (start the witness with --start)", None)
        else:
            if prev.get("sha256") != seen.sha256 or prev.get("key") != seen.key:
                return (f"{key} does not extend {seen.key} (SHA-256 {seen.sha256[:16]}...), which this "
                        f"witness co-signed: it names {prev.get('key')} with SHA-256 "
                        f"{str(prev.get('sha256'))[:16]}... (a forked or rewritten history)", None)
            if start != seen.period_end:
                return f"{key} starts at {start}, but {seen.key} ended at {seen.period_end} (a gap)", None
        keys = trust.KeyChain(self.trusted)  # the pinned keys, or the one accepted last time
        if seen:
            keys.resume(dg.load_public(seen.public_key))
        try:
            accepted = keys.key_for(doc)
        except trust.UntrustedKey as exc:
            return f"{key}: {exc} (witness.trusted_keys pins the archive keys this witness trusts)", None
        if not dg.check_signature(doc, accepted):
            return f"{key} does not verify with key {dg.key_id(accepted)}", None
        return None, accepted

    def _refuse(self, res: Result, key: str, raw: bytes | None, why: str) -> Result:
        res.refused = f"REFUSED to co-sign: {why}"
        self.say(res.refused)
        if raw is not None:  # keep the evidence of the split view in the witness's own storage
            pid = key.rsplit("/", 1)[-1].removesuffix(".json")
            self.own.put(f"conflicts/{pid}-{dg.sha256(raw)[:16]}.json", json.dumps(
                {"digest_key": key, "digest_sha256": dg.sha256(raw), "reason": why,
                 "digest": raw.decode(errors="replace")}, indent=1).encode())
        return res


def dg_retain(doc: dict, now: dt.datetime | None = None) -> dt.datetime | None:
    """A cosignature stays locked as long as the digest it co-signs."""
    try:
        until = dt.datetime.strptime(doc["retain_until"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except (KeyError, TypeError, ValueError):
        return None
    return until if until > (now or dt.datetime.now(dt.UTC)) else None


def parse_start(value: str) -> tuple[str, str]:
    """`digests/<period>.json=<sha256>` -> (key, sha256)."""
    key, _, sha = value.partition("=")
    if not key.startswith("digests/") or not is_hash(sha):
        raise WitnessError(f"--start {value!r}: give DIGEST_KEY=SHA256, e.g. "
                           "digests/20261128T100000Z.json=<64 lower-case hex>")
    return key, sha
