"""The sealer: closed periods of staging files -> sorted Parquet in WORM + a signed digest.

A period [start, end) holds every staging file Flink committed (object time) before `end`
that no earlier digest consumed; it is closed once `end + grace` has passed, grace covering
the checkpoint that commits files opened before `end`. Per period, in this order:

1. read and decode every staged record (exact Confluent-wire Avro, writer schema by id);
2. drop exact duplicates (same chain, sequence and hash), sort events by chain and sequence,
   and check each chain against its head in the previous digest (a break is recorded in the
   digest and reported, never silently dropped: the archive keeps what it received);
3. write one zstd Parquet file per kind / tenant / date / hour, upload it with COMPLIANCE
   retention and checksums, read it back and compare SHA-256 and row count;
4. write the digest (files, chains, Merkle root, previous digest's SHA-256), signed;
5. only then delete the consumed staging files.

Every step can be repeated: output bytes are a function of the staged input, an object that
already holds the same bytes is not uploaded again, and a period whose digest exists only
finishes its clean-up. A crash anywhere therefore neither loses nor duplicates.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow.parquet as pq

from auditflow.archive import digest as dg
from auditflow.archive import layout, trust
from auditflow.archive.store import Obj, Store
from udfs import chain, merkle, wire

PERIOD_FMT = "%Y%m%dT%H%M%SZ"


def period_id(start: dt.datetime) -> str:
    return start.strftime(PERIOD_FMT)


def parse_period(pid: str) -> dt.datetime:
    return dt.datetime.strptime(pid, PERIOD_FMT).replace(tzinfo=dt.UTC)


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_iso(s: str) -> dt.datetime:
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def align(t: dt.datetime, period_s: int) -> dt.datetime:
    ts = int(t.timestamp())
    return dt.datetime.fromtimestamp(ts - ts % period_s, dt.UTC)


class AvroDecoder(wire.Decoder):
    """Staged Confluent-wire Avro -> dict, timestamps as int millis, writer schema fetched once
    per id. A writer schema with a field the archive's columns lack (schemas/*.avsc older than
    the producer) is refused: sealing it would drop that field and break the event's hash."""

    def __init__(self, fetch_schema: Callable[[int], str]):
        super().__init__(fetch_schema, check_writer=_check_archivable, what="staged value")


def field_paths(schema: Any, prefix: str = "", names: dict[str, Any] | None = None) -> set[str]:
    """Dotted paths of every record field in an Avro schema (through unions, arrays and maps)."""
    names = {} if names is None else names
    if isinstance(schema, str):
        schema = names.get(schema, names.get(schema.rsplit(".", 1)[-1], schema))
    if isinstance(schema, list):
        return set().union(*(field_paths(b, prefix, names) for b in schema))
    if not isinstance(schema, dict):
        return set()
    if schema.get("type") == "record":
        names[schema["name"]] = schema
        out: set[str] = set()
        for f in schema["fields"]:
            out.add(prefix + f["name"])
            out |= field_paths(f["type"], prefix + f["name"] + ".", names)
        return out
    if schema.get("type") == "array":
        return field_paths(schema["items"], prefix, names)
    if schema.get("type") == "map":
        return field_paths(schema["values"], prefix, names)
    return set()


def _check_archivable(sid: int, writer: dict) -> None:
    kind = next((k for k in layout.KINDS if layout.load_avsc(k)["name"] == writer.get("name")), None)
    if kind is None:
        raise SealError(f"schema id {sid} is record {writer.get('name')!r}, which the archive does not hold")
    extra = field_paths(writer) - field_paths(layout.load_avsc(kind))
    if extra:
        raise SealError(f"schema id {sid} has field(s) {', '.join(sorted(extra))} that "
                        f"schemas/{layout.KINDS[kind]}.avsc lacks; sealing would drop them and break the "
                        "chain hashes. Update auditflow (its schemas) before sealing; staging is kept.")


def visible(key: str) -> bool:
    """Committed staging files only: Flink hides in-progress and temporary files with . or _."""
    return not any(part.startswith((".", "_")) for part in key.split("/"))


@dataclass
class SealResult:
    period: str
    events: int = 0
    alerts: int = 0
    files: list[str] = field(default_factory=list)
    staged: int = 0
    breaks: list[str] = field(default_factory=list)
    already: bool = False
    digest_key: str = ""
    digest: dict = field(default_factory=dict)


class SealError(RuntimeError):
    pass


class Sealer:
    def __init__(self, staging: Store, worm: Store, key: Any, decode: Callable[[bytes], dict], *,
                 period_s: int = 3600, grace_s: int = 60, retention_s: int = 86400,
                 recompute: bool = False, say: Callable[[str], None] = lambda _m: None):
        self.staging, self.worm, self.key, self.decode = staging, worm, key, decode
        # continuity needs only sequences and prev_hash links; recomputing every hash (what
        # `auditflow verify` does) costs ~10x more and is optional here
        self.recompute = recompute
        self.period_s, self.grace_s, self.retention_s, self.say = period_s, grace_s, retention_s, say

    # ------------------------------------------------------------------ state
    def last_digest(self) -> tuple[str, bytes] | None:
        keys = [o.key for o in self.worm.list("digests/") if o.key.endswith(".json")]
        if not keys:
            return None
        k = max(keys)
        return k, self.worm.get(k)

    def staged(self) -> list[Obj]:
        return [o for kind in layout.KINDS for o in self.staging.list(kind + "/") if visible(o.key)]

    def next_period(self, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        last = self.last_digest()
        if last:
            start = from_iso(dg_json(last[1])["period"]["end"])
        else:
            files = self.staged()
            first = min((o.modified for o in files), default=now - dt.timedelta(seconds=self.grace_s))
            start = align(first, self.period_s)
            if not files:  # nothing archived yet: start with the latest closed period
                start = align(now - dt.timedelta(seconds=self.grace_s + self.period_s), self.period_s)
        return start, align(start, self.period_s) + dt.timedelta(seconds=self.period_s)

    # ------------------------------------------------------------------ sealing
    def seal_closed(self, now: dt.datetime | None = None, limit: int | None = None) -> list[SealResult]:
        """Seal every closed period after the last digest, oldest first."""
        now = now or dt.datetime.now(dt.UTC)
        out: list[SealResult] = []
        while limit is None or len(out) < limit:
            start, end = self.next_period(now)
            if end + dt.timedelta(seconds=self.grace_s) > now:
                break
            out.append(self.seal(start, end, now))
        return out

    def seal(self, start: dt.datetime, end: dt.datetime, now: dt.datetime | None = None) -> SealResult:
        now = now or dt.datetime.now(dt.UTC)
        pid = period_id(start)
        dkey = f"digests/{pid}.json"
        res = SealResult(pid, digest_key=dkey)
        if self.worm.exists(dkey):  # sealed before a crash: only the clean-up may be left
            res.already, res.digest = True, dg_json(self.worm.get(dkey))
            self._clean(res.digest)
            return res
        prev = self.last_digest()
        prev_doc = dg_json(prev[1]) if prev else None
        if prev_doc and from_iso(prev_doc["period"]["end"]) != start:
            raise SealError(f"period {pid} does not follow the last digest {prev[0]} "
                            f"(which ends {prev_doc['period']['end']})")
        rotation = self._rotation(prev_doc, start)
        consumed = set(prev_doc.get("staging", [])) if prev_doc else set()
        staged = self.staged()
        for o in staged:  # sealed by the previous digest, not yet removed (a crash after it)
            if o.key in consumed:
                self.staging.delete(o.key)
        objs = [o for o in staged if o.modified < end and o.key not in consumed]

        rows: dict[str, list[tuple[tuple[str, str, str], dict]]] = {k: [] for k in layout.KINDS}
        for o in objs:
            kind = o.key.split("/", 1)[0]
            part = layout.parse_partition(o.key)
            if part is None:
                raise SealError(f"staging file {o.key} is not under tenant=/dt=/hour= partitions")
            values = pq.read_table(io.BytesIO(self.staging.get(o.key)), columns=["value"]).column(0)
            for v in values.to_pylist():
                rec = self.decode(v)
                rows[kind].append(((rec.get("tenant_id") or part[0], part[1], part[2]), rec))

        events = self._order_events(rows["events"], res)
        heads = {c: chain.ChainState(c, h[0], h[1]) for c, h in (prev_doc or {}).get("heads", {}).items()}
        chains = self._check_chains([e for _p, e in events], heads, res)
        alerts = sorted(rows["alerts"], key=lambda r: (r[0], r[1].get("window_start") or 0,
                                                       r[1].get("alert_id") or ""))
        retain = now + dt.timedelta(seconds=self.retention_s)
        files = self._write(pid, "events", events, retain, res)
        files += self._write(pid, "alerts", alerts, retain, res)

        leaves = [e["chain"]["event_hash"] for _p, e in events if e.get("chain")]
        new_heads = {c: [s.sequence, s.event_hash] for c, s in heads.items()}
        for c in chains:
            new_heads[c["chain_id"]] = [c["last_sequence"], c["last_hash"]]
        doc = {
            "format": dg.FORMAT,
            "period": {"id": pid, "start": iso(start), "end": iso(end)},
            "sealed_at": iso(now),
            "previous": {"key": prev[0], "sha256": dg.sha256(prev[1])} if prev
            else {"key": None, "sha256": dg.GENESIS},
            "files": files,
            "events": {"count": len(events), "tree_size": len(leaves),
                       "merkle_root": merkle.merkle_root(leaves)},
            "alerts": {"count": len(alerts)},
            "chains": chains,
            "heads": dict(sorted(new_heads.items())),
            "staging": sorted(o.key for o in objs),
            "retain_until": iso(retain),
        }
        if rotation:  # the first digest under a new key carries its hand-over (trust.py)
            doc["rotation"] = rotation
        signed = dg.sign(doc, self.key)
        self._publish_key()
        self.worm.put(dkey, dg.encode(signed), retain_until=retain)
        res.digest = signed
        self._clean(signed)
        res.events, res.alerts, res.staged = len(events), len(alerts), len(objs)
        return res

    def _order_events(self, items: list, res: SealResult) -> list:
        seen: set[tuple[str, int, str]] = set()
        out = []
        for p, e in items:
            c = e.get("chain")
            if c:
                ident = (c["chain_id"], c["sequence"], c["event_hash"])
                if ident in seen:  # the same event twice (e.g. a producer retry upstream)
                    continue
                seen.add(ident)
            out.append((p, e))
        # unchained events (a bug upstream) sort last; they fail verification by name
        out.sort(key=lambda pe: (0, *layout.sort_key(pe[1])) if pe[1].get("chain") else (1, b"", 0))
        return out

    def _check_chains(self, events: list[dict], heads: dict[str, chain.ChainState],
                      res: SealResult) -> list[dict]:
        by_chain: dict[str, list[dict]] = defaultdict(list)
        for e in events:
            if e.get("chain"):
                by_chain[e["chain"]["chain_id"]].append(e)
        out = []
        for cid, evs in by_chain.items():  # already in chain order (sorted by UTF-8 bytes)
            head = heads.get(cid)
            brk = linkage_break(cid, evs, head)
            if brk is None and self.recompute:
                brk = chain.verify_chain(evs, start={cid: head} if head else None)
            if brk:
                res.breaks.append(str(brk))
                self.say(f"warning: {brk}")
            first, last = evs[0]["chain"], evs[-1]["chain"]
            out.append({
                "chain_id": cid, "count": len(evs),
                "start_sequence": head.sequence if head else 0,
                "start_hash": head.event_hash if head else chain.GENESIS_PREV_HASH,
                "first_sequence": first["sequence"], "first_hash": first["event_hash"],
                "last_sequence": last["sequence"], "last_hash": last["event_hash"],
                "break": str(brk) if brk else None,
            })
        return out

    def _write(self, pid: str, kind: str, items: list, retain: dt.datetime, res: SealResult) -> list[dict]:
        groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
        for p, rec in items:
            groups[p].append(rec)
        out = []
        for (tenant, day, hour), recs in sorted(groups.items()):
            when = dt.datetime.strptime(f"{day} {hour}", "%Y-%m-%d %H").replace(tzinfo=dt.UTC)
            key = f"{kind}/{layout.partition_path(tenant, when)}{pid}.parquet"
            data = layout.parquet_bytes(layout.to_table(recs, kind))
            sha = dg.sha256(data)
            version = self._upload(key, data, sha, retain)
            back = self.worm.get(key)  # the sealed copy, as the store now returns it
            if dg.sha256(back) != sha or pq.ParquetFile(io.BytesIO(back)).metadata.num_rows != len(recs):
                raise SealError(f"sealed copy of {key} differs from what was uploaded; staging kept")
            out.append({"key": key, "kind": kind, "tenant": tenant, "dt": day, "hour": hour,
                        "rows": len(recs), "bytes": len(data), "sha256": sha, "version_id": version})
            res.files.append(key)
        return out

    def _upload(self, key: str, data: bytes, sha: str, retain: dt.datetime) -> str | None:
        if self.worm.exists(key):
            if dg.sha256(self.worm.get(key)) == sha:
                return self.worm.version_id(key)  # uploaded before a crash; identical bytes
            raise SealError(f"{key} already exists in the WORM store with other content; refusing to "
                            "seal over it (was staging changed after a crash?)")
        return self.worm.put(key, data, retain_until=retain, metadata={"sha256": sha})

    def _rotation(self, prev_doc: dict | None, start: dt.datetime) -> dict | None:
        """The rotation record when this key did not sign the last digest: verifiers pinned to
        the earlier key refuse a key no rotation introduces, so neither is it sealed with."""
        pub = self.key.public_key()
        if prev_doc is None or prev_doc.get("key_id") == dg.key_id(pub):
            return None
        try:
            return trust.stored_rotation(self.worm, prev_doc["key_id"], pub, iso(start))
        except trust.TrustError as exc:
            raise SealError(str(exc)) from exc

    def _publish_key(self) -> None:
        pub = self.key.public_key()
        k = f"keys/{dg.key_id(pub)}.pem"
        if not self.worm.exists(k):
            self.worm.put(k, dg.public_pem(pub), retain_until=dt.datetime.now(dt.UTC) + dt.timedelta(
                seconds=self.retention_s))

    def _clean(self, doc: dict) -> None:
        for key in doc.get("staging", []):
            self.staging.delete(key)


def linkage_break(cid: str, events: list[dict], head: chain.ChainState | None) -> str | None:
    """The first misplaced event, gap, reordering or broken prev_hash link in one chain's sorted
    events, in words (the content hashes themselves are left to the verifier)."""
    seq = head.sequence if head else 0
    last = head.event_hash if head else chain.GENESIS_PREV_HASH
    for e in events:
        c = e["chain"]
        why = chain.misplaced(e)
        if why is not None:
            return (f"misplaced: chain {cid!r} sequence {c['sequence']} ({e.get('event_id')!r}) is in the "
                    f"wrong chain: {why}")
        if c["sequence"] != seq + 1:
            what = "missing" if c["sequence"] > seq + 1 else "duplicate or extra"
            return (f"{what}: chain {cid!r} continues at sequence {c['sequence']} "
                    f"({e.get('event_id')!r}) after sequence {seq}")
        if c["prev_hash"] != last:
            return (f"wrong_prev_hash: chain {cid!r} sequence {c['sequence']} ({e.get('event_id')!r}) "
                    f"does not link to the event_hash of sequence {seq}")
        seq, last = c["sequence"], c["event_hash"]
    return None


def dg_json(data: bytes) -> dict:
    return json.loads(data)
