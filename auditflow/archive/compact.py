"""Compacted query copies of the sealed archive, and their verification.

The hourly sealed files and their signed period digests stay the integrity unit. Once a day is
closed (the last digest ends `settle_s` after it), the compactor writes, per kind and tenant,
one copy of that day's sealed rows (auditflow/archive/layout.py: `compacted/`), sorted by
layout.COMPACT_SORT with `hour` (the source file's partition) as a column, locked like sealed
data, and a compaction manifest signed with the sealing key (digest.sign) that names the copy's
SHA-256, rows and bytes and every source file with the SHA-256 its digest signs.

`check` (run by the verifier) accepts a copy only when a manifest signed by a trusted key lists
it with its SHA-256, every source is a file some digest signs with that SHA-256 and still holds
those bytes, and the copy's rows equal `day_table` rebuilt from the sources (so every value of
every row, not only the event hashes); the newest copy of a day must cover every sealed file of
that day; a file under compacted/ that no signed manifest lists is `extra`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc

from auditflow.archive import digest as dg
from auditflow.archive import layout, trust
from auditflow.archive.store import Store

FORMAT = "auditflow-compaction/1"
_TENANT_RE = re.compile(r"/tenant=([^/]+)/")
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Source:
    key: str
    sha256: str
    rows: int
    hour: str
    digest: str  # the digest that signs it


def day_table(kind: str, sources: list[tuple[str, pa.Table]]) -> pa.Table:
    """The compacted rows of one kind / tenant / day from its sealed (hour, table) pairs: every
    row once, `hour` appended, in layout.COMPACT_SORT order (sort_indices is stable, so ties
    keep the sources' order). The compactor, the verifier and bench/query.py all use this."""
    schema = layout.arrow_schema(kind).append(pa.field("hour", pa.string()))
    parts = [t.select(layout.arrow_schema(kind).names).append_column(
        "hour", pa.array([hour] * t.num_rows, pa.string())).cast(schema) for hour, t in sources]
    table = pa.concat_tables(parts) if parts else schema.empty_table()
    keys = {}
    for n, path in enumerate(layout.COMPACT_SORT[kind]):
        col: Any = table.column(path[0]).combine_chunks()
        for name in path[1:]:
            col = pc.struct_field(col, name)
        keys[f"k{n}"] = col
    order = pc.sort_indices(pa.table(keys), sort_keys=[(k, "ascending") for k in keys],
                            null_placement="at_end")
    return table.take(order).combine_chunks()


def sealed_sources(worm: Store) -> dict[tuple[str, str, str], list[Source]]:
    """Every sealed file by (kind, tenant, dt), from the digests (which the verifier checks)."""
    out: dict[tuple[str, str, str], list[Source]] = defaultdict(list)
    for o in worm.list("digests/"):
        if not o.key.endswith(".json"):
            continue
        for f in json.loads(worm.get(o.key)).get("files", []):
            out[(f["kind"], f["tenant"], f["dt"])].append(
                Source(f["key"], f["sha256"], f["rows"], f["hour"], o.key))
    return {k: sorted(v, key=lambda s: s.key) for k, v in out.items()}


def manifests(worm: Store) -> list[tuple[str, dict | None]]:
    """(key, parsed document or None when it is not a JSON object) of every compaction manifest."""
    out = []
    for o in worm.list(f"{layout.COMPACTED}manifests/"):
        try:
            doc = json.loads(worm.get(o.key))
        except ValueError:
            doc = None
        out.append((o.key, doc if isinstance(doc, dict) else None))
    return out


def query_keys(worm: Store) -> tuple[list[str], list[str]]:
    """The (hourly, compacted) keys queries read, every kind: layout.query_files over the files
    the digests seal and the copies the manifests name (what Trino's union is synced to)."""
    keys = [s.key for v in sealed_sources(worm).values() for s in v]
    keys += [doc["file"]["key"] for _k, doc in manifests(worm) if doc is not None]
    hourly, copies = [], []
    for kind in layout.KINDS:
        h, c = layout.query_files(keys, kind)
        hourly += h
        copies += c
    return hourly, copies


def _through(sources: list[Source]) -> str:
    return max(s.key.rsplit("/", 1)[-1].removesuffix(".parquet") for s in sources)


def _tables(sources: list[Source], blobs: list[bytes]) -> list[tuple[str, pa.Table]]:
    """(hour, table) of each source from its bytes, fetched once for the SHA-256 check too."""
    return [(s.hour, layout.read_parquet(b)) for s, b in zip(sources, blobs, strict=True)]


class Compactor:
    def __init__(self, worm: Store, key: Any, *, retention_s: int = 86400, settle_s: int = 3600,
                 say: Callable[[str], None] = lambda _m: None):
        self.worm, self.key, self.retention_s, self.settle_s, self.say = worm, key, retention_s, settle_s, say

    def closed_days(self) -> dict[tuple[str, str, str], list[Source]]:
        """Days whose files no later period can add to: the last digest ends settle_s after them."""
        keys = sorted(o.key for o in self.worm.list("digests/") if o.key.endswith(".json"))
        if not keys:
            return {}
        end = dt.datetime.strptime(json.loads(self.worm.get(keys[-1]))["period"]["end"],
                                   "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        cutoff = end - dt.timedelta(seconds=self.settle_s)
        return {k: v for k, v in sealed_sources(self.worm).items()
                if dt.datetime.strptime(k[2], "%Y-%m-%d").replace(tzinfo=dt.UTC) + DAY <= cutoff}

    def run(self, now: dt.datetime | None = None) -> list[dict]:
        """Compact every closed day whose newest copy does not cover exactly its sealed files
        (none yet, or a late file sealed since); the signed manifests written, oldest day first."""
        now = now or dt.datetime.now(dt.UTC)
        covered: dict[tuple[str, str, str], tuple[str, set[str]]] = {}
        for _k, doc in manifests(self.worm):
            if doc is None:
                continue
            day = (doc["kind"], doc["tenant"], doc["dt"])
            if day not in covered or doc["through"] > covered[day][0]:
                covered[day] = (doc["through"], {s["key"] for s in doc["sources"]})
        out = []
        days = sorted(self.closed_days().items(), key=lambda kv: (kv[0][2], kv[0]))
        for (kind, tenant, day), sources in days:
            if covered.get((kind, tenant, day), ("", set()))[1] == {s.key for s in sources}:
                continue
            out.append(self.compact(kind, tenant, day, sources, now))
        return out

    def compact(self, kind: str, tenant: str, day: str, sources: list[Source], now: dt.datetime) -> dict:
        blobs = [self.worm.get(s.key) for s in sources]
        tables = _tables(sources, blobs)
        for s, (_h, t) in zip(sources, tables, strict=True):  # compact only what the digests sign
            if t.num_rows != s.rows:
                raise ValueError(f"{s.key} has {t.num_rows} rows, digest {s.digest} signs {s.rows}")
        for s, data in zip(sources, blobs, strict=True):
            if dg.sha256(data) != s.sha256:
                raise ValueError(f"{s.key} does not hold the bytes digest {s.digest} signs; "
                                 "not compacting it")
        table = day_table(kind, tables)
        data = layout.compacted_parquet_bytes(table)
        through = _through(sources)
        key = layout.compacted_key(kind, tenant, day, through)
        sha = dg.sha256(data)
        retain = now + dt.timedelta(seconds=self.retention_s)
        version = self._put(key, data, sha, retain)
        if dg.sha256(self.worm.get(key)) != sha:
            raise ValueError(f"the stored copy of {key} differs from what was uploaded")
        doc = dg.sign({
            "format": FORMAT, "kind": kind, "tenant": tenant, "dt": day, "through": through,
            "created_at": now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "file": {"key": key, "sha256": sha, "rows": table.num_rows, "bytes": len(data),
                     "version_id": version},
            "sort": [".".join(p) for p in layout.COMPACT_SORT[kind]],
            "sources": [{"key": s.key, "sha256": s.sha256, "rows": s.rows, "digest": s.digest}
                        for s in sources],
        }, self.key)
        mkey = layout.manifest_key(kind, tenant, day, through)
        self._put(mkey, dg.encode(doc), dg.sha256(dg.encode(doc)), retain)
        self.say(f"compacted {kind} {tenant} {day}: {len(sources)} files, {table.num_rows} rows -> {key}")
        return doc

    def _put(self, key: str, data: bytes, sha: str, retain: dt.datetime) -> str | None:
        if self.worm.exists(key):  # written before a crash: same bytes or refuse
            if dg.sha256(self.worm.get(key)) == sha:
                return self.worm.version_id(key)
            raise ValueError(f"{key} already exists in the WORM store with other content")
        return self.worm.put(key, data, retain_until=retain, metadata={"sha256": sha})


@dataclass(frozen=True)
class Problem:
    """What `check` found; the verifier reports it as its own Problem of the same kind."""

    kind: str  # digest mismatch, bad signature, untrusted key, missing, modified, extra
    message: str
    tenant: str | None = None


def check(worm: Store, keys: trust.KeyChain, tenant: str | None = None,
          extras: bool = True) -> Problem | None:
    """The first problem with the compacted copies, or None."""
    objs = worm.list(layout.COMPACTED)
    if not objs:  # nothing compacted: no digest is read twice
        return None
    by_day = sealed_sources(worm)
    sealed = {s.key: s for v in by_day.values() for s in v}
    listed: set[str] = set()
    newest: dict[tuple[str, str, str], dict] = {}
    found = manifests(worm)
    for mkey, doc in found:
        if doc is None or doc.get("format") != FORMAT:
            return Problem("digest mismatch", f"digest mismatch: {mkey} is not a compaction manifest")
        try:
            pub = keys.key_for(doc)
        except trust.UntrustedKey as exc:
            return Problem("untrusted key", f"untrusted key: {mkey}: {exc}")
        if not dg.check_signature(doc, pub):
            return Problem("bad signature", f"bad signature: {mkey} does not verify with key "
                           f"{dg.key_id(pub)}")
        f = doc["file"]
        listed.add(f["key"])
        if tenant is not None and doc["tenant"] != tenant:
            continue
        day = (doc["kind"], doc["tenant"], doc["dt"])
        if day not in newest or doc["through"] > newest[day]["through"]:
            newest[day] = doc
        if not worm.exists(f["key"]):
            return Problem("missing", f"missing: compacted copy {f['key']} is listed in {mkey} but absent",
                           tenant=doc["tenant"])
        data = worm.get(f["key"])
        if dg.sha256(data) != f["sha256"]:
            return Problem("digest mismatch", f"digest mismatch: compacted copy {f['key']} has SHA-256 "
                           f"{dg.sha256(data)[:16]}..., manifest {mkey} signs {f['sha256'][:16]}...",
                           tenant=doc["tenant"])
        sources, blobs = [], []
        for s in doc["sources"]:
            sealed_as = sealed.get(s["key"])
            if sealed_as is None or sealed_as.sha256 != s["sha256"]:
                return Problem("digest mismatch", f"digest mismatch: {mkey} names source {s['key']} with "
                               f"SHA-256 {s['sha256'][:16]}..., which no digest signs", tenant=doc["tenant"])
            blobs.append(worm.get(s["key"]))
            if dg.sha256(blobs[-1]) != s["sha256"]:
                return Problem("digest mismatch", f"digest mismatch: {s['key']}, a source of {f['key']}, "
                               "does not hold the bytes its digest signs", tenant=doc["tenant"])
            sources.append(sealed_as)
        want = day_table(doc["kind"], _tables(sources, blobs))
        got = layout.read_parquet(data)
        if got.num_rows != f["rows"] or not got.equals(want):
            return Problem("modified", f"modified: compacted copy {f['key']} does not hold exactly the rows "
                           f"of its {len(sources)} sealed sources ({got.num_rows} rows, the sources "
                           f"{want.num_rows})", tenant=doc["tenant"])
    for day, doc in sorted(newest.items()):  # queries read the newest copy: it must be whole
        lacks = sorted({s.key for s in by_day.get(day, [])} - {s["key"] for s in doc["sources"]})
        if lacks:
            return Problem("missing", f"missing: compacted copy {doc['file']['key']} lacks sealed file "
                           f"{lacks[0]}" + (f" and {len(lacks) - 1} more" if len(lacks) > 1 else "")
                           + "; run `auditflow seal compact`", tenant=doc["tenant"])
    if extras:
        manifest_keys = {k for k, _d in found}
        extra = sorted(o.key for o in objs
                       if o.key not in listed and o.key not in manifest_keys
                       and (tenant is None or _tenant_of(o.key) in (None, tenant)))
        if extra:
            return Problem("extra", f"extra: {extra[0]} is under {layout.COMPACTED} but in no signed "
                           "compaction manifest" + (f" ({len(extra)} such files)" if len(extra) > 1 else ""))
    return None


def _tenant_of(key: str) -> str | None:
    m = _TENANT_RE.search(key)
    return unquote(m.group(1)) if m else None
