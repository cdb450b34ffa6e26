"""Where archived records live and what their Parquet columns are.

The staging bucket holds what jobs/archive.py wrote: one row per Kafka record with the exact
Confluent-wire Avro bytes (`value`), so nothing the chain hashes can be lost on the way. The
sealer decodes those bytes and writes the WORM copy with typed columns derived from the Avro
schema: records become structs, arrays lists, maps maps, timestamp-millis
`timestamp(ms, UTC)`; field names are the schema's, so Trino (Hive connector, by name) and
DuckDB read the same files and `udfs.chain` recomputes every hash from them.

Layout (prefixes from [archive] config):

    staging: <staging_prefix><kind>/tenant=<t>/dt=<yyyy-mm-dd>/hour=<hh>/part-...   (Flink)
    worm:    <worm_prefix><kind>/tenant=<t>/dt=<yyyy-mm-dd>/hour=<hh>/<period>.parquet
             <worm_prefix>digests/<period>.json
             <worm_prefix>keys/<key_id>.pem   (PEM SPKI public key)
             <worm_prefix>compacted/<kind>/tenant=<t>/dt=<yyyy-mm-dd>/through=<period>/part.parquet
             <worm_prefix>compacted/manifests/<kind>/tenant=<t>/dt=<yyyy-mm-dd>/<period>.json

kind is `events` or `alerts`; dt/hour are the UTC hour in which the archive job received the
record (its partition in staging), so the sealer never has to guess where a late file goes.

The hourly files and their digests are the integrity unit. For a closed day the compactor
(auditflow/archive/compact.py) writes one query copy per kind and tenant: the same rows with
`hour` as a column, sorted by COMPACT_SORT so row-group statistics let both engines skip, under
a signed compaction manifest naming its sources. `through` is the newest period among its
sources: a late file sealed into that day makes a newer copy, and queries read the newest copy
of a day whose hourly files it all covers, else that day's hourly files (query_files).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.parquet as pq

from auditflow import paths
from udfs import chain

if TYPE_CHECKING:
    from auditflow.archive.store import Store

SCHEMAS = paths.SCHEMAS
KINDS = {"events": "audit_event", "alerts": "alert"}
PARTITION_KEYS = ("tenant", "dt", "hour")
PARQUET_OPTIONS = {"compression": "zstd", "row_group_size": 131072}
COMPACTED = "compacted/"
# the copies' order: one user's rows are contiguous and in time order, so a user or time
# predicate skips row groups by min/max statistics (pyarrow 16 writes no bloom filters)
COMPACT_SORT = {
    "events": (("actor", "user", "name"), ("time",), ("chain", "chain_id"), ("chain", "sequence")),
    "alerts": (("window_start",), ("alert_id",)),
}
COMPACT_PARQUET_OPTIONS = {"compression": "zstd", "row_group_size": 16384, "write_page_index": True}
_PART_RE = re.compile(r"tenant=([^/]+)/dt=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/")


def load_avsc(kind: str) -> dict:
    return json.loads((SCHEMAS / f"{KINDS[kind]}.avsc").read_text())


def _named(schema: Any, names: dict[str, Any]) -> Any:
    if isinstance(schema, str):
        return names.get(schema, names.get(schema.rsplit(".", 1)[-1], schema))
    return schema


def arrow_type(schema: Any, names: dict[str, Any] | None = None) -> pa.DataType:
    """Arrow type of an Avro schema; nullability is carried by every Arrow field anyway."""
    names = {} if names is None else names
    schema = _named(schema, names)
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        if len(branches) != 1:
            raise ValueError(f"unions other than [null, T] are not archived: {schema}")
        return arrow_type(branches[0], names)
    if isinstance(schema, dict):
        t = schema["type"]
        if t == "record":
            names[schema["name"]] = schema
            return pa.struct([pa.field(f["name"], arrow_type(f["type"], names)) for f in schema["fields"]])
        if t == "array":
            return pa.list_(arrow_type(schema["items"], names))
        if t == "map":
            return pa.map_(pa.string(), arrow_type(schema["values"], names))
        if t == "enum":
            return pa.string()
        if schema.get("logicalType") in ("timestamp-millis", "timestamp-micros"):
            return pa.timestamp("ms", tz="UTC")
        return arrow_type(t, names)
    return {"string": pa.string(), "int": pa.int32(), "long": pa.int64(), "boolean": pa.bool_(),
            "double": pa.float64(), "float": pa.float32(), "bytes": pa.binary()}[schema]


def arrow_schema(kind: str) -> pa.Schema:
    return pa.schema(list(arrow_type(load_avsc(kind))))


_TRINO = {pa.string(): "varchar", pa.int32(): "integer", pa.int64(): "bigint", pa.bool_(): "boolean",
          pa.float64(): "double", pa.float32(): "real", pa.binary(): "varbinary"}


def trino_type(t: pa.DataType) -> str:
    if pa.types.is_struct(t):
        return "row(" + ", ".join(f'"{f.name}" {trino_type(f.type)}' for f in t) + ")"
    if pa.types.is_map(t):
        return f"map(varchar, {trino_type(t.item_type)})"
    if pa.types.is_list(t):
        return f"array({trino_type(t.value_type)})"
    if pa.types.is_timestamp(t):
        return "timestamp(3)"
    return _TRINO[t]


def trino_columns(kind: str) -> str:
    return ",\n    ".join(f'"{f.name}" {trino_type(f.type)}' for f in arrow_schema(kind))


def to_table(records: list[dict], kind: str) -> pa.Table:
    """Decoded Avro records (timestamps as int millis) as a typed Arrow table."""
    schema = arrow_schema(kind)
    return pa.Table.from_pylist(records, schema=schema) if records else schema.empty_table()


def _pylist(arr: pa.Array) -> list:
    """``arr.to_pylist()`` with maps as dicts (the JSON shape of schemas/CHAIN.md), built column
    by column: pyarrow's own makes a Python scalar per value, most of a verify's time."""
    t = arr.type
    if pa.types.is_struct(t):
        cols = [_pylist(c) for c in arr.flatten()]
        names = [f.name for f in t]
        rows = [dict(zip(names, vs, strict=True)) for vs in zip(*cols, strict=True)] if cols \
            else [{} for _ in range(len(arr))]
        if arr.null_count:
            rows = [r if ok else None for r, ok in zip(rows, arr.is_valid().to_pylist(), strict=True)]
        return rows
    if pa.types.is_list(t) or pa.types.is_map(t):
        offs = arr.offsets.to_numpy().tolist()
        base, stop = offs[0], offs[-1]
        if pa.types.is_map(t):
            keys = _pylist(arr.keys.slice(base, stop - base))
            items = _pylist(arr.items.slice(base, stop - base))
        else:
            items = _pylist(arr.values.slice(base, stop - base))
        valid = arr.is_valid().to_pylist()
        offs = [o - base for o in offs]
        if pa.types.is_map(t):
            return [dict(zip(keys[a:b], items[a:b], strict=True)) if ok else None
                    for a, b, ok in zip(offs[:-1], offs[1:], valid, strict=True)]
        return [items[a:b] if ok else None for a, b, ok in zip(offs[:-1], offs[1:], valid, strict=True)]
    if pa.types.is_string(t) or pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_floating(t):
        return chain.pylist(arr)
    return arr.to_pylist()  # timestamps (as datetimes), binary, ...


def _without_partitions(table: pa.Table) -> pa.Table:
    drop = [n for n in PARTITION_KEYS if n in table.column_names]
    return table.drop(drop) if drop else table


def to_records(table: pa.Table) -> list[dict]:
    """Rows of a WORM table as event dicts that udfs.chain hashes exactly as the original."""
    table = _without_partitions(table)
    if table.num_rows == 0:
        return []
    return _pylist(pa.StructArray.from_arrays([c.combine_chunks() for c in table.columns],
                                              names=table.column_names))


def recomputed_hashes(table: pa.Table) -> list[str | None]:
    """The event_hash each row's content and chain.prev_hash recompute to (udfs.chain, column by
    column); None where the row needs udfs.chain.compute_hash on its dict (an unusual value, a
    malformed prev_hash or chain), which then also says what is wrong."""
    table = _without_partitions(table)
    if "chain" not in table.column_names or not pa.types.is_struct(table.schema.field("chain").type) \
            or table.schema.field("chain").type.get_field_index("prev_hash") < 0:
        return [None] * table.num_rows
    prevs = to_records(table.select(["chain"]))
    out: list[str | None] = []
    for c, canon in zip(prevs, chain.canonical_rows(table), strict=True):
        try:
            out.append(None if canon is None else
                       chain.compute_hash((c["chain"] or {}).get("prev_hash"), {}, canonical=canon))
        except ValueError:  # a malformed prev_hash: compute_hash on the dict says so by name
            out.append(None)
    return out


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, **PARQUET_OPTIONS)
    return buf.getvalue()


def compacted_parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, **COMPACT_PARQUET_OPTIONS)
    return buf.getvalue()


def compacted_key(kind: str, tenant: str, day: str, through: str) -> str:
    return f"{COMPACTED}{kind}/tenant={quote(tenant, safe='-_.')}/dt={day}/through={through}/part.parquet"


def manifest_key(kind: str, tenant: str, day: str, through: str) -> str:
    return f"{COMPACTED}manifests/{kind}/tenant={quote(tenant, safe='-_.')}/dt={day}/{through}.json"


_COMPACTED_RE = re.compile(
    r"^compacted/([^/]+)/tenant=([^/]+)/dt=(\d{4}-\d{2}-\d{2})/through=([^/]+)/part\.parquet$")


def parse_compacted(key: str) -> tuple[str, str, str, str] | None:
    """(kind, tenant, dt, through) of a compacted copy's key (relative to the archive prefix)."""
    m = _COMPACTED_RE.match(key)
    return (m.group(1), unquote(m.group(2)), m.group(3), m.group(4)) if m else None


def query_files(keys: Iterable[str], kind: str) -> tuple[list[str], list[str]]:
    """The (hourly, compacted) keys a query of `kind` reads, never both for one tenant-day: a
    day's newest compacted copy when no hourly file of that day is newer than it (sealed after
    it was made), else the day's hourly files."""
    hourly: dict[tuple[str, str], list[str]] = {}
    newest: dict[tuple[str, str], tuple[str, str]] = {}
    for k in keys:
        c = parse_compacted(k)
        if c and c[0] == kind:
            day = (c[1], c[2])
            if day not in newest or c[3] > newest[day][0]:
                newest[day] = (c[3], k)
            continue
        part = parse_partition(k)
        if part and k.startswith(f"{kind}/") and k.endswith(".parquet"):
            hourly.setdefault((part[0], part[1]), []).append(k)
    out_h, out_c = [], []
    for day in sorted(set(hourly) | set(newest)):
        hs, c = hourly.get(day, []), newest.get(day)
        # an hourly file is named by its period; one after `through` is not in the copy
        if c and all(k.rsplit("/", 1)[-1].removesuffix(".parquet") <= c[0] for k in hs):
            out_c.append(c[1])
        else:
            out_h += hs
    return out_h, out_c


def read_parquet(data: bytes, columns: list[str] | None = None) -> pa.Table:
    return pq.read_table(io.BytesIO(data), columns=columns)


def partition_path(tenant: str, hour: dt.datetime) -> str:
    # Hive escapes path characters in partition values; percent-encoding is the same idea
    return f"tenant={quote(tenant, safe='-_.')}/dt={hour:%Y-%m-%d}/hour={hour:%H}/"


def parse_partition(key: str) -> tuple[str, str, str] | None:
    m = _PART_RE.search(key)
    return (unquote(m.group(1)), m.group(2), m.group(3)) if m else None


def sort_key(event: dict) -> tuple[bytes, int]:
    """Chain order (schemas/CHAIN.md section 6): chain_id as UTF-8 bytes, then sequence."""
    c = event.get("chain") or {}
    return (str(c.get("chain_id", "")).encode(), int(c.get("sequence") or 0))


def event_hashes(tables: Iterable[pa.Table]) -> list[tuple[bytes, int, str, str]]:
    """(chain_id bytes, sequence, event_hash, event_id) of every event in the tables, unsorted."""
    out = []
    for t in tables:
        rows = to_records(t.select(["chain", "event_id"]))
        for c, eid in ((r["chain"], r["event_id"]) for r in rows):
            if c:
                out.append((c["chain_id"].encode(), c["sequence"], c["event_hash"], eid))
    return out


def archived_events(store: Store, tenant: str | None, start_ms: int, end_ms: int) -> list[dict]:
    """Sealed events with start_ms <= time < end_ms, read from the WORM archive's partitions."""
    out: list[dict] = []
    for obj in store.list("events/"):
        part = parse_partition(obj.key)
        if not obj.key.endswith(".parquet") or part is None or (tenant and part[0] != tenant):
            continue
        for e in to_records(read_parquet(store.get(obj.key))):
            e = _millis(e)
            if start_ms <= e["time"] < end_ms:
                out.append(e)
    return out


def _millis(value):
    """Archived timestamps read back as UTC datetimes; the events view takes epoch millis."""
    if isinstance(value, dict):
        return {k: _millis(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_millis(v) for v in value]
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    return value
