"""Auditor query latency on a large sealed-layout archive, Trino beside DuckDB (sealing and
verification throughput: bench/archive_speed.py).

    .venv/bin/python bench/query.py                       # 10,000,000 events, 10 tenants, 30 days
    .venv/bin/python bench/query.py --events 200000

1. Builds the archive: per tenant one real SHA-256 chain (udfs.chain.link over
   auditflow.archive.sample events), written as the sealer writes it (typed zstd Parquet,
   sorted by chain and sequence, one file per tenant / date / hour) straight to S3 under
   s3://<staging bucket>/bench/<run>/ — an unlocked bucket, so the run can be deleted after.
2. Registers it in Trino (external tables + sync_partition_metadata) and opens it in DuckDB.
3. Times, on both engines, "all activity of one user over 30 days" (view user_activity) and
   "failed logins per day per tenant" (view failed_logins_per_day): the first run and the
   median of --repeat more; checks both engines return the same rows.

Prints file count and bytes per partition. Needs a running stack; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditflow import config, s3  # noqa: E402
from auditflow.archive import layout, query, sample  # noqa: E402
from auditflow.archive.store import S3Store  # noqa: E402

DAY_MS = 86_400_000


def build_tenant(job: tuple[str, int, int, int, str, str]) -> dict:
    """One tenant's chain over `days`, uploaded hour by hour; returns file stats."""
    tenant, n, start_ms, days, bucket, prefix = job
    cfg = config.load()
    client = s3.client(cfg, "sealer")
    step = max(1, days * DAY_MS // n)
    files, batch, hour_of = [], [], None
    t_gen = 0.0

    def flush() -> None:
        nonlocal batch
        if not batch:
            return
        when = dt.datetime.fromtimestamp(batch[0]["time"] / 1000, dt.UTC).replace(minute=0, second=0)
        key = f"{prefix}events/{layout.partition_path(tenant, when)}{when:%Y%m%dT%H%M%SZ}.parquet"
        data = layout.parquet_bytes(layout.to_table(batch, "events"))
        client.put_object(Bucket=bucket, Key=key, Body=data)
        files.append((key, len(batch), len(data)))
        batch = []

    t0 = time.monotonic()
    for e in sample.chained(tenant, n, start_ms, step_ms=step, seed=42):
        h = e["time"] // 3_600_000  # archive hour = event hour here (archived within seconds)
        if h != hour_of:
            flush()
            hour_of = h
        batch.append(e)
    flush()
    t_gen = time.monotonic() - t0
    return {"tenant": tenant, "files": files, "seconds": t_gen, "events": n}


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


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--tenants", type=int, default=10)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2, help="processes building chains (one tenant each)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs after the first, per query and engine")
    ap.add_argument("--run", default=None, help="reuse an archive built by an earlier run with --keep")
    ap.add_argument("--keep", action="store_true", help="leave the archive for another run")
    args = ap.parse_args(argv)
    cfg = config.load()
    run = args.run or uuid.uuid4().hex[:8]
    bucket, prefix = cfg.get("s3.staging_bucket"), f"bench/{run}/"
    schema = f"bench_{run}"
    end_ms = (int(time.time() * 1000) // DAY_MS) * DAY_MS
    start_ms = end_ms - args.days * DAY_MS
    tenants = [f"bench-t{i:02d}" for i in range(args.tenants)]
    per = args.events // args.tenants
    client = s3.client(cfg, "admin")

    if not args.run:
        print(f"building {per * len(tenants):,} events ({len(tenants)} tenants x {per:,}, {args.days} days) "
              f"in s3://{bucket}/{prefix} with {args.workers} worker(s)", flush=True)
        t0 = time.monotonic()
        with mp.Pool(args.workers) as pool:
            built = pool.map(build_tenant, [(t, per, start_ms, args.days, bucket, prefix) for t in tenants])
        build_s = time.monotonic() - t0
        files = [f for b in built for f in b["files"]]
        print(f"built in {build_s:.0f}s: {per * len(tenants) / build_s:,.0f} events/s "
              "(chain + Parquet + upload, all workers)")
    else:
        files = [(o.key, 0, o.size) for o in S3Store(client, bucket, "").list(prefix + "events/")]
    sizes = [b for _k, _n, b in files]
    rows = [n for _k, n, _b in files if n]
    print(f"files: {len(files):,} (one per tenant/date/hour partition); "
          f"bytes total {sum(sizes) / 1e6:,.1f} MB; "
          f"per partition: mean {statistics.mean(sizes) / 1e3:,.1f} kB, min {min(sizes) / 1e3:,.1f} kB, "
          f"max {max(sizes) / 1e3:,.1f} kB" + (f"; events per partition mean {statistics.mean(rows):,.0f}"
                                                 if rows else ""))

    t0 = time.monotonic()
    query.ensure_tables(cfg, bucket, prefix, schema)
    query.run_trino(cfg, f"CALL system.sync_partition_metadata('{schema}', 'events', 'ADD')", schema,
                    role="admin")
    print(f"trino: tables and {len(files):,} partitions registered in {time.monotonic() - t0:.1f}s")
    t0 = time.monotonic()
    con = query.duckdb_conn(cfg, bucket, prefix)
    print(f"duckdb: {len(files):,} files opened in {time.monotonic() - t0:.1f}s")

    since = dt.datetime.fromtimestamp(start_ms / 1000, dt.UTC)
    until = dt.datetime.fromtimestamp(end_ms / 1000, dt.UTC)
    q_user = (f"SELECT \"time\", operation, status_id, src_ip, event_id FROM user_activity "
              f"WHERE tenant = '{tenants[0]}' AND user_name = 'alice' "
              f"AND dt >= '{since:%Y-%m-%d}' AND dt < '{until:%Y-%m-%d}' "
              f"AND \"time\" >= TIMESTAMP '{since:%Y-%m-%d %H:%M:%S}' "
              f"AND \"time\" < TIMESTAMP '{until:%Y-%m-%d %H:%M:%S}' ORDER BY \"time\", event_id")
    q_failed = "SELECT tenant_id, day, failed_logins FROM failed_logins_per_day ORDER BY tenant_id, day"
    print(f"\n{'query':44} {'engine':7} {'first s':>8} {'median s':>9} {'rows':>8}")
    for name, sql in (("all activity of one user over 30 days", q_user),
                      ("failed logins per day per tenant", q_failed)):
        results = {}
        for engine, fn in (("trino", lambda s=sql: query.run_trino(cfg, s, schema, role="admin").rows),
                           ("duckdb", lambda s=sql: query.run_duckdb(con, s).rows)):
            first, med, out = timed(fn, args.repeat)
            results[engine] = out
            print(f"{name:44} {engine:7} {first:8.2f} {med:9.2f} {len(out):8,}", flush=True)
        same = _normal(results["trino"]) == _normal(results["duckdb"])
        print(f"{'':44} engines agree: {same}")
    con.close()

    if not args.keep:
        store = S3Store(client, bucket, prefix)
        for o in store.list():
            client.delete_object(Bucket=bucket, Key=prefix + o.key)
        for kind in layout.KINDS:
            query.run_trino(cfg, f"DROP TABLE IF EXISTS {kind}", schema, role="admin")
        for view, _sql in query.view_sql("trino"):
            query.run_trino(cfg, f"DROP VIEW IF EXISTS {view}", schema, role="admin")
        query.run_trino(cfg, f'DROP SCHEMA IF EXISTS "{schema}"', schema, role="admin")
        print(f"removed s3://{bucket}/{prefix} and Trino schema {schema} (sealed bench data in worm "
              "expires with its retention)")
    else:
        print(f"kept: rerun queries with --run {run}")


if __name__ == "__main__":
    main(sys.argv[1:])
