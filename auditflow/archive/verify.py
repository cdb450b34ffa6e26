"""The verifier: recompute every chain from the WORM Parquet and check the signed digests.

Checks, in the order a break is reported (the first one found is the answer):
per digest, oldest first: its signature (Ed25519, by a pinned key or one a signed rotation
from it introduced: auditflow/archive/trust.py; keys/ in the archive is never trusted); its link
to the previous digest (SHA-256 of the stored bytes, and periods that meet with no gap); each
listed file present with the listed SHA-256; the events of the period, in stored order,
against the chain heads of the previous digest and the last (sequence, hash) per chain this
digest signs, passing a quarantined event or gap only where the digest's signed `quarantined`
entry explains it (its `resume`); each quarantine object with the listed SHA-256; the Merkle
root over the period (under --tenant too: every tenant's `chain` column). Finally: no data or
quarantine file that no digest lists. With nothing else wrong, quarantined records are the
answer (kind `quarantined`): the archive has a known hole an auditor must see.
With witness keys, each digest must also carry a valid cosignature by each of them over its
stored bytes (auditflow/archive/witness.py), right after its signature.

`run(resume=...)` continues from a digest verified before (`Report.last`), checking only the
digests after it: what `auditflow verify --watch` does each round.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from botocore.exceptions import ClientError

from auditflow.archive import compact, layout, trust, witness
from auditflow.archive import digest as dg
from auditflow.archive.seal import from_iso, quarantined_of
from auditflow.archive.store import Store
from udfs import chain, merkle


@dataclass
class Problem:
    kind: str  # modified, missing, reordered, extra, duplicate, wrong_prev_hash, unchained,
    #            misplaced, overwritten, digest mismatch, bad signature, untrusted key, unwitnessed,
    #            quarantined
    message: str
    tenant: str | None = None
    sequence: int | None = None
    period: str | None = None

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Checkpoint:
    """A digest verified before, with its stored bytes: where an incremental run continues."""

    key: str
    raw: bytes

    @property
    def doc(self) -> dict:
        return json.loads(self.raw)

    def heads(self) -> dict[str, chain.ChainState]:
        return {c: chain.ChainState(c, h[0], h[1]) for c, h in self.doc.get("heads", {}).items()}


@dataclass
class Report:
    digests: int = 0
    periods_checked: int = 0
    files: int = 0
    events: int = 0
    alerts: int = 0
    chains: set[str] = field(default_factory=set)
    key_ids: set[str] = field(default_factory=set)
    signers: list[str] = field(default_factory=list)  # the accepted key ids in order (rotations)
    problem: Problem | None = None
    quarantined: list[dict] = field(default_factory=list)  # digest entries, with "period"
    held: int = 0  # checked objects under an S3 legal hold
    last: Checkpoint | None = None  # the last digest that passed every check
    verified: list[Checkpoint] = field(default_factory=list)  # those of this run, oldest first

    @property
    def ok(self) -> bool:
        return self.problem is None


class Verifier:
    def __init__(self, worm: Store, public_key: Any = None, say: Callable[[str], None] = lambda _m: None,
                 witnesses: list[Any] | tuple[Any, ...] = (), workers: int = 1):
        """`public_key`: the pinned key(s), one key, several or a key id mapping (trust.pinned_keys);
        `witnesses`: Ed25519 public keys whose cosignatures every digest needs; `workers`: processes
        that recompute event hashes beside this one (1: all in this process; the same answers)."""
        self.worm, self.say, self.workers = worm, say, workers
        self._pool: ProcessPoolExecutor | None = None
        self.pinned = trust.as_pinned(public_key)
        if not self.pinned:
            raise trust.TrustError(trust.NO_PINNED_KEY)
        self.witnesses = list(witnesses)
        self.keys = trust.KeyChain(self.pinned)
        self._keys_through: str | None = None  # the last digest the key chain has taken

    def run(self, tenant: str | None = None, start: dt.datetime | None = None,
            end: dt.datetime | None = None, resume: Checkpoint | None = None,
            extras: bool = True) -> Report:
        """`extras=False` skips the final check for files in no digest (a watcher runs while the
        sealer uploads a period's files before its digest)."""
        try:
            return self._run(tenant, start, end, resume, extras)
        finally:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None

    def _run(self, tenant: str | None, start: dt.datetime | None, end: dt.datetime | None,
             resume: Checkpoint | None, extras: bool) -> Report:
        rep = Report(last=resume)
        objs = self.worm.list()
        digests = sorted(o.key for o in objs if o.key.startswith("digests/") and o.key.endswith(".json"))
        data = {o.key for o in objs if o.key.split("/", 1)[0] in (*layout.KINDS, "quarantine")}
        listed: set[str] = set()
        prev_key, prev_bytes, prev_doc = None, None, None
        heads: dict[str, chain.ChainState] = {}
        if resume is None:
            self.keys, self._keys_through = trust.KeyChain(self.pinned), None
        else:  # only the digests after one verified before
            if self._keys_through != resume.key:  # a new process: follow the keys up to there
                problem = self._follow_keys([k for k in digests if k <= resume.key])
                if problem:
                    rep.problem = problem
                    return rep
            digests = [k for k in digests if k > resume.key]
            prev_key, prev_bytes, prev_doc, heads = resume.key, resume.raw, resume.doc, resume.heads()
        for key in digests:
            raw = self.worm.get(key)
            rep.digests += 1
            pid = key.rsplit("/", 1)[-1].removesuffix(".json")
            try:
                doc = json.loads(raw)
            except ValueError:
                doc = None
            if not isinstance(doc, dict):
                return self._fail(rep, "digest mismatch", f"digest mismatch: {key} is not a JSON object", pid)
            try:
                pub = self.keys.key_for(doc)
            except trust.UntrustedKey as exc:
                return self._fail(rep, "untrusted key", str(exc), pid)
            if not dg.check_signature(doc, pub):
                return self._fail(rep, "bad signature", f"bad signature: {key} does not verify with key "
                                  f"{dg.key_id(pub)}: its content was changed or another key signed it", pid)
            self.keys.accept(doc, pub)
            rep.key_ids.add(doc.get("key_id"))
            self._keys_through = key
            if not rep.signers or rep.signers[-1] != doc.get("key_id"):
                rep.signers.append(doc["key_id"])
            unwitnessed = self._witnessed(key, raw, pid)
            if unwitnessed:
                rep.problem = unwitnessed
                return rep
            if prev_doc is not None and doc["period"]["start"] != prev_doc["period"]["end"]:
                return self._fail(rep, "missing", f"missing: no digest for {prev_doc['period']['end']} .. "
                                  f"{doc['period']['start']} (between {prev_key} and {key})", pid)
            want_prev = dg.sha256(prev_bytes) if prev_bytes is not None else dg.GENESIS
            if doc["previous"]["sha256"] != want_prev:
                if prev_bytes is None:
                    msg = (f"missing: {key} continues from digest {doc['previous']['key']}, which is absent "
                           "(the first digest of an archive follows the genesis value)")
                    return self._fail(rep, "missing", msg, pid)
                return self._fail(rep, "digest mismatch", f"digest mismatch: {key} names previous digest "
                                  f"SHA-256 {doc['previous']['sha256'][:16]}..., but {prev_key} hashes to "
                                  f"{want_prev[:16]}...", pid)
            if doc["period"]["id"] != pid:
                return self._fail(rep, "digest mismatch", f"digest mismatch: {key} holds period "
                                  f"{doc['period']['id']}", pid)
            listed.update(f["key"] for f in doc["files"])
            listed.update(q["key"] for q in doc.get("quarantined", []) if q.get("key"))
            p_start, p_end = from_iso(doc["period"]["start"]), from_iso(doc["period"]["end"])
            if (start is None or p_end > start) and (end is None or p_start < end):
                problem = self._period(doc, heads, tenant, rep)
                if problem:
                    problem.period = pid
                    rep.problem = problem
                    return rep
                rep.periods_checked += 1
            heads = {c: chain.ChainState(c, h[0], h[1]) for c, h in doc.get("heads", {}).items()}
            prev_key, prev_bytes, prev_doc = key, raw, doc
            rep.last = Checkpoint(key, raw)
            rep.verified.append(rep.last)
        # compacted query copies: signed, intact, equal to their sources (auditflow/archive/compact.py)
        problem = compact.check(self.worm, self.keys, tenant,
                                extras=extras and start is None and end is None and resume is None)
        if problem:
            rep.problem = Problem(problem.kind, problem.message, tenant=problem.tenant)
            return rep
        extra = sorted(k for k in data - listed
                       if tenant is None or (layout.parse_partition(k) or ("",))[0] == tenant)
        if extra and extras and start is None and end is None and resume is None:
            return self._fail(rep, "extra", f"extra: {extra[0]} is in the archive but in no signed digest"
                              + (f" ({len(extra)} such files)" if len(extra) > 1 else ""), None)
        if rep.quarantined:
            q = rep.quarantined[0]
            more = f" (and {len(rep.quarantined) - 1} more)" if len(rep.quarantined) > 1 else ""
            rep.problem = Problem("quarantined", f"quarantined: period {q['period']}: {q['reason']}{more}",
                                  tenant=q.get("chain_id") or q.get("tenant"), sequence=q.get("sequence"),
                                  period=q["period"])
        return rep

    def _follow_keys(self, digests: list[str]) -> Problem | None:
        """The key chain (pinned keys and signed rotations) over digests verified before, checking
        only their signatures, so a resumed run accepts the key they lead to."""
        self.keys, self._keys_through = trust.KeyChain(self.pinned), None
        for key in digests:
            pid = key.rsplit("/", 1)[-1].removesuffix(".json")
            try:
                doc = json.loads(self.worm.get(key))
                pub = self.keys.key_for(doc)
            except trust.UntrustedKey as exc:  # a ValueError too: first
                return Problem("untrusted key", str(exc), period=pid)
            except ValueError:
                return Problem("digest mismatch", f"digest mismatch: {key} is not valid JSON", period=pid)
            if not dg.check_signature(doc, pub):
                return Problem("bad signature", f"bad signature: {key} does not verify with key "
                               f"{dg.key_id(pub)}", period=pid)
            self.keys.accept(doc, pub)
            self._keys_through = key
        return None

    def _witnessed(self, key: str, raw: bytes, pid: str) -> Problem | None:
        """A valid cosignature of exactly these digest bytes by every pinned witness key."""
        for pub in self.witnesses:
            wid = dg.key_id(pub)
            ckey = witness.cosignature_key(wid, pid)
            if not self.worm.exists(ckey):
                return Problem("unwitnessed", f"unwitnessed: {key} has no cosignature by witness {wid} "
                               f"({ckey} is absent)", period=pid)
            why = witness.check_cosignature(self.worm.get(ckey), key, raw, pub)
            if why:
                return Problem("unwitnessed", f"unwitnessed: {key}: {why}", period=pid)
        return None

    def _fail(self, rep: Report, kind: str, msg: str, pid: str | None) -> Report:
        rep.problem = Problem(kind, msg, period=pid)
        return rep

    def _recompute(self, data: bytes) -> Future | list[str | None]:
        """The recomputed event hashes of one events file: in a worker process when there are any."""
        if self.workers <= 1:
            return file_hashes(data)
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers)
        return self._pool.submit(file_hashes, data)

    def _period(self, doc: dict, heads: dict[str, chain.ChainState], tenant: str | None,
                rep: Report) -> Problem | None:
        events: list[dict] = []
        hashes: dict[int, str] = {}
        pending: list[tuple[int, pa.Table, Future | list[str | None]]] = []  # (first index, table, hashes)

        def settle() -> dict[int, str]:
            """Hashes of every events file read so far; a file with a row the column-wise path
            leaves to udfs.chain gets its full records, so compute_hash sees all of the row."""
            for first, table, job in pending:
                got = job.result() if isinstance(job, Future) else job
                recs = events[first:first + len(got)]
                if None in got or any(r.get("_light") is None for r in recs[:1]):
                    recs = layout.to_records(table)
                    events[first:first + len(got)] = recs
                hashes.update((id(r), h) for r, h in zip(recs, got, strict=True) if h is not None)
                for r in recs:
                    r.pop("_light", None)
            pending.clear()
            return hashes

        others: list[tuple[bytes, int, str, str]] = []  # leaves of the other tenants' files
        for f in doc["files"]:
            if tenant is not None and f["tenant"] != tenant:
                if f["kind"] == "events":  # only their chain column: the Merkle root needs every leaf
                    if not self.worm.exists(f["key"]):
                        return Problem("missing", f"missing: {f['key']} (tenant {f['tenant']!r}) is listed "
                                       f"in digest {doc['period']['id']} but absent, so the period's Merkle "
                                       "root cannot be checked", tenant=f["tenant"])
                    others += layout.event_hashes([layout.read_parquet(self.worm.get(f["key"]),
                                                                       columns=["event_id", "chain"])])
                continue
            key = f["key"]
            if not self.worm.exists(key):
                return Problem("missing", f"missing: {key} ({f['rows']} {f['kind']}, tenant {f['tenant']!r}) "
                               f"is listed in digest {doc['period']['id']} but absent from the archive",
                               tenant=f["tenant"])
            data = self.worm.get(key)
            rep.files += 1
            rep.held += self._held(key, f.get("version_id"))
            if dg.sha256(data) != f["sha256"] and self._sealed_version_intact(key, f):
                return Problem("overwritten", f"overwritten: {key} has a newer version than the one "
                               f"digest {doc['period']['id']} sealed ({f['version_id']}, still intact "
                               "and locked); queries read the newer version, which is not the sealed "
                               "record", tenant=f["tenant"])
            try:
                table = layout.read_parquet(data)
            except (OSError, ValueError) as exc:  # not Parquet any more
                return Problem("digest mismatch", f"digest mismatch: {key} is not a readable Parquet file "
                               f"({exc}); digest {doc['period']['id']} signs SHA-256 {f['sha256'][:16]}...",
                               tenant=f["tenant"])
            if f["kind"] == "alerts":
                rep.alerts += table.num_rows
            else:
                pending.append((len(events), table, self._recompute(data)))
                events.extend(_light(table))
            if dg.sha256(data) != f["sha256"]:
                if f["kind"] == "events":  # name the event if the chain shows which one
                    brk = self._chains(events, heads, doc, tenant, settle())
                    if brk:
                        return brk
                return Problem("digest mismatch", f"digest mismatch: {key} has SHA-256 "
                               f"{dg.sha256(data)[:16]}..., digest {doc['period']['id']} signs "
                               f"{f['sha256'][:16]}...", tenant=f["tenant"])
            if table.num_rows != f["rows"]:
                return Problem("digest mismatch", f"digest mismatch: {key} has {table.num_rows} rows, "
                               f"the digest signs {f['rows']}", tenant=f["tenant"])
        brk = self._chains(events, heads, doc, tenant, settle())
        if brk:
            return brk
        problem = self._quarantined(doc, tenant, rep)
        if problem:
            return problem
        rep.events += len(events)
        rep.chains.update(e["chain"]["chain_id"] for e in events if e.get("chain"))
        # the root over every tenant's leaves, also under --tenant
        leaves = sorted([(c["chain_id"].encode(), c["sequence"], c["event_hash"])
                         for c in (e.get("chain") for e in events) if c]
                        + [(cid, seq, h) for cid, seq, h, _e in others])
        root = merkle.merkle_root([h for _c, _s, h in leaves])
        m = doc["events"]
        if root != m["merkle_root"] or len(leaves) != m["tree_size"]:
            return Problem("digest mismatch", f"digest mismatch: the Merkle root over the {len(leaves)} "
                           f"events of period {doc['period']['id']} is {root[:16]}..., the digest signs "
                           f"{m['merkle_root'][:16]}... over {m['tree_size']}")
        return None

    def _quarantined(self, doc: dict, tenant: str | None, rep: Report) -> Problem | None:
        """Each quarantine entry of the tenant(s): its object present with the signed SHA-256."""
        for q in doc.get("quarantined", []):
            if tenant is not None and not quarantined_of(q, tenant):
                continue
            if q.get("key"):
                if not self.worm.exists(q["key"]):
                    return Problem("missing", f"missing: quarantined record {q['key']} is listed in digest "
                                   f"{doc['period']['id']} but absent from the archive",
                                   tenant=q.get("tenant"))
                data = self.worm.get(q["key"])
                if dg.sha256(data) != q.get("sha256"):
                    return Problem("digest mismatch", f"digest mismatch: quarantined record {q['key']} has "
                                   f"SHA-256 {dg.sha256(data)[:16]}..., digest {doc['period']['id']} signs "
                                   f"{str(q.get('sha256'))[:16]}...", tenant=q.get("tenant"))
                rep.held += self._held(q["key"], None)
            rep.quarantined.append({**q, "period": doc["period"]["id"]})
        return None

    def _held(self, key: str, version_id: str | None) -> int:
        """1 when the object (the sealed version) is under an S3 legal hold; 0 in a local copy."""
        check = getattr(self.worm, "legal_hold", None)
        try:
            return int(bool(check(key, version_id))) if check else 0
        except ClientError:  # that version is gone: the checks above say what is wrong
            return 0

    def _sealed_version_intact(self, key: str, f: dict) -> bool:
        """Whether the version the digest pinned still holds the sealed bytes (an S3 overwrite
        only adds a version on top of a locked one)."""
        if not f.get("version_id"):
            return False
        try:
            return dg.sha256(self.worm.get(key, f["version_id"])) == f["sha256"]
        except (ValueError, ClientError):  # a local copy has no versions; the version is gone
            return False

    def _chains(self, events: list[dict], heads: dict[str, chain.ChainState], doc: dict,
                tenant: str | None, hashes: dict[int, str]) -> Problem | None:
        signed = {c["chain_id"]: c for c in doc["chains"]}
        bridges: dict[str, list[dict]] = defaultdict(list)  # signed quarantine entries a chain passes
        for q in doc.get("quarantined", []):
            if q.get("chain_id") and q.get("resume"):
                bridges[q["chain_id"]].append(q)
        present = {(e.get("chain") or {}).get("chain_id") for e in events}
        wanted = [cid for cid in [*signed, *(b for b in bridges if b not in signed)]
                  if tenant is None or chain.is_tenant_chain(cid, tenant) or cid in present]
        heads_after = doc.get("heads", {})
        end = {}
        for cid in wanted:
            h = heads_after.get(cid) or (
                [signed[cid]["last_sequence"], signed[cid]["last_hash"]] if cid in signed else None)
            if h is None:  # a quarantine entry bridges a chain the digest neither lists nor heads
                return Problem("digest mismatch", f"digest mismatch: digest {doc['period']['id']} "
                               f"quarantines records of chain {cid!r} but signs no head for it", tenant=cid)
            end[cid] = chain.ChainState(cid, h[0], h[1])
        for e in events:
            cid = (e.get("chain") or {}).get("chain_id")
            if cid is not None and cid not in signed:
                return Problem("extra", f"extra: chain {cid!r} has events (e.g. {e.get('event_id')!r}) "
                               f"in period {doc['period']['id']} but its digest signs none", tenant=cid)
        # breaks inside the stored events first (every chain), then where each chain ends
        plain = [cid for cid in wanted if cid not in bridges]
        states = {cid: heads[cid] for cid in plain if cid in heads}
        brk = chain.verify_chain([e for e in events if (e.get("chain") or {}).get("chain_id") not in bridges],
                                 start=states, hashes=hashes)
        for e in events:
            c = e.get("chain") or {}
            if brk is None and c.get("chain_id") in end and c["chain_id"] not in bridges:
                states[c["chain_id"]] = chain.ChainState(c["chain_id"], c["sequence"], c["event_hash"])
        for cid in sorted(c for c in wanted if c in bridges):
            if brk is not None:
                break
            brk, states[cid] = _bridged(cid, [e for e in events
                                              if (e.get("chain") or {}).get("chain_id") == cid],
                                        heads.get(cid), bridges[cid], hashes)
        if brk is None:
            brk = chain.verify_chain([], start={c: st for c, st in states.items() if st}, end=end)
        if brk is None:
            return None
        # a break the sealer already recorded (it archives what it received) is still a break
        return Problem(brk.kind, brk.message, tenant=brk.chain_id, sequence=brk.sequence)


def _bridged(cid: str, events: list[dict], start: chain.ChainState | None, bridges: list[dict],
             hashes: dict[int, str]) -> tuple[chain.ChainBreak | None, chain.ChainState | None]:
    """One chain's events checked in the pieces between its signed quarantine entries: each
    piece must run up to the entry's first sequence, after which the chain stands where the
    entry's `resume` says (an event quarantined in place, or a gap). The break, or the state
    after the last event."""
    state = start
    rest = events
    for q in sorted(bridges, key=lambda q: q["sequence"]):
        piece = [e for e in rest if e["chain"]["sequence"] < q["sequence"]]
        rest = [e for e in rest if e["chain"]["sequence"] >= q["sequence"]]
        brk = chain.verify_chain(piece, start={cid: state} if state else None, hashes=hashes)
        if brk is not None:
            return brk, None
        reached = piece[-1]["chain"]["sequence"] if piece else (state.sequence if state else 0)
        if reached != q["sequence"] - 1:
            return chain.ChainBreak("missing", cid, reached + 1, len(piece), None,
                                    f"missing: chain {cid!r} ends at sequence {reached} before the "
                                    f"quarantined sequence {q['sequence']}: sequences {reached + 1}.."
                                    f"{q['sequence'] - 1} are absent"), None
        state = chain.ChainState(cid, int(q["resume"]["sequence"]), q["resume"]["event_hash"])
    brk = chain.verify_chain(rest, start={cid: state} if state else None, hashes=hashes)
    if brk is None and rest:
        c = rest[-1]["chain"]
        state = chain.ChainState(cid, c["sequence"], c["event_hash"])
    return brk, state


def file_hashes(data: bytes) -> list[str | None]:
    """What each row of an events file recomputes to (layout.recomputed_hashes); a worker's job."""
    return layout.recomputed_hashes(layout.read_parquet(data))


_LIGHT = ("event_id", "tenant_id", "chain")


def _light(table: pa.Table) -> list[dict]:
    """The fields the chain checks read besides the hash (event_id, tenant_id, chain, the
    lineage's raw topic and partition), marked `_light`; or, for a table without those typed
    columns, its full records."""
    names = table.column_names
    lin = table.schema.field("lineage").type if "lineage" in names else None
    if not all(n in names for n in _LIGHT) or lin is None or not pa.types.is_struct(lin) \
            or lin.get_field_index("raw_topic") < 0 or lin.get_field_index("raw_partition") < 0:
        return layout.to_records(table)
    col = table.column("lineage").combine_chunks()
    part = pa.StructArray.from_arrays([col.field("raw_topic"), col.field("raw_partition")],
                                      names=["raw_topic", "raw_partition"], mask=col.is_null())
    light = table.select(list(_LIGHT)).append_column("lineage", part)
    rows = layout.to_records(light)
    for r in rows:
        r["_light"] = True
    return rows


def summary(rep: Report) -> str:
    return (f"OK: {rep.digests} digests (signatures and digest chain valid), {rep.periods_checked} periods, "
            f"{rep.files} files, {rep.events} events in {len(rep.chains)} chains, {rep.alerts} alerts"
            + (f"; signed by key {' -> '.join(rep.signers)}" if rep.signers else "")
            + (f"; {rep.held} objects under legal hold" if rep.held else ""))
