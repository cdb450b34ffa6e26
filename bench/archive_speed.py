"""Sealing and verification throughput on S3, each beside a baseline over the same bytes,
measured in the same run.

    source /work/scratch/stackenv.sh 19000 /work/scratch/s-speed   # or any running stack
    .venv/bin/auditflow stack up --only s3
    .venv/bin/python bench/archive_speed.py --events 200000 --tenants 4 --workers 2

1. Stages --events Confluent-wire Avro events as the archive job does (Parquet files of one
   `value` column, 50,000 records each), one SHA-256 chain per tenant (auditflow.archive.sample),
   under s3://<staging bucket>/bench/<run>/seal-staging/: all in one sealing period.
2. Baseline for sealing: copies every staged object S3 -> S3 (get + put), timed.
3. Seals the period with auditflow.archive.seal.Sealer into s3://<worm bucket>/bench/<run>/
   (COMPLIANCE retention of 10 minutes, so the run's data expires).
4. Verifies it with auditflow.archive.verify.Verifier (every hash and link recomputed).
5. Baseline for verification: reads every sealed object (files and digest) and SHA-256s it;
   --repeat times, with verification, the minimum of each reported (a shared machine).

Prints events/s of each, the CPU seconds (this process and its workers), and the ratio to the
baseline. Asserts only that the seal sealed every event and verification passed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import resource
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditflow import config, s3  # noqa: E402
from auditflow.archive import layout, sample  # noqa: E402
from auditflow.archive.seal import AvroDecoder, Sealer  # noqa: E402
from auditflow.archive.store import S3Store  # noqa: E402
from auditflow.archive.verify import Verifier  # noqa: E402
from udfs import wire  # noqa: E402

PER_FILE = 50_000


def stage_events(client, bucket: str, prefix: str, tenants: list[str], n: int, hour: dt.datetime) -> int:
    """n events over the tenants (one chain each) staged as the archive job writes them."""
    parsed = wire.plain_schema(layout.load_avsc("events"))
    start_ms = int(hour.timestamp() * 1000)
    files = 0
    for t in tenants:
        chunk: list[bytes] = []
        for e in sample.chained(t, n // len(tenants), start_ms, step_ms=1, seed=3):
            chunk.append(wire.encode(1, parsed, e))
            if len(chunk) == PER_FILE:
                _stage(client, bucket, f"{prefix}events/{layout.partition_path(t, hour)}part-{files}", chunk)
                chunk, files = [], files + 1
        if chunk:
            _stage(client, bucket, f"{prefix}events/{layout.partition_path(t, hour)}part-{files}", chunk)
            files += 1
    return files


def _stage(client, bucket: str, key: str, values: list[bytes]) -> None:
    buf = io.BytesIO()
    pq.write_table(pa.table({"value": pa.array(values, pa.binary())}), buf, compression="zstd")
    client.put_object(Bucket=bucket, Key=key, Body=buf.getvalue())


def measured(fn: Callable[[], object]) -> tuple[float, float, object]:
    """(wall s, CPU s of this process and its reaped children, result)."""
    def cpu() -> float:
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    c0, t0 = cpu(), time.monotonic()
    out = fn()
    return time.monotonic() - t0, cpu() - c0, out


def copy_objects(client, bucket: str, src: S3Store, dst_prefix: str) -> int:
    """The sealing baseline: get and put again every staged object."""
    total = 0
    for o in src.list():
        data = src.get(o.key)
        client.put_object(Bucket=bucket, Key=dst_prefix + o.key, Body=data)
        total += len(data)
    return total


def read_and_hash(store: S3Store) -> int:
    """The verification baseline: read every sealed object and SHA-256 it."""
    total = 0
    for o in store.list():
        data = store.get(o.key)
        hashlib.sha256(data).hexdigest()
        total += len(data)
    return total


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--tenants", type=int, default=4, help="one chain and one sealed file each")
    ap.add_argument("--workers", type=int, default=2, help="Verifier worker processes (1: none)")
    ap.add_argument("--repeat", type=int, default=3, help="verify and read+sha runs; the minimum counts")
    args = ap.parse_args(argv)
    cfg = config.load()
    client = s3.client(cfg, "admin", timeout_s=120)
    bucket_s, bucket_w = cfg.get("s3.staging_bucket"), cfg.get("s3.worm_bucket")
    run = uuid.uuid4().hex[:8]
    stage_prefix, worm_prefix = f"bench/{run}/seal-staging/", f"bench/{run}/"
    hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    tenants = [f"bench-seal-{run}-{i}" for i in range(args.tenants)]
    n = args.events // args.tenants * args.tenants
    print(f"staging {n:,} events ({args.tenants} tenants) in s3://{bucket_s}/{stage_prefix}", flush=True)
    files = stage_events(client, bucket_s, stage_prefix, tenants, n, hour)
    staging = S3Store(client, bucket_s, stage_prefix)
    print(f"staged {files} files, {sum(o.size for o in staging.list()) / 1e6:,.1f} MB")

    schema = layout.load_avsc("events")
    key = Ed25519PrivateKey.generate()
    worm = S3Store(client, bucket_w, worm_prefix)
    sealer = Sealer(staging, worm, key, AvroDecoder(lambda _sid: json.dumps(schema)),
                    period_s=3600, grace_s=0, retention_s=600)
    rows = []
    w, c, nbytes = measured(lambda: copy_objects(client, bucket_s, staging, f"bench/{run}/copy/"))
    rows.append(("copy staged bytes S3->S3 (baseline)", w, c))
    w, c, res = measured(lambda: sealer.seal(hour, hour + dt.timedelta(hours=1),
                                             now=hour + dt.timedelta(hours=2)))
    assert res.events == n and not res.breaks, (res.events, res.breaks)
    rows.append(("seal (decode, hash, link, Parquet, upload, digest)", w, c))

    verifier = Verifier(worm, key.public_key(), workers=args.workers)
    best: dict[str, tuple[float, float]] = {}
    for _ in range(args.repeat):
        for name, fn in (("read sealed bytes + SHA-256 (baseline)", lambda: read_and_hash(worm)),
                         (f"verify, {args.workers} worker(s) (every hash and link)", verifier.run)):
            w, c, out = measured(fn)
            if hasattr(out, "ok"):
                assert out.ok and out.events == n, out.problem
            if name not in best or w < best[name][0]:
                best[name] = (w, c)
    rows += [(name, w, c) for name, (w, c) in best.items()]

    print(f"\n{'':56} {'wall s':>8} {'CPU s':>8} {'events/s':>10}")
    for name, w, c in rows:
        print(f"{name:56} {w:8.2f} {c:8.2f} {n / w:10,.0f}")
    print(f"\nseal / copy baseline: {rows[0][1] / rows[1][1]:.2f} of the baseline's speed; "
          f"verify / read+sha baseline: {rows[2][1] / rows[3][1]:.2f}")
    for prefix in (stage_prefix, f"bench/{run}/copy/"):
        store = S3Store(client, bucket_s, prefix)
        for o in store.list():
            store.delete(o.key)
    print(f"removed the staging copies; sealed data in s3://{bucket_w}/{worm_prefix} expires with "
          "its retention")


if __name__ == "__main__":
    main(sys.argv[1:])
