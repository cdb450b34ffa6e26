"""Inclusion proofs for one archived event (format in schemas/CHAIN.md section 9).

A proof carries the event itself, its RFC 6962 audit path to the period's Merkle root, the
signed digest and the key rotation records up to it, so it can be checked offline against a
pinned key: the event's content hashes to its event_hash, the path leads from that hash to the
root, and the root is the one the digest signs. The embedded `public_key` is information only.
"""

from __future__ import annotations

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


def verify_proof(p: dict, public_key: Any) -> list[str]:
    """Problems with a proof, in words; an empty list means it verifies. `public_key`: the
    pinned key(s) (one, several or key id -> key); the proof's own `public_key` is never used."""
    problems = []
    doc = p.get("digest") or {}
    try:
        key = trust.proof_key(p, public_key)
    except trust.UntrustedKey as exc:
        problems.append(str(exc))
    else:
        if not dg.check_signature(doc, key):
            problems.append(f"bad signature: the digest of period {doc.get('period', {}).get('id')} does not "
                            f"verify with key {dg.key_id(key)}")
    m = doc.get("events", {})
    if p["root"] != m.get("merkle_root") or p["tree_size"] != m.get("tree_size"):
        problems.append("digest mismatch: the proof's root or tree size is not the one the digest signs")
    if not merkle.verify_inclusion(p["event_hash"], p["leaf_index"], p["tree_size"], p["proof"], p["root"]):
        problems.append(f"the audit path does not lead from event_hash {p['event_hash'][:16]}... at leaf "
                        f"{p['leaf_index']} to the root {p['root'][:16]}...")
    ev = p.get("event")
    if ev is not None:
        c = ev.get("chain") or {}
        if (c.get("event_hash"), c.get("sequence"), c.get("chain_id")) != (
                p["event_hash"], p["sequence"], p["chain_id"]) or ev.get("event_id") != p["event_id"]:
            problems.append("the event's chain fields differ from the proof's")
        elif chain.compute_hash(c["prev_hash"], ev) != p["event_hash"]:
            problems.append(f"modified: the event's content does not hash to {p['event_hash'][:16]}...")
        # the leaf is the event_hash alone, so a relabelled chain_id passes every check above
        why = chain.misplaced(ev)
        if why is not None:
            problems.append(f"misplaced: the event claims chain {c.get('chain_id')!r}, but {why}")
    return problems
