"""Inclusion proofs for one archived event (format in schemas/CHAIN.md section 9).

A proof carries the event itself, its RFC 6962 audit path to the period's Merkle root, the
signed digest and the key rotation records up to it, so it can be checked offline against a
pinned key: the event's content hashes to its event_hash, the path leads from that hash to the
root, and the root is the one the digest signs. The embedded `public_key` is information only.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import pyarrow.compute as pc

from auditflow.archive import digest as dg
from auditflow.archive import layout, trust
from auditflow.archive.store import Store
from udfs import chain, merkle

FORMAT = "auditflow-proof/1"


class ProofError(LookupError):
    pass


def _jsonable(event: dict) -> Any:
    """The event as JSON with timestamps as epoch millis (the form CHAIN.md hashes)."""
    return json.loads(json.dumps(event, default=lambda v: chain.canonical_form({"v": v}).get("v")))


def prove(worm: Store, event_id: str, tenant: str | None = None) -> dict:
    digests = sorted(o.key for o in worm.list("digests/") if o.key.endswith(".json"))
    for dkey in reversed(digests):  # recent evidence first
        doc = json.loads(worm.get(dkey))
        files = [f for f in doc["files"]
                 if f["kind"] == "events" and (tenant is None or f["tenant"] == tenant)]
        for f in files:
            table = layout.read_parquet(worm.get(f["key"]))
            hit = table.filter(pc.equal(table.column("event_id"), event_id))
            if hit.num_rows:
                return _proof(worm, doc, layout.to_records(hit)[0], _rotations(worm, digests, dkey))
    raise ProofError(f"event {event_id!r} is in no sealed period"
                     + (f" of tenant {tenant!r}" if tenant else "") + "; seal first or check the id")


def _rotations(worm: Store, digests: list[str], upto: str) -> list[dict]:
    """The rotation records of the digest chain, oldest first, up to and including `upto`:
    only the digests of periods `keys rotate` prepared a hand-over for can carry one."""
    candidates = {f"digests/{trust.rotation_period(o.key)}.json" for o in worm.list(trust.ROTATIONS)}
    docs = (json.loads(worm.get(k)) for k in sorted(candidates & set(digests)) if k <= upto)
    return [d["rotation"] for d in docs if d.get("rotation")]


def _proof(worm: Store, doc: dict, event: dict, rotations: list[dict] | None = None) -> dict:
    leaves = []
    for f in doc["files"]:
        if f["kind"] == "events":
            table = layout.read_parquet(worm.get(f["key"]), columns=["event_id", "chain"])
            leaves.extend(layout.event_hashes([table]))
    leaves.sort()
    c = event["chain"]
    index = next(i for i, (cid, seq, h, _e) in enumerate(leaves)
                 if cid == c["chain_id"].encode() and seq == c["sequence"] and h == c["event_hash"])
    hashes = [h for _c, _s, h, _e in leaves]
    pub_key = f"keys/{doc['key_id']}.pem"  # information only: verify_proof trusts pinned keys
    pub = worm.get(pub_key).decode() if worm.exists(pub_key) else None
    return {
        "format": FORMAT,
        "event_id": event["event_id"], "chain_id": c["chain_id"], "sequence": c["sequence"],
        "event_hash": c["event_hash"], "leaf_index": index, "tree_size": len(hashes),
        "proof": merkle.inclusion_proof(index, hashes),
        "root": doc["events"]["merkle_root"], "period": doc["period"]["id"],
        "event": _jsonable(event), "digest": doc, "public_key": pub, "rotations": rotations or [],
    }


class MalformedProof(ProofError, ValueError):
    """The file is not a proof of format auditflow-proof/1 (a one-line reason)."""


_HEX = frozenset("0123456789abcdef")


def is_hash(value: Any) -> bool:
    """64 lower-case hex characters, the only way CHAIN.md writes a hash."""
    return isinstance(value, str) and len(value) == 64 and _HEX.issuperset(value)


def _is_int(value: Any, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def check_shape(p: Any) -> None:
    """Raise MalformedProof naming the first member that is absent or of the wrong type, so
    that the checks after it never meet a value they cannot compare (no traceback)."""
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise MalformedProof(f"malformed proof: {what}")

    need(isinstance(p, dict), "not a JSON object")
    need(p.get("format") == FORMAT, f"format is {p.get('format')!r}, expected {FORMAT!r}")
    for name in ("event_id", "chain_id", "period"):
        need(isinstance(p.get(name), str), f"{name} must be a string")
    need(_is_int(p.get("sequence"), 1), "sequence must be an integer >= 1")
    need(_is_int(p.get("leaf_index"), 0), "leaf_index must be an integer >= 0")
    need(_is_int(p.get("tree_size"), 1), "tree_size must be an integer >= 1")
    for name in ("event_hash", "root"):
        need(is_hash(p.get(name)), f"{name} must be 64 lower-case hex characters")
    need(isinstance(p.get("proof"), list) and all(is_hash(h) for h in p["proof"]),
         "proof must be a list of 64 lower-case hex characters each")
    ev = p.get("event")
    need(isinstance(ev, dict), "event is missing: a proof must carry the event it proves")
    c = ev.get("chain")
    need(isinstance(c, dict), "event.chain must be an object")
    need(is_hash(c.get("prev_hash")) and is_hash(c.get("event_hash")),
         "event.chain.prev_hash and event_hash must be 64 lower-case hex characters")
    d = p.get("digest")
    need(isinstance(d, dict), "digest must be an object")
    m = d.get("events")
    need(isinstance(m, dict) and _is_int(m.get("tree_size"), 0) and is_hash(m.get("merkle_root")),
         "digest.events must hold an integer tree_size and a 64 hex merkle_root")
    need(isinstance(d.get("period"), dict) and isinstance(d["period"].get("id"), str),
         "digest.period.id must be a string")
    need(isinstance(d.get("chains"), list) and all(
        isinstance(x, dict) and isinstance(x.get("chain_id"), str) and _is_int(x.get("count"), 0)
        and _is_int(x.get("first_sequence"), 0) and _is_int(x.get("last_sequence"), 0)
        for x in d["chains"]), "digest.chains must be a list of chains with counts and sequences")
    sig = d.get("signature")
    try:  # standard base64, padded (CHAIN.md section 8): 64 bytes of Ed25519
        ok = isinstance(sig, str) and len(base64.b64decode(sig, validate=True)) == 64
    except binascii.Error:
        ok = False
    need(ok, "digest.signature must be the padded standard base64 of 64 bytes")


def _position(doc: dict, chain_id: str, sequence: int) -> tuple[int, int] | None:
    """Where the digest puts the leaves of ``chain_id``: (first index, count), or None when the
    digest lists no such chain. Leaves are in chain order (chain_id as UTF-8 bytes, then
    sequence), and ``chains`` gives each chain's count, so a chain's leaves start after those of
    every chain that sorts before it."""
    key = chain_id.encode()
    offset, found = 0, None
    for c in doc["chains"]:
        if c["chain_id"].encode() < key:
            offset += c["count"]
        elif c["chain_id"] == chain_id:
            found = c
    return None if found is None else (offset, found["count"])


def verify_proof(p: dict, public_key: Any) -> list[str]:
    """Problems with a proof, in words; an empty list means it verifies. `public_key`: the
    pinned key(s) (one, several or key id -> key); the proof's own `public_key` is never used.
    A malformed proof raises MalformedProof. The leaf is recomputed from the carried event, and
    the tree it must lead to is the one the signed digest names (its tree_size and
    merkle_root), never the proof's own copies of them."""
    check_shape(p)
    problems = []
    doc = p["digest"]
    try:
        key = trust.proof_key(p, public_key)
    except trust.UntrustedKey as exc:
        problems.append(str(exc))
    else:
        if not dg.check_signature(doc, key):
            problems.append(f"bad signature: the digest of period {doc.get('period', {}).get('id')} does "
                            f"not verify with key {dg.key_id(key)}")
    m = doc["events"]
    size, root = m["tree_size"], m["merkle_root"]
    if (p["root"], p["tree_size"], p["period"]) != (root, size, doc["period"]["id"]):
        problems.append("digest mismatch: the proof's root, tree size or period is not the one the "
                        "digest signs")
    ev = p["event"]
    c = ev["chain"]
    if (ev.get("event_id"), c.get("chain_id"), c.get("sequence"), c.get("event_hash")) != (
            p["event_id"], p["chain_id"], p["sequence"], p["event_hash"]):
        problems.append("the event's event_id or chain fields differ from the proof's")
    try:
        leaf = chain.compute_hash(c["prev_hash"], ev)
    except (ValueError, TypeError) as exc:
        raise MalformedProof(f"malformed proof: the event cannot be canonicalized: {exc}") from None
    if leaf != c["event_hash"]:
        problems.append(f"modified: the event's content hashes to {leaf[:16]}..., not to its "
                        f"event_hash {c['event_hash'][:16]}...")
    if not merkle.verify_inclusion(leaf, p["leaf_index"], size, p["proof"], root):
        problems.append(f"the audit path does not lead from the event's hash {leaf[:16]}... at leaf "
                        f"{p['leaf_index']} to the root {root[:16]}... the digest signs")
    # the leaf is the event_hash alone, so chain_id and sequence are bound here: by the binding
    # rule (chain_id from the event's hashed fields) and by the leaf's position in the digest
    why = chain.misplaced(ev)
    if why is not None:
        problems.append(f"misplaced: the event claims chain {c.get('chain_id')!r}, but {why}")
    span = _position(doc, p["chain_id"], p["sequence"])
    if span is None:
        problems.append(f"the digest lists no chain {p['chain_id']!r}")
    else:
        entry = next(x for x in doc["chains"] if x["chain_id"] == p["chain_id"])
        # in a chain without a break sequence n is leaf n - first_sequence of the chain's span
        unbroken = entry.get("break") is None and \
            entry["last_sequence"] - entry["first_sequence"] + 1 == entry["count"]
        want = span[0] + p["sequence"] - entry["first_sequence"]
        if not (span[0] <= p["leaf_index"] < span[0] + span[1]) or (unbroken and p["leaf_index"] != want):
            problems.append(f"position: leaf {p['leaf_index']} is not where the digest puts chain "
                            f"{p['chain_id']!r} sequence {p['sequence']}")
    return problems
