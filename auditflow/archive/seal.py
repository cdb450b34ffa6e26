"""The sealer: closed periods of staging files -> sorted Parquet in WORM + a signed digest.

A period [start, end) holds every staging file Flink committed (object time) before `end`
that no earlier digest consumed; it is closed once `end + grace` has passed, grace covering
the checkpoint that commits files opened before `end`. Per period, in this order:

1. read and decode every staged record (exact Confluent-wire Avro, writer schema by id);
2. drop exact duplicates (same chain, sequence and hash), sort events by chain and sequence,
   and check every event against its chain from the previous digest's head: recompute its
   hash from the staged bytes, its prev_hash link and its sequence;
3. quarantine what fails (an undecodable record, a wrong hash or link, a gap, an unchained or
   misplaced event): the record and the reason go to quarantine/<period>/ in WORM, locked like
   sealed data, and into the digest's signed `quarantined` list; every other record seals on;
4. write one zstd Parquet file per kind / tenant / date / hour, upload it with COMPLIANCE
   retention and checksums, read it back and compare SHA-256 and row count;
5. write the digest (files, chains, quarantined, Merkle root, previous digest's SHA-256), signed;
6. only then delete the consumed staging files.

A chain goes on after a quarantined event (schemas/CHAIN.md section 8): a `modified` event (its
content does not hash to its event_hash, its chain fields link) keeps its place, so the chain
continues from its claimed event_hash (the entry's `resume`) and the next event must link to
it; a gap (sequences absent from staging, e.g. an undecodable record) is one `missing` entry
whose `resume` is the (sequence - 1, prev_hash) the next event present claims; any other
quarantined event (wrong_prev_hash, misplaced, extra, unchained) takes no place, so the chain
stands where it was and the event that follows it gets a `missing` entry.
`auditflow verify` follows the same signed entries, so only what a digest explains is skipped.

Every step can be repeated: output bytes are a function of the staged input, an object that
already holds the same bytes is not uploaded again, and a period whose digest exists only
finishes its clean-up. A crash anywhere therefore neither loses nor duplicates.
"""

from __future__ import annotations

import base64
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


class Undecodable(ValueError):
    """One staged record that cannot be read (not Confluent wire, a schema id the registry does
    not know, bytes that are not Avro of its schema): it is quarantined, the rest seals on."""


class AvroDecoder(wire.Decoder):
    """Staged Confluent-wire Avro -> dict, timestamps as int millis, writer schema fetched once
    per id. A writer schema with a field the archive's columns lack (schemas/*.avsc older than
    the producer) is refused: sealing it would drop that field and break the event's hash.
    ``fetch_schema`` raises KeyError for a schema id the registry does not know."""

    def __init__(self, fetch_schema: Callable[[int], str]):
        super().__init__(fetch_schema, check_writer=_check_archivable, what="staged value")

    def __call__(self, data: bytes) -> dict:
        try:
            sid, _body = wire.split(data, self.what)
        except ValueError as exc:
            raise Undecodable(str(exc)) from exc
        if sid not in self.writers:  # a registry that fails otherwise stops the seal: nothing is lost
            try:
                text = self.fetch(sid)
            except KeyError as exc:
                raise Undecodable(f"schema id {sid} is unknown to the schema registry") from exc
            writer = json.loads(text)
            _check_archivable(sid, writer)
            self.writers[sid] = wire.plain_schema(writer)
        try:
            return super().__call__(data)
        except (ValueError, EOFError, TypeError, IndexError, OverflowError, MemoryError) as exc:
            # fastavro's errors on bytes that are not Avro of the writer schema
            raise Undecodable(f"{type(exc).__name__}: {exc}"[:300]) from exc


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
    breaks: list[str] = field(default_factory=list)  # the message of each quarantined entry
    quarantined: list[dict] = field(default_factory=list)  # the digest's entries
    already: bool = False
    digest_key: str = ""
    digest: dict = field(default_factory=dict)


class SealError(RuntimeError):
    pass


QUARANTINE_FORMAT = "auditflow-quarantine/1"
_CHAIN_FIELDS = ("chain_id", "sequence", "prev_hash", "event_hash")


@dataclass
class Held:
    """A record held back from sealing: the digest entry's fields and what the object keeps."""

    kind: str  # the break kind (udfs.chain.BREAK_KINDS) or "undecodable"
    message: str
    record_kind: str  # events | alerts
    tenant: str
    staging_key: str
    raw: bytes | None = None
    event: dict | None = None
    resume: tuple[int, str] | None = None  # the chain state the entry vouches for
    last_sequence: int | None = None  # a gap: the last sequence absent

    @property
    def chain(self) -> dict:
        return (self.event or {}).get("chain") or {}


class Sealer:
    def __init__(self, staging: Store, worm: Store, key: Any, decode: Callable[[bytes], dict], *,
                 period_s: int = 3600, grace_s: int = 60, retention_s: int = 86400,
                 say: Callable[[str], None] = lambda _m: None):
        self.staging, self.worm, self.key, self.decode = staging, worm, key, decode
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

        held: list[Held] = []
        rows: dict[str, list[tuple[tuple[str, str, str], dict]]] = {k: [] for k in layout.KINDS}
        raws: dict[int, tuple[bytes, str]] = {}  # id(record) -> its staged bytes and file
        for o in objs:
            kind = o.key.split("/", 1)[0]
            part = layout.parse_partition(o.key)
            if part is None:
                raise SealError(f"staging file {o.key} is not under tenant=/dt=/hour= partitions")
            values = pq.read_table(io.BytesIO(self.staging.get(o.key)), columns=["value"]).column(0)
            for v in values.to_pylist():
                try:
                    rec = self.decode(v)
                except Undecodable as exc:
                    held.append(Held("undecodable", f"undecodable: a staged record of {o.key} cannot be "
                                     f"decoded: {exc}", kind, part[0], o.key, raw=v))
                    continue
                raws[id(rec)] = (v, o.key)
                rows[kind].append(((rec.get("tenant_id") or part[0], part[1], part[2]), rec))

        events = self._order_events(rows["events"], res)
        heads = {c: chain.ChainState(c, h[0], h[1]) for c, h in (prev_doc or {}).get("heads", {}).items()}
        events, chains, states = self._check_chains(events, heads, held, raws)
        alerts = sorted(rows["alerts"], key=lambda r: (r[0], r[1].get("window_start") or 0,
                                                       r[1].get("alert_id") or ""))
        retain = now + dt.timedelta(seconds=self.retention_s)
        files = self._write(pid, "events", events, retain, res)
        files += self._write(pid, "alerts", alerts, retain, res)
        quarantined = self._quarantine(pid, held, retain, res)

        leaves = [e["chain"]["event_hash"] for _p, e in events if e.get("chain")]
        new_heads = {c: [s.sequence, s.event_hash] for c, s in heads.items()}
        for c, st in states.items():  # after the sealed events and any quarantine resume
            new_heads[c] = [st.sequence, st.event_hash]
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
            "quarantined": quarantined,
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

    def _check_chains(self, events: list, heads: dict[str, chain.ChainState], held: list[Held],
                      raws: dict[int, tuple[bytes, str]],
                      ) -> tuple[list, list[dict], dict[str, chain.ChainState]]:
        """The events that seal, the digest's `chains`, and each chain's state after this period;
        every event that fails is appended to ``held`` instead (see the module docstring)."""
        by_chain: dict[str, list] = defaultdict(list)
        keep = []
        for p, e in events:
            c = e.get("chain")
            if not isinstance(c, dict) or any(c.get(k) is None for k in _CHAIN_FIELDS) \
                    or type(c["sequence"]) is not int or c["sequence"] < 1:
                held.append(self._held(e, p, raws, "unchained", f"unchained: event {e.get('event_id')!r} "
                                       "has no complete chain field"))
                continue
            by_chain[c["chain_id"]].append((p, e))
        out, states = [], {}
        for cid, evs in by_chain.items():  # already in chain order (sorted by UTF-8 bytes)
            head = heads.get(cid)
            state, sealed = head, []
            for p, e in evs:
                state = self._check_one(cid, p, e, state, sealed, held, raws)
            if state is not None:
                states[cid] = state
            if not sealed:
                continue
            keep += sealed
            first, last = sealed[0][1]["chain"], sealed[-1][1]["chain"]
            out.append({
                "chain_id": cid, "count": len(sealed),
                "start_sequence": head.sequence if head else 0,
                "start_hash": head.event_hash if head else chain.GENESIS_PREV_HASH,
                "first_sequence": first["sequence"], "first_hash": first["event_hash"],
                "last_sequence": last["sequence"], "last_hash": last["event_hash"],
                "break": None,
            })
        return keep, out, states

    def _check_one(self, cid: str, p: tuple, e: dict, state: chain.ChainState | None, sealed: list,
                   held: list[Held], raws: dict[int, tuple[bytes, str]]) -> chain.ChainState | None:
        """Check one event of a chain against the chain's state; its state afterwards."""
        c = e["chain"]
        seq, last = (state.sequence, state.event_hash) if state else (0, chain.GENESIS_PREV_HASH)
        where = f"chain {cid!r} sequence {c['sequence']} ({e.get('event_id')!r})"
        why = chain.misplaced(e)
        if why is not None:  # it does not belong here, so it takes no place in this chain
            held.append(self._held(e, p, raws, "misplaced",
                                   f"misplaced: {where} is in the wrong chain: {why}"))
            return state
        if c["sequence"] <= seq:
            held.append(self._held(e, p, raws, "extra", f"extra: {where} repeats a sequence the chain "
                                   f"has passed (it stands at {seq}) with other content"))
            return state
        if c["sequence"] > seq + 1:  # a gap: explained by one entry, the chain resumes after it
            absent = f"sequence {seq + 1}" if c["sequence"] == seq + 2 else \
                f"sequences {seq + 1}..{c['sequence'] - 1}"
            gap = Held("missing", f"missing: chain {cid!r} lacks {absent} in staging; it resumes at "
                       f"sequence {c['sequence']} ({e.get('event_id')!r})",
                       "events", p[0], raws.get(id(e), (b"", ""))[1],
                       event={"chain": {"chain_id": cid, "sequence": seq + 1}},
                       resume=(c["sequence"] - 1, str(c["prev_hash"])), last_sequence=c["sequence"] - 1)
            held.append(gap)
            seq, last = c["sequence"] - 1, str(c["prev_hash"])
        kind, msg = None, ""
        try:
            got = chain.compute_hash(c["prev_hash"], e)
        except (ValueError, TypeError) as exc:
            got, kind, msg = "", "modified", f"modified: {where}: {exc}"
        if kind is None and got != c["event_hash"]:
            kind, msg = "modified", (f"modified: {where}: its staged content hashes to {got[:16]}..., "
                                     f"but its event_hash is {str(c['event_hash'])[:16]}...")
        elif kind is None and c["prev_hash"] != last:
            kind, msg = "wrong_prev_hash", (f"wrong_prev_hash: {where} does not link to the event_hash "
                                            f"of sequence {seq}")
        new = chain.ChainState(cid, c["sequence"], str(c["event_hash"]))
        if kind is None:
            sealed.append((p, e))
        elif kind == "modified":  # its chain fields hold: it keeps its place, the next links to it
            held.append(self._held(e, p, raws, kind, msg, resume=(new.sequence, new.event_hash)))
        else:  # linked to something else (inserted or re-linked): it takes no place in the chain
            held.append(self._held(e, p, raws, kind, msg))
            return state
        return new

    @staticmethod
    def _held(e: dict, p: tuple, raws: dict[int, tuple[bytes, str]], kind: str, msg: str,
              resume: tuple[int, str] | None = None) -> Held:
        raw, key = raws.get(id(e), (None, ""))
        return Held(kind, msg, "events", p[0], key, raw=raw, event=e, resume=resume)

    def _quarantine(self, pid: str, held: list[Held], retain: dt.datetime, res: SealResult) -> list[dict]:
        """Write each held record (raw bytes, decoded event, reason) to quarantine/<period>/ with
        the lock of sealed data; the digest's entries, in the order found."""
        out = []
        for n, h in enumerate(held, 1):
            c = h.chain
            entry: dict[str, Any] = {
                "key": None, "sha256": None, "kind": h.kind, "record_kind": h.record_kind,
                "tenant": h.tenant, "chain_id": c.get("chain_id"), "sequence": c.get("sequence"),
                "event_id": (h.event or {}).get("event_id") if h.kind != "missing" else None,
                "reason": h.message,
            }
            if h.last_sequence is not None:
                entry["last_sequence"] = h.last_sequence
            if h.resume is not None:
                entry["resume"] = {"sequence": h.resume[0], "event_hash": h.resume[1]}
            if h.kind != "missing":  # a gap has no record to keep
                body = {"format": QUARANTINE_FORMAT, "period": pid, "staging_key": h.staging_key,
                        **{k: entry[k] for k in ("kind", "record_kind", "tenant", "chain_id", "sequence",
                                                 "event_id", "reason")},
                        "raw_base64": base64.b64encode(h.raw).decode() if h.raw is not None else None,
                        "event": _jsonable(h.event) if h.event is not None else None}
                data = (json.dumps(body, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()
                key = f"quarantine/{pid}/{n:06d}.json"
                entry["sha256"] = dg.sha256(data)
                self._upload(key, data, entry["sha256"], retain)
                entry["key"] = key
            out.append(entry)
            res.breaks.append(h.message)
            self.say(f"quarantined: {h.message}")
        res.quarantined = out
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


def quarantined_of(entry: dict, tenant: str) -> bool:
    """Whether a digest's quarantine entry is the tenant's (its partition or one of its chains)."""
    cid = entry.get("chain_id")
    return entry.get("tenant") == tenant or bool(cid and chain.is_tenant_chain(cid, tenant))


def _jsonable(value: Any) -> Any:
    """A decoded record as JSON: bytes as base64 (text of a record that may not be valid)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, float) and value != value:
        return None
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def dg_json(data: bytes) -> dict:
    return json.loads(data)
