"""Throughput of jobs/normalize.py beside a same-run baseline job, and where its time goes.

    .venv/bin/python bench/normalize.py                       # 1,000,000 records, p=1 and p=2
    .venv/bin/python bench/normalize.py --records 200000 --parallelism 1

One corpus of mixed raw records (syslog, CloudTrail, Kubernetes audit, application events from
`auditflow.demo_corpus.build`) for six tenants, one of which ("heavy") has 70% of the traffic,
is produced once into fresh 2-partition raw topics; each tenant's records are spread over both
partitions, as `auditflow ingest` spreads them. Then, for each parallelism:

- **baseline**: a Flink SQL job with the normalize job's Kafka source (sql/ddl/normalize_raw_source.sql)
  and exactly-once Kafka sink (sql/ddl/kafka_bytes_sink.sql) and only Flink built-ins between
  them (SHA-256 of the value): what Flink itself moves on this machine;
- **normalize**: jobs/normalize.py on the same records, writing events, dead letters and filter
  notes to fresh topics.

Rate = output records / (last output record's Kafka timestamp - first one's), read back
read_committed, so only committed (exactly-once) output counts. Every run must account for every
raw record (events + dead letters + filtered = input), else the bench says so and fails.

A per-stage profile follows: the same records through the normalize steps in this process, one
step at a time (parse, validate, filter, mask, geo, user enrichment, canonical form, hash, Avro
encode), in microseconds per record and as a rate per core, and the job's remaining cost per
record (its measured time per record minus those steps) as framework overhead.

Needs a running stack (`auditflow stack up`) with two free task slots. Prints figures; asserts
nothing about time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import NewTopic

from auditflow import config, demo_corpus, flink, kafka, registry
from jobs import normalize as normalize_job
from udfs import chain, mask, normalize, sources, users, validate
from udfs.parse import PARSERS

REPO = Path(__file__).resolve().parents[1]
BASELINE_JOB = REPO / "bench" / "normalize_baseline_job.py"
FAMILIES = ("syslog", "cloudtrail", "k8s-audit", "app")
TENANTS = ("heavy", "t1", "t2", "t3", "t4", "t5")
WEIGHTS = (70, 6, 6, 6, 6, 6)
CHUNK = 200  # records of one tenant sent to one partition before moving to the next


def corpus(n: int, seed: int = 7) -> list[tuple[str, str, bytes]]:
    """n (family, tenant, raw bytes) in event-time order, over the last hour."""
    per_family = max(1, n // len(FAMILIES))
    built = demo_corpus.build(background=per_family, seed=seed, span_s=3600)
    rnd = random.Random(seed)
    tenants = rnd.choices(TENANTS, WEIGHTS, k=len(built))
    out = [(fmt, tenant, text.encode()) for (_t, fmt, text), tenant in zip(built, tenants, strict=True)]
    return out[:n]


def produce(cfg: config.Config, records: list[tuple[str, str, bytes]], run: str, partitions: int = 2
            ) -> dict[tuple[str, str], str]:
    """The raw topics of this run ((tenant, family) -> the tenant's topic), filled; keyed by
    tenant like ingest."""
    topics = {(tenant, fam): sources.raw_topic(tenant, fam, f"bench-{run}")
              for tenant in TENANTS for fam in FAMILIES}
    admin = kafka.admin(cfg)
    for fut in admin.create_topics([NewTopic(t, partitions, 1) for t in topics.values()]).values():
        fut.result()
    producer = Producer(kafka.producer_conf(cfg, "admin", **{
        "linger.ms": 20, "batch.size": 1_000_000, "queue.buffering.max.messages": 1_000_000}))
    sent: Counter = Counter()
    for fam, tenant, value in records:
        n = sent[(fam, tenant)]
        sent[(fam, tenant)] += 1
        while True:
            try:
                producer.produce(topics[(tenant, fam)], value, tenant.encode(),
                                 partition=n // CHUNK % partitions)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(120):
        sys.exit("bench: the raw records could not all be produced")
    return topics


def job_progress(cfg: config.Config, job_id: str) -> int:
    """Records the job's vertices have written so far, the tick source aside: it rises while
    the job reads, parses or links, also when nothing is committed yet (with --chains tenant a
    burst waits whole in state until the source goes idle and the watermark passes it)."""
    vertices = flink.rest(cfg).get(f"/jobs/{job_id}", timeout=10).json()["vertices"]
    return sum(int(v["metrics"]["write-records"]) for v in vertices if "normalize_ticks" not in v["name"])


class Output:
    """Reads output topics read_committed until `expected` records arrived (or neither output
    nor the job's progress moved for `idle_s`): counts per topic and the first and last Kafka
    timestamp."""

    def __init__(self, cfg: config.Config, topics: list[str]):
        self.consumer = Consumer(kafka.client_conf(cfg, "admin", **{
            "group.id": f"bench-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
            "isolation.level": "read_committed", "auto.offset.reset": "earliest"}))
        self.consumer.subscribe(topics)
        self.counts: Counter = Counter()
        self.first = self.last = None

    def wait(self, expected: int, idle_s: float, say, progress=lambda: 0) -> int:
        last_progress = shown = time.monotonic()
        total, done = 0, progress()
        while total < expected and time.monotonic() - last_progress < idle_s:
            batch = self.consumer.consume(10_000, 0.5)
            for msg in batch:
                if msg.error():
                    continue
                ts = msg.timestamp()[1]
                self.first = ts if self.first is None else min(self.first, ts)
                self.last = ts if self.last is None else max(self.last, ts)
                self.counts[msg.topic()] += 1
            if batch:
                total = sum(self.counts.values())
                last_progress = time.monotonic()
            if time.monotonic() - shown > 10:
                now_done = progress()
                if now_done > done:
                    done, last_progress = now_done, time.monotonic()
                say(f"    {total:,} of {expected:,} records out ({done:,} written inside the job)")
                shown = time.monotonic()
        self.consumer.close()
        return total


def run_job(cfg: config.Config, kind: str, topics: dict[tuple[str, str], str], n: int, parallelism: int,
            say, chains: str = "tenant") -> dict:
    run = uuid.uuid4().hex[:6]
    raw = ",".join(topics.values())
    if kind == "baseline":
        outs = [f"bench.{run}.baseline"]
        job, args = BASELINE_JOB, ["--raw-topics", raw, "--out-topic", outs[0], "--group-id", f"bench-{run}"]
    else:
        outs = [f"bench.{run}.events", f"bench.{run}.dlq", f"bench.{run}.filtered"]
        job = REPO / "jobs" / "normalize.py"
        args = ["--raw-topics", raw, "--events-topic", outs[0], "--dlq-topic", outs[1],
                "--filtered-topic", outs[2], "--group-id", f"bench-{run}", "--chains", chains]
    admin = kafka.admin(cfg)
    for fut in admin.create_topics([NewTopic(t, 2, 1) for t in outs]).values():
        fut.result()
    # the job acts as the normalize role: its grants (and its output schemas) on this run's names
    names = {"audit.raw.*": list(topics.values()), "audit.events": outs[:1], "audit.dlq": outs[1:2],
             "audit.filtered": outs[2:3]}
    kafka.grant_run(cfg, names, f"bench-{run}")
    if kind == "normalize":
        registry.register(cfg, outs[0], "audit_event")
        registry.register(cfg, outs[1], "dead_letter")
    output = Output(cfg, outs)
    job_id = flink.start(cfg, job, args, say=lambda _m: None,
                         options={"parallelism.default": str(parallelism)})
    try:
        got = output.wait(n, idle_s=120, say=say, progress=lambda: job_progress(cfg, job_id))
        # records each subtask linked (normalize) or wrote (the baseline: one chained vertex)
        if kind == "normalize":
            subtasks = flink.subtask_counts(cfg, job_id, "users-chain-lineage", "read-records",
                                            output.counts[outs[0]], wait_s=30)
        else:
            subtasks = flink.subtask_counts(cfg, job_id, "Source", "write-records", n, wait_s=30)
    finally:
        flink.cancel(cfg, job_id)
    seconds = max((output.last - output.first) / 1000, 1e-3) if output.first is not None else float("nan")
    if got != n:
        sys.exit(f"bench: {kind} at parallelism {parallelism} wrote {got:,} records for {n:,} raw "
                 f"records ({dict(output.counts)}): the counts do not reconcile")
    return {"kind": kind, "p": parallelism, "records": got, "seconds": seconds, "rate": got / seconds,
            "counts": {t.rsplit(".", 1)[1]: c for t, c in output.counts.items()}, "subtasks": subtasks}


def _or_none(fn, x):
    try:
        return fn(x)
    except Exception:  # noqa: BLE001 - rejects are part of the load, as in the job
        return None


def profile(cfg: config.Config, records: list[tuple[str, str, bytes]], limit: int = 50_000) -> dict:
    """Microseconds per record of each normalize step, one step at a time over the same records."""
    settings = {"schema_ids": {"event": 1, "dlq": 2},
                "schemas": {"event": normalize_job.load_schema("audit_event"),
                            "dlq": normalize_job.load_schema("dead_letter")},
                "normalize": dict(cfg.section("normalize")), "limits": dict(cfg.values.get("limits", {})),
                "filter": dict(cfg.values.get("filter", {})), "mask": dict(cfg.values.get("mask", {}))}
    norm = normalize.Normalizer(settings)
    sample = records[:limit]
    raws = [normalize.raw_record(topic=sources.raw_topic(tenant, fam), partition=i % 2, offset=i,
                                 key=tenant.encode(), value=value, timestamp_ms=int(time.time() * 1000),
                                 headers={})
            for i, (fam, tenant, value) in enumerate(sample)]
    times: dict[str, float] = {}

    def timed(name: str, fn, items):
        t0 = time.perf_counter()
        out = [fn(x) for x in items]
        times[name] = (time.perf_counter() - t0) / len(items) * 1e6
        return out

    parsed = timed("parse", lambda r: _or_none(PARSERS[r.source], r), raws)

    def checks(pair):
        r, e = pair
        validate.check_raw(r, norm.limits)
        validate.check_event(e, r, norm.limits)
        return e
    pairs = [(r, e) for r, e in zip(raws, parsed, strict=True) if e is not None]
    events = [e for e in timed("validate", lambda p: _or_none(checks, p), pairs) if e is not None]
    timed("filter", lambda e: validate.should_filter(e, norm.filters), events)
    events = timed("mask", lambda e: mask.mask_event(e, norm.mask_policy)[0], events)

    def geo(e):
        ip = (e.get("src_endpoint") or {}).get("ip")
        found = norm.geo.lookup(ip) if ip else None
        if found is not None:
            e["enrichment"] = {**(e.get("enrichment") or {}), "geo": found}
        return e
    events = timed("geo", geo, events)
    directory = {}
    for name in ("bob", "carol", "erin", "frank", "grace", "alice", "mallory", "dave"):
        key, value = users.encode_record(f"u-{name}", [users.UserVersion(uid=f"u-{name}", name=name)])
        directory.update(normalize.directory_entries(key, value))

    def user(e):
        u = (e.get("actor") or {}).get("user") or {}
        record = (directory.get(u.get("uid") or "")
                  or directory.get(normalize.NAME_KEY + (u.get("name") or "")))
        profile_ = users.profile_from_record(record, e["time"])
        e["enrichment"] = {**(e.get("enrichment") or {}), "user": profile_}
        return e
    events = timed("user enrichment", user, events)
    canon = timed("canonical form", chain.canonical_bytes, events)
    prev = bytes(32)
    timed("hash", lambda b: hashlib.sha256(prev + b).hexdigest(), canon)
    linked = [chain.link(e, None) for e in events]
    timed("encode", lambda e: norm.encode("event", e), linked)
    return {"stages": times, "sample": len(sample), "events": len(events)}


def table(rows: list[dict], profile_: dict, cores: int) -> str:
    base = {r["p"]: r["rate"] for r in rows if r["kind"] == "baseline"}
    lines = [f"cores: {cores}", "",
             "| job | parallelism | records | seconds | records/s | of baseline | records per subtask |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        share = f"{100 * r['rate'] / base[r['p']]:.1f}%" if r["kind"] != "baseline" and r["p"] in base else ""
        lines.append(f"| {r['kind']} | {r['p']} | {r['records']:,} | {r['seconds']:.1f} | {r['rate']:,.0f} "
                     f"| {share} | {', '.join(f'{c:,}' for c in r['subtasks'])} |")
    for r in rows:
        if r["kind"] == "normalize":
            counts = ", ".join(f"{k} {v:,}" for k, v in r["counts"].items())
            lines.append(f"\nnormalize p={r['p']} output: {counts}")
    stages = profile_["stages"]
    total = sum(stages.values())
    lines += ["", f"per-stage profile ({profile_['sample']:,} records, {profile_['events']:,} events, "
              "one core)",
              "| stage | µs/record | records/s per core | share |", "| --- | ---: | ---: | ---: |"]
    job1 = next((r for r in rows if r["kind"] == "normalize" and r["p"] == 1), None)
    job_us = 1e6 / job1["rate"] if job1 else None
    whole = job_us or total
    for name, us in stages.items():
        lines.append(f"| {name} | {us:.1f} | {1e6 / us:,.0f} | {100 * us / whole:.0f}% |")
    lines.append(f"| all steps | {total:.1f} | {1e6 / total:,.0f} | {100 * total / whole:.0f}% |")
    if job_us:
        lines.append(f"| framework overhead (job at p=1 minus the steps) | {job_us - total:.1f} | | "
                     f"{100 * (job_us - total) / job_us:.0f}% |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=1_000_000, help="raw records (default 1,000,000)")
    p.add_argument("--parallelism", default="1,2", help="comma-separated parallelisms (default 1,2)")
    p.add_argument("--only", choices=["baseline", "normalize"], help="run one of the two jobs")
    p.add_argument("--profile-only", action="store_true", help="only the per-stage profile (no stack needed)")
    p.add_argument("--chains", choices=["tenant", "partition"], default="tenant",
                   help="the normalize job's --chains (default: tenant, the job's default)")
    p.add_argument("--profile-records", type=int, default=50_000, help="records in the per-stage profile")
    p.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = p.parse_args()
    cfg = config.load()
    say = print
    t0 = time.monotonic()
    say(f"building {args.records:,} raw records ({', '.join(FAMILIES)}; tenants {', '.join(TENANTS)})")
    records = corpus(args.records)
    say(f"  {Counter(f for f, _, _ in records)}; {Counter(t for _, t, _ in records).most_common(2)} ...")
    rows = []
    if not args.profile_only:
        topics = produce(cfg, records, uuid.uuid4().hex[:6])
        say(f"  produced to {', '.join(topics.values())} in {time.monotonic() - t0:.0f}s")
    for par in [] if args.profile_only else [int(x) for x in args.parallelism.split(",")]:
        for kind in ("baseline", "normalize"):
            if args.only and kind != args.only:
                continue
            say(f"{kind}, parallelism {par}")
            row = run_job(cfg, kind, topics, len(records), par, say, args.chains)
            say(f"  {row['records']:,} records in {row['seconds']:.1f}s: {row['rate']:,.0f} records/s")
            rows.append(row)
    say("profiling the normalize steps in this process")
    prof = profile(cfg, records, args.profile_records)
    print()
    print(table(rows, prof, os.cpu_count() or 0))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "profile": prof, "cores": os.cpu_count(),
                                         "at": datetime.now(UTC).isoformat()}, indent=2))


if __name__ == "__main__":
    main()
