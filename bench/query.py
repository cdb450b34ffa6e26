"""Auditor query latency on a large archive, Trino beside DuckDB, in the hourly sealed layout
and in the compacted layout, beside a same-run floor. (Sealing and verification throughput:
bench/archive_speed.py.)

    .venv/bin/python bench/query.py            # 10,000,000 events, 10 tenants, 30 days
    .venv/bin/python bench/query.py --events 1000000 --keep
    .venv/bin/python bench/query.py --run RUN  # the queries again on a kept archive

1. Builds the archive: per tenant one real SHA-256 chain (udfs.chain.link over
   auditflow.archive.sample events), written as the sealer writes it (typed zstd Parquet,
   sorted by chain and sequence, one file per tenant / date / hour) straight to S3 under
   s3://<worm bucket>/bench/<run>/ as the sealer (the bucket Trino reads; it stays there
   until the bucket's default retention ends),
   one alert per tenant and day whose evidence is that day's first five failed logons, and
   per tenant and day the compacted copy of both, made by auditflow.archive.compact.day_table
   as `auditflow seal compact` makes it (no digests or manifests: nothing here is verified).
2. Registers it in Trino twice: schema bench_<run> reads the hourly layout (every hourly
   partition, as before any compaction), bench_<run>_c the compacted one (query.sync_union
   over the copies, as `seal compact` syncs it); DuckDB opens it with and without the copies
   (query.duckdb_conn). The floor is DuckDB over one local Parquet file per kind of the same
   rows, sorted by tenant, user and time.
3. Times four auditor queries through the views: the first run and the median of --repeat
   more, per layout and engine; every engine and layout must return the same rows, or the
   bench exits 1.

Prints file count and bytes per file of each layout. Needs a running stack whose Trino rules
let the sealer own the bench schemas (stack up with
AUDITFLOW_TRINO__EXTRA_SCHEMAS='it_[a-z0-9_]+|bench_[a-z0-9_]+'); asserts nothing about time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditflow import config, s3  # noqa: E402
from auditflow.archive import compact, layout, query, sample  # noqa: E402
from auditflow.archive.store import S3Store  # noqa: E402

DAY_MS = 86_400_000


def build_tenant(job: tuple[str, int, int, int, str, str]) -> dict:
    """One tenant's chain over `days`, uploaded hour by hour, its alerts, and each day's
    compacted copies; returns file stats."""
    tenant, n, start_ms, days, bucket, prefix = job
    cfg = config.load()
    # the worm bucket, as the sealer (Trino reads only that bucket); locked, it expires with
    # the bucket's default retention
    store = S3Store(s3.client(cfg, "sealer"), bucket, prefix)
    step = max(1, days * DAY_MS // n)
    files: dict[str, list[tuple[str, int, int]]] = {"hourly": [], "compacted": []}
    batch: list[dict] = []
    hour_of = None
    day: dict[str, list[tuple[str, pa.Table]]] = {kind: [] for kind in layout.KINDS}
    evidence: list[dict] = []
    t_compact = 0.0

    def put(layout_name: str, key: str, data: bytes, rows: int) -> None:
        store.put(key, data)
        files[layout_name].append((prefix + key, rows, len(data)))

    def flush_hour() -> None:
        nonlocal batch
        if not batch:
            return
        when = dt.datetime.fromtimestamp(batch[0]["time"] / 1000, dt.UTC).replace(minute=0, second=0)
        table = layout.to_table(batch, "events")
        put("hourly", f"events/{layout.partition_path(tenant, when)}{when:%Y%m%dT%H%M%SZ}.parquet",
            layout.parquet_bytes(table), len(batch))
        day["events"].append((f"{when:%H}", table))
        batch = []

    def flush_day(when: dt.datetime) -> None:
        nonlocal evidence, t_compact
        if evidence:  # one alert a day, in the hour of its first evidence event
            first = evidence[0]
            at = dt.datetime.fromtimestamp(first["time"] / 1000, dt.UTC).replace(minute=0, second=0)
            alert = bench_alert(tenant, f"{at:%Y-%m-%d}", evidence)
            table = layout.to_table([alert], "alerts")
            put("hourly", f"alerts/{layout.partition_path(tenant, at)}{at:%Y%m%dT%H%M%SZ}.parquet",
                layout.parquet_bytes(table), 1)
            day["alerts"].append((f"{at:%H}", table))
        evidence = []
        t0 = time.monotonic()
        for kind, sources in day.items():
            if sources:
                copy = compact.day_table(kind, sources)
                key = layout.compacted_key(kind, tenant, f"{when:%Y-%m-%d}", f"{when:%Y%m%dT%H0000Z}")
                put("compacted", key, layout.compacted_parquet_bytes(copy), copy.num_rows)
            sources.clear()
        t_compact += time.monotonic() - t0

    t0 = time.monotonic()
    last = None
    for e in sample.chained(tenant, n, start_ms, step_ms=step, seed=42):
        h = e["time"] // 3_600_000  # archive hour = event hour here (archived within seconds)
        if h != hour_of:
            flush_hour()
            if last is not None and h // 24 != hour_of // 24:
                flush_day(last)
            hour_of = h
        last = dt.datetime.fromtimestamp(h * 3600, dt.UTC)
        batch.append(e)
        if len(evidence) < 5 and e["class_uid"] == 3002 and e["status_id"] == 2:
            evidence.append(e)
    flush_hour()
    if last is not None:
        flush_day(last)
    return {"tenant": tenant, "files": files, "seconds": time.monotonic() - t0, "compact_s": t_compact,
            "events": n}


def bench_alert(tenant: str, day: str, evidence: list[dict]) -> dict:
    times = [e["time"] for e in evidence]
    user = evidence[0]["actor"]["user"]["name"]
    return {"alert_id": f"{tenant}-{day}", "rule_id": "AUTH-001", "title": "Repeated failed logons",
            "severity": "high", "severity_id": 4, "tenant_id": tenant, "entity_type": "user",
            "entity_value": user, "window_start": min(times), "window_end": max(times) + 1,
            "event_count": len(evidence),
            "evidence": [{"event_id": e["event_id"], "chain_id": e["chain"]["chain_id"],
                          "sequence": e["chain"]["sequence"], "event_hash": e["chain"]["event_hash"]}
                         for e in evidence],
            "first_seen": min(times), "last_seen": max(times), "mitre": ["T1110"], "compliance": None,
            "dedup_key": f"AUTH-001|{tenant}|{user}", "created_at": max(times) + 10}


def timed(fn: Callable[[], list], repeat: int) -> tuple[float, float, list]:
    t0 = time.monotonic()
    rows = fn()
    first = time.monotonic() - t0
    times = []
    for _ in range(repeat):
        t0 = time.monotonic()
        fn()
        times.append(time.monotonic() - t0)
    return first, statistics.median(times) if times else first, rows


def _normal(rows: list) -> list[tuple]:
    """Rows comparable across engines: Trino returns naive UTC timestamps, DuckDB aware ones."""
    def cell(v: object) -> str:
        if isinstance(v, dt.datetime) and v.tzinfo is not None:
            v = v.astimezone(dt.UTC).replace(tzinfo=None)
        return str(v)
    return [tuple(cell(v) for v in r) for r in rows]


def floor_conn(con: object, path: Path) -> object:
    """DuckDB over one local Parquet file per kind of the same rows, sorted by tenant, user and
    time (events) with large row groups: what one engine reads at best here."""
    import duckdb

    path.mkdir(parents=True, exist_ok=True)
    order = {"events": 'tenant, actor."user".name, "time"', "alerts": "tenant, window_start"}
    for kind in layout.KINDS:
        con.execute(f"COPY (SELECT * FROM {kind} ORDER BY {order[kind]}) TO '{path / kind}.parquet' "
                    "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)")
    floor = duckdb.connect()
    floor.execute("SET TimeZone = 'UTC'")
    for kind in layout.KINDS:
        floor.execute(f"CREATE VIEW {kind} AS SELECT * FROM read_parquet('{path / kind}.parquet')")
    for _name, sql in query.view_sql("duckdb"):
        floor.execute(sql)
    return floor


def file_stats(name: str, files: list[tuple[str, int, int]]) -> None:
    for kind in layout.KINDS:
        mine = [b for k, _n, b in files if f"/{kind}/" in "/" + k]
        if mine:
            print(f"{name:10} {kind:7} files {len(mine):7,}  bytes total {sum(mine) / 1e6:9,.1f} MB  "
                  "per file: "
                  f"mean {statistics.mean(mine) / 1e3:9,.1f} kB, min {min(mine) / 1e3:9,.1f} kB, "
                  f"max {max(mine) / 1e3:9,.1f} kB")


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--tenants", type=int, default=10)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2, help="processes building chains (one tenant each)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs after the first, per query and engine")
    ap.add_argument("--run", default=None, help="reuse an archive built by an earlier run with --keep")
    ap.add_argument("--keep", action="store_true", help="leave the archive for another run")
    ap.add_argument("--layouts", default="hourly,compacted",
                    help="which layouts to query (the floor always runs), e.g. compacted on a busy machine")
    ap.add_argument("--floor-dir", default="/tmp/auditflow-bench-floor",
                    help="where the floor's local files go")
    args = ap.parse_args(argv)
    cfg = config.load()
    run = args.run or uuid.uuid4().hex[:8]
    bucket, prefix = cfg.get("s3.worm_bucket"), f"bench/{run}/"
    layouts = args.layouts.split(",")
    schemas = {"hourly": f"bench_{run}", "compacted": f"bench_{run}_c"}
    tenants = [f"bench-t{i:02d}" for i in range(args.tenants)]
    per = args.events // args.tenants
    client = s3.client(cfg, "admin")
    store = S3Store(client, bucket, prefix)

    if not args.run:
        end_ms = (int(time.time() * 1000) // DAY_MS) * DAY_MS
        start_ms = end_ms - args.days * DAY_MS
        print(f"building {per * len(tenants):,} events ({len(tenants)} tenants x {per:,}, {args.days} days) "
              f"in s3://{bucket}/{prefix} with {args.workers} worker(s)", flush=True)
        t0 = time.monotonic()
        with mp.Pool(args.workers) as pool:
            built = pool.map(build_tenant, [(t, per, start_ms, args.days, bucket, prefix) for t in tenants])
        build_s = time.monotonic() - t0
        print(f"built in {build_s:.0f}s: {per * len(tenants) / build_s:,.0f} events/s (chain + Parquet + "
              f"upload, all workers), of which compaction {sum(b['compact_s'] for b in built):.0f} worker-s")
        files = {name: [f for b in built for f in b["files"][name]] for name in ("hourly", "compacted")}
        S3Store(s3.client(cfg, "sealer"), bucket, prefix).put(
            "bench.json", json.dumps({"start_ms": start_ms, "end_ms": end_ms, "tenants": tenants,
                                      "events": per * len(tenants)}).encode())
    else:
        meta = json.loads(store.get("bench.json"))
        start_ms, end_ms, tenants = meta["start_ms"], meta["end_ms"], meta["tenants"]
        built_n = meta.get("events")
        objs = [o for o in store.list() if o.key.endswith(".parquet")]
        files = {"hourly": [(o.key, 0, o.size) for o in objs if not o.key.startswith(layout.COMPACTED)],
                 "compacted": [(o.key, 0, o.size) for o in objs if o.key.startswith(layout.COMPACTED)]}
    events_n = sum(n for k, n, _b in files["hourly"] if "/events/" in "/" + k) if not args.run else built_n
    print(f"events: {events_n:,}" if events_n else "events: not recorded by the run that built it")
    for name, fs in files.items():
        file_stats(name, fs)

    t0 = time.monotonic()
    for schema in schemas.values():
        query.ensure_tables(cfg, bucket, prefix, schema)
    for kind in layout.KINDS if "hourly" in layouts else ():
        sql = f"CALL system.sync_partition_metadata('{schemas['hourly']}', '{kind}', 'ADD')"
        query.run_trino(cfg, sql, schemas["hourly"], role="admin")
    copies = [k.removeprefix(prefix) for k, _n, _b in files["compacted"]]
    n = query.sync_union(cfg, bucket, prefix, [], copies, schema=schemas["compacted"])
    print(f"trino: tables registered in {time.monotonic() - t0:.1f}s ({n} compacted partitions)")
    t0 = time.monotonic()
    cons = {"hourly": query.duckdb_conn(cfg, bucket, prefix, compacted=False),
            "compacted": query.duckdb_conn(cfg, bucket, prefix)}
    print(f"duckdb: opened both layouts in {time.monotonic() - t0:.1f}s")
    t0 = time.monotonic()
    floor = floor_conn(cons["compacted"], Path(args.floor_dir) / run)
    print(f"floor: local sorted copy written in {time.monotonic() - t0:.1f}s")

    since = dt.datetime.fromtimestamp(start_ms / 1000, dt.UTC)
    until = dt.datetime.fromtimestamp(end_ms / 1000, dt.UTC)
    alert_id = f"{tenants[0]}-{since + dt.timedelta(days=args.days // 2):%Y-%m-%d}"
    queries = {
        "one user, 30 days": (
            f"SELECT \"time\", operation, status_id, src_ip, event_id FROM user_activity "
            f"WHERE tenant = '{tenants[0]}' AND user_name = 'alice' "
            f"AND dt >= '{since:%Y-%m-%d}' AND dt < '{until:%Y-%m-%d}' "
            f"AND \"time\" >= TIMESTAMP '{since:%Y-%m-%d %H:%M:%S}' "
            f"AND \"time\" < TIMESTAMP '{until:%Y-%m-%d %H:%M:%S}' ORDER BY \"time\", event_id"),
        "failed logins per day per tenant":
            "SELECT tenant_id, day, failed_logins, users FROM failed_logins_per_day ORDER BY tenant_id, day",
        "one data subject's record accesses": (
            f"SELECT \"time\", user_name, operation, status_id, event_id FROM record_access "
            f"WHERE tenant = '{tenants[0]}' AND resource_uid = 'res-42' ORDER BY \"time\", event_id"),
        "an alert with its evidence events": (
            f"SELECT alert_id, rule_id, event_id, sequence, hash_matches, \"time\", user_name, operation "
            f"FROM alert_evidence WHERE alert_id = '{alert_id}' ORDER BY sequence"),
    }
    runs = [(f"{name} {engine}", fn) for name in layouts for engine, fn in (
        ("trino", lambda sql, s=schemas[name]: query.run_trino(cfg, sql, s, role="admin").rows),
        ("duckdb", lambda sql, c=cons[name]: query.run_duckdb(c, sql).rows))]
    runs.append(("floor duckdb", lambda sql: query.run_duckdb(floor, sql).rows))
    print(f"\n{'query':36} {'layout engine':18} {'first s':>8} {'median s':>9} {'rows':>8}")
    differ = []
    for qname, sql in queries.items():
        results = {}
        for label, fn in runs:
            first, med, out = timed(lambda f=fn, q=sql: f(q), args.repeat)
            results[label] = _normal(out)
            print(f"{qname:36} {label:18} {first:8.2f} {med:9.2f} {len(out):8,}", flush=True)
        base = next(iter(results.values()))
        bad = [label for label, rows in results.items() if rows != base]
        if not base:
            bad.append("(no rows at all)")
        print(f"{'':36} same rows in every layout and engine: {not bad}"
              + (f" (differ: {bad})" if bad else ""))
        differ += [(qname, b) for b in bad]
    for c in (*cons.values(), floor):
        c.close()

    if not args.keep:
        for schema in schemas.values():
            for view, _sql in query.view_sql("trino"):
                query.run_trino(cfg, f"DROP VIEW IF EXISTS {view}", schema, role="admin")
            for kind in layout.KINDS:
                for table in (kind, f"{kind}_open", f"{kind}_compacted"):
                    query.run_trino(cfg, f"DROP TABLE IF EXISTS {table}", schema, role="admin")
            query.run_trino(cfg, f'DROP SCHEMA IF EXISTS "{schema}"', schema, role="admin")
        print(f"dropped Trino schemas {', '.join(schemas.values())}; s3://{bucket}/{prefix} is locked and "
              "expires with the worm bucket's default retention")
    else:
        print(f"kept: rerun queries with --run {run}")
    if differ:
        print(f"FAIL: engines or layouts disagree: {differ}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
