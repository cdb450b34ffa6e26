"""SHA-256 hash chains over audit events (the specification is schemas/CHAIN.md).

Every event written to ``audit.events`` carries ``chain = {chain_id, sequence, prev_hash,
event_hash}``: one gap-free chain per tenant (version 1, chain_id = tenant_id: the normalize
job's default `--chains tenant`) or per tenant, raw topic and raw partition (version 2,
`--chains partition`: chain_id = "<tenant_id>/<lineage.raw_topic>/<lineage.raw_partition>",
linked in raw offset order), sequence 1, 2, 3, ..., the first event's prev_hash is 64 zeros, and

    event_hash = lowercase_hex(SHA-256(bytes.fromhex(prev_hash) || canonical_bytes(event)))

``canonical_bytes`` is RFC 8785 (JCS) JSON, UTF-8, of the event after: removing ``chain``,
``lineage.flink_job_id`` and ``lineage.lateness_ms`` (they differ between a run and its
replay); filling the four non-null schema defaults when absent; then dropping, bottom-up,
every object member whose value is null, an empty object or an empty array. So an event
hashes the same whether it comes from a parser (optional fields absent), from Avro (all
fields present, nulls included) or from Parquet, and adding optional fields to the schema
never changes old hashes. JCS is the ``rfc8785`` package (Trail of Bits).

Interface:

    canonical_form(event) -> dict           the JSON value that is canonicalized
    canonical_bytes(event) -> bytes         its RFC 8785 bytes
    compute_hash(prev_hash, event) -> str   event_hash for an event after prev_hash
    chain_id_of(event) -> str               the chain an event is linked into (version 2 id,
                                            or tenant_id for an event without raw partition)
    misplaced(event) -> str | None          why its chain_id breaks the binding rule, or None
    is_tenant_chain(chain_id, tenant) -> bool   the tenant's version-1 chain or one of its shards
    link(event, prev, chain_id=None) -> dict
        a copy of event with ``chain`` filled; prev is the ChainState after the previous
        event of this chain (None for the first event); chain_id defaults to chain_id_of(event)
    ChainState.of(event) -> ChainState      the state after a linked event (for the next link)
    verify_chain(events, start=None, end=None) -> ChainBreak | None
        the first break in stored order, or None; ChainBreak.kind is one of BREAK_KINDS and
        str(ChainBreak) says in words what is wrong where

The Flink layer keeps one ChainState per chain_id in keyed state and calls ``link`` per event.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import rfc8785

GENESIS_PREV_HASH = "0" * 64
"""prev_hash of sequence 1 in every chain."""

VOLATILE_LINEAGE_FIELDS = ("flink_job_id", "lateness_ms")
"""lineage fields left out of the canonical form: they differ between a run and its replay."""

SCHEMA_DEFAULTS: tuple[tuple[tuple[str, ...], Any], ...] = (
    (("metadata", "version"), "1.3.0"),
    (("enrichment", "geo", "is_private"), False),
    (("enrichment", "user", "privileged"), False),
    (("enrichment", "user", "known"), False),
)
"""Every non-null default in audit_event.avsc, as (path, value); filled when the parent record
is present and the field is absent (tests/unit/test_chain.py checks this list against the avsc)."""

BREAK_KINDS = (
    "unchained",  # the event has no chain field, or a malformed one
    "misplaced",  # chain_id is neither tenant_id nor the id its tenant and raw partition assign
    "modified",  # the event's content (or its event_hash) does not match its event_hash
    "wrong_prev_hash",  # prev_hash is not the event_hash of the previous event in the chain
    "missing",  # one or more sequence numbers are absent (a gap, a missing start or a cut end)
    "reordered",  # a sequence number appears before a lower one that follows later
    "duplicate",  # the same event (same sequence and hash) appears twice
    "extra",  # a different event claims a sequence number already taken
)


@dataclass(frozen=True)
class ChainState:
    """Where a chain stands after its last linked event."""

    chain_id: str
    sequence: int
    event_hash: str

    @classmethod
    def of(cls, event: Mapping[str, Any]) -> ChainState:
        c = event.get("chain")
        if not c:
            raise ValueError(f"event {event.get('event_id')!r} has no chain field; link it first")
        return cls(c["chain_id"], int(c["sequence"]), c["event_hash"])


@dataclass(frozen=True)
class ChainBreak:
    """The first point where a chain fails verification."""

    kind: str
    chain_id: str | None
    sequence: int | None
    index: int  # 0-based position in the verified input (len(events) for a cut end)
    event_id: str | None
    message: str

    def __str__(self) -> str:
        return self.message


_MAX_INT = 2**53 - 1
_INF = float("inf")


class _BadValue(TypeError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
        self.path: list[str] = []

    def __str__(self) -> str:
        where = "event" + "".join(p if p.startswith("[") else f".{p}" for p in self.path)
        return f"{where}: {self.message}"


def _walk(v: Any, fast: list[bool]) -> Any:
    """One pass over the value: JSON types only (timestamps as millis), object members that are
    null, {} or [] dropped bottom-up, and ``fast[0]`` cleared unless orjson (and the json module)
    writes exactly the JCS bytes for the result. Both do (sorted keys, compact, UTF-8, JCS's
    string escapes) for strings, integers, booleans and member order, as long as no member name
    has a character >= U+E000 (where code-point and UTF-16 order differ) and every float is
    integral (then written as the integer) or has a repr without exponent (repr, orjson and
    ECMAScript then agree: each writes the shortest round-trip decimal).
    Strings, booleans and safe integers in objects and arrays are taken in the loop, not by a
    call: they are most of an event's values, and a call per value was most of the cost."""
    t = type(v)
    if t is dict:
        out = {}
        for k, x in v.items():
            if type(k) is not str:
                k = str(k)
            if fast[0] and not k.isascii() and max(k) >= "\ue000":  # isascii: a C scan
                fast[0] = False
            tx = type(x)
            if tx is str or tx is bool or (tx is int and -_MAX_INT <= x <= _MAX_INT):
                out[k] = x
                continue
            if x is None:
                continue
            try:
                x = _walk(x, fast)
            except _BadValue as exc:
                exc.path.insert(0, k)
                raise
            if x is None or x == {} or x == []:
                continue
            out[k] = x
        return out
    if t is list or t is tuple:
        items = []
        for i, x in enumerate(v):
            tx = type(x)
            if tx is str or tx is bool or (tx is int and -_MAX_INT <= x <= _MAX_INT):
                items.append(x)
                continue
            try:
                items.append(_walk(x, fast))
            except _BadValue as exc:
                exc.path.insert(0, f"[{i}]")
                raise
        return items
    if t is str or t is bool:
        return v
    if t is int:
        if not -_MAX_INT <= v <= _MAX_INT:
            fast[0] = False
        return v
    if t is float:
        if fast[0]:
            if v != v or v == _INF or v == -_INF:
                fast[0] = False
            elif v.is_integer():
                if abs(v) <= _MAX_INT:
                    return int(v)
                fast[0] = False
            elif "e" in repr(v):
                fast[0] = False
        return v
    if v is None:
        return None
    if isinstance(v, Mapping):
        return _walk(dict(v), fast)
    if isinstance(v, _dt.datetime):
        # Avro readers with logical types return timestamp-millis as datetime; hash the millis.
        if v.tzinfo is None:
            raise _BadValue(f"naive datetime {v!r}; timestamps are UTC epoch millis")
        return (v - _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)) // _dt.timedelta(milliseconds=1)
    if isinstance(v, bool | str):
        return _walk(str(v) if isinstance(v, str) else bool(v), fast)
    if isinstance(v, int | float):
        return _walk(int(v) if isinstance(v, int) else float(v), fast)
    raise _BadValue(f"{type(v).__name__} is not a JSON value ({v!r:.80})")


def _prepare(event: Mapping[str, Any]) -> tuple[dict, bool]:
    """Steps 1-4 of schemas/CHAIN.md section 2, copying only what they change."""
    top = dict(event)
    top.pop("chain", None)
    lineage = top.get("lineage")
    if isinstance(lineage, Mapping):
        lineage = dict(lineage)
        for name in VOLATILE_LINEAGE_FIELDS:
            lineage.pop(name, None)
        top["lineage"] = lineage
    for path, default in SCHEMA_DEFAULTS:
        parent = top
        for part in path[:-1]:
            child = parent.get(part)
            if not isinstance(child, Mapping):
                break
            child = dict(child)
            parent[part] = child
            parent = child
        else:
            if parent.get(path[-1]) is None:
                parent[path[-1]] = default
    fast = [True]
    return _walk(top, fast), fast[0]


def canonical_form(event: Mapping[str, Any]) -> dict:
    """The JSON object that is hashed: see the module docstring and schemas/CHAIN.md."""
    return _prepare(event)[0]


def canonical_bytes(event: Mapping[str, Any]) -> bytes:
    """RFC 8785 canonical JSON (UTF-8) of ``canonical_form(event)``.

    Written by orjson where that gives exactly the JCS bytes (see ``_walk``; almost
    every event), by the ``rfc8785`` package otherwise. Raises ValueError for values JCS
    cannot represent exactly: NaN/Infinity, integers outside +-(2**53 - 1) (no auditflow field
    comes near that), or strings that are not valid Unicode; TypeError for non-JSON values."""
    doc, fast = _prepare(event)
    try:
        if fast:
            try:
                return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
            except orjson.JSONEncodeError:  # a lone surrogate: the json module says so in words
                return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                                  allow_nan=False).encode("utf-8")
        return rfc8785.dumps(doc)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError) as exc:
        raise ValueError(f"event {event.get('event_id')!r} cannot be canonicalized: {exc}") from exc


class _Slow(Exception):
    """A value the columnar canonical form does not vouch for: canonical_bytes decides."""


_SKIP_PATHS = {("chain",), *(("lineage", n) for n in VOLATILE_LINEAGE_FIELDS)}
_DEFAULTS_AT: dict[tuple[str, ...], dict[str, Any]] = {}
for _path, _value in SCHEMA_DEFAULTS:
    _DEFAULTS_AT.setdefault(_path[:-1], {})[_path[-1]] = _value


def _fast_name(name: str) -> bool:
    return name.isascii() or max(name) < "\ue000"


def _valid(arr: Any) -> list[bool]:
    return arr.is_valid().to_numpy(zero_copy_only=False).tolist()


def pylist(arr: Any) -> list:
    """``arr.to_pylist()`` of a flat array, through numpy (pyarrow's makes a scalar per value)."""
    import pyarrow as pa

    if not arr.null_count or pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) \
            or pa.types.is_boolean(arr.type) or pa.types.is_null(arr.type):  # None for null already
        return arr.to_numpy(zero_copy_only=False).tolist()
    vals = arr.fill_null(0).to_numpy().tolist()
    return [v if ok else None for v, ok in zip(vals, _valid(arr), strict=True)]


def _place(name: str, vals: list, full: list, full_cols: list, mixed: list) -> None:
    nulls = vals.count(None)
    if nulls == 0:
        full.append(name)
        full_cols.append(vals)
    elif nulls < len(vals):
        mixed.append((name, vals))


def _column(arr: Any, path: tuple[str, ...], member: bool) -> list:
    """The canonical JSON value of each entry of an Arrow array (ancestors' nulls applied):
    None for null; in an object member (``member``) {} and [] are None too, as they are
    dropped. Raises _Slow where orjson would not write the JCS bytes (see ``_walk``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = arr.type
    if pa.types.is_struct(t):
        defaults = _DEFAULTS_AT.get(path, {})
        valid = _valid(arr) if arr.null_count or defaults else None
        full, full_cols, mixed = [], [], []  # columns with a value in every row, with some Nones
        for f, child in zip(t, arr.flatten(), strict=True):
            p = (*path, f.name)
            if p in _SKIP_PATHS:
                continue
            if not _fast_name(f.name):
                raise _Slow
            vals = _column(child, p, True)
            if f.name in defaults:
                d = defaults[f.name]
                vals = [d if v is None and ok else v for v, ok in zip(vals, valid, strict=True)]
            _place(f.name, vals, full, full_cols, mixed)
        for name, d in defaults.items():  # a field the table's type lacks is absent: filled too
            if t.get_field_index(name) < 0:
                _place(name, [d if ok else None for ok in valid], full, full_cols, mixed)
        rows = [dict(zip(full, vs, strict=True)) for vs in zip(*full_cols, strict=True)] if full \
            else [{} for _ in range(len(arr))]
        for name, vals in mixed:  # members that are null are left out
            for r, v in zip(rows, vals, strict=True):
                if v is not None:
                    r[name] = v
        if member:
            return [r or None for r in rows]
        return rows if valid is None or not arr.null_count else \
            [r if ok else None for r, ok in zip(rows, valid, strict=True)]
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_map(t):
        offs = arr.offsets.to_numpy().tolist()
        base, stop = offs[0], offs[-1]
        offs = [o - base for o in offs]
        if pa.types.is_map(t):
            keys = pylist(arr.keys.slice(base, stop - base))
            if not all(_fast_name(k) for k in keys):
                raise _Slow
            items = _column(arr.items.slice(base, stop - base), (*path, "{}"), True)
        else:
            items = _column(arr.values.slice(base, stop - base), (*path, "[]"), False)
        valid = _valid(arr)
        if pa.types.is_map(t):  # an object: its null, {} and [] members dropped
            out = [{k: v for k, v in zip(keys[a:b], items[a:b], strict=True) if v is not None}
                   if ok else None for a, b, ok in zip(offs[:-1], offs[1:], valid, strict=True)]
        else:
            out = [items[a:b] if ok else None for a, b, ok in zip(offs[:-1], offs[1:], valid, strict=True)]
        return [x or None for x in out] if member else out
    if pa.types.is_timestamp(t):
        if t.tz is None or t.unit != "ms":  # canonical_bytes refuses a naive datetime in words
            raise _Slow
        arr = arr.cast(pa.int64())
        t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_boolean(t) \
            or pa.types.is_null(t) or t in (pa.int8(), pa.int16(), pa.int32(), pa.uint8(), pa.uint16()):
        return pylist(arr)
    if pa.types.is_integer(t):
        lo, hi = pc.min_max(arr).values()
        if lo.is_valid and not (lo.as_py() >= -_MAX_INT and hi.as_py() <= _MAX_INT):
            raise _Slow
        return pylist(arr)
    if pa.types.is_floating(t):
        out = pylist(arr)
        for i, v in enumerate(out):
            if v is None:
                continue
            if v != v or v == _INF or v == -_INF:
                raise _Slow
            if v.is_integer():
                if abs(v) > _MAX_INT:
                    raise _Slow
                out[i] = int(v)
            elif "e" in repr(v):
                raise _Slow
        return out
    raise _Slow  # binary, decimal, dates, ...: canonical_bytes says what JSON lacks


def canonical_rows(table: Any) -> list[bytes | None]:
    """``canonical_bytes`` of each row of a pyarrow Table of events (the archive's typed columns,
    timestamps as timestamp(ms, UTC)), computed column by column instead of walking each row.
    The bytes are the same; a row this path cannot vouch for (a float with an exponent, NaN, an
    integer beyond 2**53-1, a member name >= U+E000, a type JSON lacks) is None, for the
    caller to pass through ``canonical_bytes`` as a dict."""
    n = table.num_rows
    if n == 0:
        return []
    try:
        import pyarrow as pa

        whole = pa.StructArray.from_arrays([c.combine_chunks() for c in table.columns],
                                           names=table.column_names)
        rows = _column(whole, (), False)
    except _Slow:
        if n == 1:
            return [None]
        half = n // 2  # the rows around the one that needs canonical_bytes still go column-wise
        return canonical_rows(table.slice(0, half)) + canonical_rows(table.slice(half))
    out: list[bytes | None] = []
    for r in rows:
        try:
            out.append(orjson.dumps(r, option=orjson.OPT_SORT_KEYS))
        except orjson.JSONEncodeError:  # e.g. a lone surrogate: canonical_bytes says so in words
            out.append(None)
    return out


_HEX = "0123456789abcdef"


def _check_hash(value: Any, what: str) -> str:
    if not (isinstance(value, str) and len(value) == 64 and not value.strip(_HEX)):
        raise ValueError(f"{what} must be 64 lowercase hex characters, got {value!r}")
    return value


def compute_hash(prev_hash: str, event: Mapping[str, Any], canonical: bytes | None = None) -> str:
    """SHA-256(bytes.fromhex(prev_hash) || canonical_bytes(event)), lowercase hex; ``canonical``:
    the event's canonical bytes when already computed (``canonical_rows``)."""
    prev = bytes.fromhex(_check_hash(prev_hash, "prev_hash"))
    return hashlib.sha256(prev + (canonical if canonical is not None else canonical_bytes(event))).hexdigest()


_CHAIN_FIELDS = ("chain_id", "sequence", "prev_hash", "event_hash")


def _describe(e: Mapping[str, Any]) -> str:
    return f"event_id {e.get('event_id')!r}"


def _assigned(event: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(version-1 id, version-2 id) the binding rule allows for ``event``; None where its fields
    give none. The parts are read from the hashed content, so relabelling chain_id is caught."""
    tenant = event.get("tenant_id")
    if not isinstance(tenant, str) or not tenant:
        return None, None
    lineage = event.get("lineage")
    lineage = lineage if isinstance(lineage, Mapping) else {}
    topic, partition = lineage.get("raw_topic"), lineage.get("raw_partition")
    if isinstance(topic, str) and topic and isinstance(partition, int) and not isinstance(partition, bool):
        return tenant, f"{tenant}/{topic}/{partition}"
    return tenant, None


def chain_id_of(event: Mapping[str, Any]) -> str:
    """The chain ``event`` is linked into: "<tenant_id>/<raw_topic>/<raw_partition>" (CHAIN.md
    version 2), or the tenant_id when the event has no raw topic and partition."""
    tenant, sharded = _assigned(event)
    if tenant is None:
        raise ValueError(f"event {event.get('event_id')!r}: no tenant_id, so no chain_id to derive")
    return sharded or tenant


def is_tenant_chain(chain_id: str, tenant: str) -> bool:
    """Whether ``chain_id`` is ``tenant``'s version-1 chain or one of its version-2 shards
    ("<tenant>/<topic>/<partition>"; Kafka topic names have no "/")."""
    if chain_id == tenant:
        return True
    if not chain_id.startswith(tenant + "/"):
        return False
    topic, _, partition = chain_id[len(tenant) + 1:].partition("/")
    return bool(topic) and partition.isascii() and partition.isdigit()


def misplaced(event: Mapping[str, Any]) -> str | None:
    """None when ``event.chain.chain_id`` obeys the binding rule (its tenant_id, or the id of
    ``chain_id_of``), else which chain the event's own fields assign, in words."""
    c = event.get("chain")
    cid = c.get("chain_id") if isinstance(c, Mapping) else None
    tenant, sharded = _assigned(event)
    if isinstance(cid, str) and cid in (tenant, sharded):
        return None
    if sharded:
        return f"its tenant_id and raw partition assign chain {sharded!r} or the version-1 chain {tenant!r}"
    return f"its tenant_id assigns chain {tenant!r}" if tenant else "it has no tenant_id, so no chain"


def link(event: Mapping[str, Any], prev: ChainState | None, chain_id: str | None = None) -> dict:
    """Return a shallow copy of ``event`` with ``chain`` set as the next event after ``prev``.

    ``chain_id`` defaults to ``chain_id_of(event)`` (any other value than that or the tenant_id
    makes the event ``misplaced``); ``prev`` must belong to the same chain.
    ``ChainState.of(result)`` is the state to pass for the chain's next event."""
    cid = chain_id if chain_id is not None else chain_id_of(event)
    if not cid:
        raise ValueError(f"event {event.get('event_id')!r}: empty chain_id")
    if prev is not None and prev.chain_id != cid:
        raise ValueError(f"chain state is for chain {prev.chain_id!r}, event belongs to chain {cid!r}")
    sequence = 1 if prev is None else prev.sequence + 1
    prev_hash = GENESIS_PREV_HASH if prev is None else prev.event_hash
    out = dict(event)  # a new top-level dict; nested values are shared with ``event``
    out["chain"] = {
        "chain_id": cid,
        "sequence": sequence,
        "prev_hash": prev_hash,
        "event_hash": compute_hash(prev_hash, out),
    }
    return out


def verify_chain(
    events: Iterable[Mapping[str, Any]],
    start: Mapping[str, ChainState] | None = None,
    end: Mapping[str, ChainState] | None = None,
    hashes: Mapping[int, str] | None = None,
) -> ChainBreak | None:
    """Check linked events in their stored order; return the first break or None.
    ``hashes``: the event_hash already recomputed from an event's content and prev_hash, by
    ``id(event)`` (e.g. column-wise by ``canonical_rows``); the others are computed here.

    Several chains may be interleaved; each must run gap-free from sequence 1 (prev_hash =
    genesis) unless ``start`` gives the state before the first event of that chain (e.g. the
    last event of the previous sealed period, from its digest). ``end`` gives the expected
    last state per chain (e.g. from a digest); without it a chain cut at its end cannot be
    told from a chain that simply ends there. Each event's chain_id must be the one its own
    tenant_id, raw topic and raw partition assign, or its tenant_id (``misplaced``)."""
    items = list(events)
    start = dict(start or {})
    state: dict[str, ChainState] = dict(start)
    seen: dict[str, dict[int, str]] = {}

    for i, e in enumerate(items):
        c = e.get("chain")
        if not isinstance(c, Mapping) or not all(k in c for k in _CHAIN_FIELDS):
            return ChainBreak("unchained", None, None, i, e.get("event_id"),
                              f"unchained: {_describe(e)} at position {i} has no complete chain field")
        cid, seq = c["chain_id"], c["sequence"]
        if not isinstance(seq, int) or seq < 1:
            return ChainBreak("unchained", cid, None, i, e.get("event_id"),
                              f"unchained: {_describe(e)} in chain {cid!r} has invalid sequence {seq!r}")
        where = f"chain {cid!r} sequence {seq} ({_describe(e)}, position {i})"
        why = misplaced(e)
        if why is not None:
            return ChainBreak("misplaced", cid, seq, i, e.get("event_id"),
                              f"misplaced: {where} is in the wrong chain: {why}")
        last = state.get(cid)
        expected = 1 if last is None else last.sequence + 1

        if seq < expected:
            prior = seen.get(cid, {}).get(seq)
            if prior is not None and prior == c["event_hash"]:
                return ChainBreak("duplicate", cid, seq, i, e.get("event_id"),
                                  f"duplicate: {where} appears a second time")
            if prior is not None:
                return ChainBreak("extra", cid, seq, i, e.get("event_id"),
                                  f"extra: {where} is a second, different event with a sequence "
                                  f"number already taken (hash {c['event_hash'][:16]}... vs {prior[:16]}...)")
            return ChainBreak("reordered", cid, seq, i, e.get("event_id"),
                              f"reordered: {where} comes after sequence {expected - 1}")
        if seq > expected:
            later = next((j for j in range(i + 1, len(items))
                          if (items[j].get("chain") or {}).get("chain_id") == cid
                          and (items[j].get("chain") or {}).get("sequence") == expected), None)
            if later is not None:
                return ChainBreak("reordered", cid, seq, i, e.get("event_id"),
                                  f"reordered: {where} comes before sequence {expected}, "
                                  f"which appears later at position {later}")
            gap = f"sequence {expected}" if seq == expected + 1 else f"sequences {expected}..{seq - 1}"
            return ChainBreak("missing", cid, expected, i, e.get("event_id"),
                              f"missing: chain {cid!r} lacks {gap}; the next event present is "
                              f"sequence {seq} ({_describe(e)}, position {i})")

        recomputed = hashes.get(id(e)) if hashes else None
        if recomputed is None:
            try:
                recomputed = compute_hash(c["prev_hash"], e)
            except (ValueError, TypeError) as exc:
                return ChainBreak("modified", cid, seq, i, e.get("event_id"), f"modified: {where}: {exc}")
        if recomputed != c["event_hash"]:
            return ChainBreak("modified", cid, seq, i, e.get("event_id"),
                              f"modified: {where}: its content hashes to {recomputed[:16]}..., "
                              f"but its event_hash is {str(c['event_hash'])[:16]}...")
        want_prev = GENESIS_PREV_HASH if last is None else last.event_hash
        if c["prev_hash"] != want_prev:
            if last is None:
                why = "is not the genesis value (64 zeros): the chain does not start here"
            else:
                why = (f"is not the event_hash of sequence {last.sequence} ({want_prev[:16]}...): "
                       f"an event before it was replaced or re-hashed")
            return ChainBreak("wrong_prev_hash", cid, seq, i, e.get("event_id"),
                              f"wrong_prev_hash: {where}: prev_hash {c['prev_hash'][:16]}... {why}")
        state[cid] = ChainState(cid, seq, c["event_hash"])
        seen.setdefault(cid, {})[seq] = c["event_hash"]

    for cid, want in (end or {}).items():
        got = state.get(cid)
        got_seq = got.sequence if got else (0 if cid not in start else start[cid].sequence)
        if got_seq < want.sequence:
            return ChainBreak("missing", cid, got_seq + 1, len(items), None,
                              f"missing: chain {cid!r} ends at sequence {got_seq}, expected to end at "
                              f"{want.sequence}: sequences {got_seq + 1}..{want.sequence} are absent")
        if got_seq > want.sequence:
            return ChainBreak("extra", cid, want.sequence + 1, len(items), None,
                              f"extra: chain {cid!r} runs to sequence {got_seq}, "
                              f"expected to end at {want.sequence}")
        if got is not None and got.event_hash != want.event_hash:
            return ChainBreak("modified", cid, got.sequence, len(items), None,
                              f"modified: chain {cid!r} sequence {got.sequence} has event_hash "
                              f"{got.event_hash[:16]}..., expected {want.event_hash[:16]}...")
    return None
