"""Produce-to-alert latency of jobs/detect.py at a steady event rate, all rules vs one trivial rule.

    .venv/bin/python bench/detect_latency.py                    # 2,000 events/s, 60 s per run
    .venv/bin/python bench/detect_latency.py --rate 2000 --seconds 90
    .venv/bin/python bench/detect_latency.py --skip-baseline --sustained 2000,4000,8000,16000

Two runs in one invocation, each with its own events/alerts topics and a fresh detect job on the
session cluster: the *baseline* runs one trivial rule (BENCH-001: an event whose api_operation is
`bench.marker`), the *all rules* run every rule in sql/detections/ plus BENCH-001. The load is
canonical Avro events (schema from the registry, Confluent wire format) for 50 tenants: logons
(10% failed), API reads and writes, Kubernetes requests; 5 marker events per second ride along,
each raising its own alert. Latency = time the alert is read (read_committed) minus the marker's
event time, which is its produce time. In the all-rules run, a five-failure burst of a fresh user
every 2 s also measures a MATCH_RECOGNIZE alert (AUTH-001) from its fifth failure. Then the
sustained-rate search: all rules at each `--sustained` rate in turn, up to the first at which the
marker alerts' p99 reaches 2 s (or the load generator cannot keep the rate); the highest rate
that held is printed.

Needs a running stack (`auditflow stack up`) and a free task slot. Prints p50/p90/p99/max per
run; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer

from auditflow import config, flink, kafka, registry, rules_runner
from udfs import wire
from udfs.detect import fixtures

REPO = Path(__file__).resolve().parents[1]
MARKER_RULE = """-- id: BENCH-001
-- title: Benchmark marker
-- description: One alert per marker event (bench/detect_latency.py).
-- severity: informational
-- mitre: T0000
-- compliance: none
-- dedup_window: 1s
-- dedup_key: tenant_id, entity_value
-- owner: bench
SELECT tenant_id, 'marker' AS entity_type, resource_uid AS entity_value,
    event_time AS window_start, event_time + INTERVAL '0.001' SECOND AS window_end,
    CAST(1 AS BIGINT) AS event_count, ARRAY[ROW(event_id, chain_id, chain_seq, event_hash)] AS evidence,
    event_time AS first_seen, event_time AS last_seen
FROM events WHERE api_operation = 'bench.marker'
"""


SUSTAINED_P99_MS = 2000


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Load:
    """Steady-rate producer of canonical events, pre-encoded in Confluent wire format."""

    def __init__(self, cfg: config.Config, topic: str, rate: int, bursts: bool):
        schema = json.loads(registry.load_schema("audit_event").schema_str)
        self.schema = wire.plain_schema(schema)
        self.schema_id = registry.register(cfg, topic, "audit_event")
        self.producer = Producer(kafka.producer_conf(cfg, "admin", **{"linger.ms": 5}))
        self.topic, self.rate, self.bursts = topic, rate, bursts
        self.rnd = random.Random(7)
        self.seq: dict[str, int] = {}
        self.markers: dict[str, int] = {}  # marker id -> produce/event time (ms)
        self.bursts_sent: dict[str, int] = {}  # user -> time of the fifth failure
        self.stop = threading.Event()
        self.sent = 0

    def _event(self, tenant: str, now: int, **flat) -> None:
        seq = self.seq[tenant] = self.seq.get(tenant, 0) + 1
        event = fixtures.avro_event({"event_id": f"{tenant}-{seq}", "tenant_id": tenant, "event_time": now,
                                     **flat}, seq)
        value = wire.encode(self.schema_id, self.schema, event)
        self.producer.produce(self.topic, key=tenant.encode(), value=value)
        self.sent += 1

    def _background(self, now: int) -> None:
        tenant = f"bench-{self.rnd.randrange(50)}"
        user = f"user{self.rnd.randrange(500)}"
        kind = self.rnd.random()
        if kind < 0.3:
            self._event(tenant, now, class_uid=3002, activity_id=1, status_id=2 if kind < 0.03 else 1,
                        user_name=user, src_ip=f"198.51.100.{self.rnd.randrange(250)}",
                        product_name="OpenSSH")
        elif kind < 0.7:
            self._event(tenant, now, class_uid=6003, activity_id=self.rnd.choice((1, 2, 2, 3)),
                        status_id=1, user_name=user, api_operation="GetObject",
                        api_service="s3.amazonaws.com", product_name="CloudTrail",
                        resource_type="AWS::S3::Bucket", resource_name="data")
        else:
            self._event(tenant, now, class_uid=6003, activity_id=2, status_id=1, user_name=user,
                        user_type="User", api_operation="get", product_name="Kubernetes",
                        resource_type="pods", resource_name=f"web-{self.rnd.randrange(20)}")

    def run(self) -> None:
        start = time.monotonic()
        n = marker_n = burst_n = 0
        while not self.stop.is_set():
            elapsed = time.monotonic() - start
            now = int(time.time() * 1000)
            while n < elapsed * self.rate:
                self._background(now)
                n += 1
            if marker_n < elapsed * 5:
                mid = f"m{marker_n}"
                self.markers[mid] = now
                self._event(f"bench-{marker_n % 50}", now, class_uid=6003, activity_id=99, status_id=1,
                            api_operation="bench.marker", resource_uid=mid)
                marker_n += 1
            if self.bursts and burst_n < elapsed / 2:
                user = f"burst{burst_n}"
                for _ in range(5):
                    self._event("bench-bursts", now, class_uid=3002, activity_id=1, status_id=2,
                                user_name=user)
                self.bursts_sent[user] = now
                burst_n += 1
            self.producer.poll(0)
            time.sleep(0.005)
        self.producer.flush(30)


def submit(cfg: config.Config, topic: str, alerts: str, late: str, rules_dir: Path, run: str) -> str:
    env_cfg = config.load(None, None, (f"detect.rules_dir={rules_dir}",))
    cmd = flink.run_command(cfg, REPO / "jobs" / "detect.py",
                            ["--events-topic", topic, "--alerts-topic", alerts, "--late-topic", late,
                             "--group-id", f"bench-detect-{run}", "--startup-mode", "latest-offset"],
                            detached=True)
    proc = subprocess.run(cmd, env=flink.cli_env(env_cfg), capture_output=True, text=True, timeout=900,
                          cwd=REPO)
    out = proc.stdout + proc.stderr
    m = re.search(r"JobID ([0-9a-f]{32})", out)
    if proc.returncode != 0 or not m:
        sys.exit(f"flink run failed:\n{out[-3000:]}")
    return m.group(1)


def wait_running(cfg: config.Config, job_id: str, timeout_s: float = 600) -> None:
    """Until every task of the job runs (Python workers take a while to start)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = flink.rest(cfg).get(f"/jobs/{job_id}", timeout=5).json()
        if job["state"] in ("FAILED", "CANCELED"):
            sys.exit(f"job {job_id} {job['state']}")
        if all(v["status"] in ("RUNNING", "FINISHED") for v in job["vertices"]):
            return
        time.sleep(2)
    sys.exit(f"job {job_id} not running after {timeout_s:.0f}s")


def deployed(rules_dir: Path) -> str:
    """What the detect job runs from `rules_dir`: native rules and the imported Sigma rules that
    have fixtures (pending ones and [detect] disabled are left out, as in the job)."""
    rules = rules_runner.enabled_rules(config.load(None, None, (f"detect.rules_dir={rules_dir}",)))
    sigma = sum(1 for r in rules if r.id.startswith("SIGMA-"))
    return f"{len(rules)} rules: {len(rules) - sigma} native, {sigma} imported from Sigma"


def measure(cfg: config.Config, name: str, rules_dir: Path, rate: int, seconds: int, bursts: bool) -> dict:
    run = uuid.uuid4().hex[:8]
    topic, alerts, late = (f"bench.detect.{run}.{kind}" for kind in ("events", "alerts", "late"))
    kafka.apply_topics(cfg, [kafka.TopicSpec(t, 3, 1, {"retention.ms": "3600000"})
                             for t in (topic, alerts, late)])
    # the detect job acts as its role: its grants and output schema on this run's names
    kafka.grant_run(cfg, {"audit.events": [topic], "audit.alerts": [alerts], "audit.detect.late": [late]},
                    f"bench-detect-{run}")
    registry.register(cfg, alerts, "alert")
    print(f"[{name}] submitting detect job ({rules_dir})", flush=True)
    job_id = submit(cfg, topic, alerts, late, rules_dir, run)
    try:
        wait_running(cfg, job_id)
        consumer = Consumer(kafka.client_conf(cfg, "admin", **{
            "group.id": f"bench-read-{run}", "auto.offset.reset": "earliest",
            "isolation.level": "read_committed", "enable.auto.commit": False}))
        consumer.subscribe([alerts])
        decode = registry.Decoder(cfg, "alert", "analyst")
        load = Load(cfg, topic, rate, bursts)
        thread = threading.Thread(target=load.run, daemon=True)
        thread.start()
        warmup_until = time.time() + 15  # the job catches up on its first checkpoints
        end = time.monotonic() + 15 + seconds
        markers: list[float] = []
        brute: list[float] = []
        while time.monotonic() < end + 5:
            if time.monotonic() >= end:
                load.stop.set()
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            got = time.time() * 1000
            alert = decode(msg.value())
            if alert["rule_id"] == "BENCH-001" and alert["entity_value"] in load.markers:
                sent = load.markers[alert["entity_value"]]
                if sent / 1000 >= warmup_until:
                    markers.append(got - sent)
            elif alert["rule_id"] == "AUTH-001" and alert["entity_value"] in load.bursts_sent:
                sent = load.bursts_sent[alert["entity_value"]]
                if sent / 1000 >= warmup_until:
                    brute.append(got - sent)
        thread.join(30)
        consumer.close()
        produced = load.sent
    finally:
        flink.rest(cfg).patch(f"/jobs/{job_id}", params={"mode": "cancel"}, timeout=10)
        time.sleep(5)  # let the cancelled job release the topics before they go
        admin = kafka.admin(cfg)  # keep the client alive until the deletion is answered
        for fut in admin.delete_topics([topic, alerts, late], operation_timeout=30).values():
            fut.result()
    return {"name": name, "target": rate, "produced": produced, "rate": produced / (15 + seconds),
            "marker": markers,
            "brute": brute, "markers_sent": sum(1 for t in load.markers.values() if t / 1000 >= warmup_until)}


def report(r: dict) -> None:
    print(f"\n{r['name']}: {r['produced']} events, {r['rate']:.0f} events/s produced")
    for key, label in (("marker", "marker alert (single-event rule)"),
                       ("brute", "brute force (MATCH_RECOGNIZE)")):
        values = r[key]
        if not values:
            if key == "marker":
                print(f"  {label}: no alerts received ({r['markers_sent']} markers sent)")
            continue
        print(f"  {label}: n={len(values)}  p50={percentile(values, 50):.0f} ms"
              f"  p90={percentile(values, 90):.0f} ms  p99={percentile(values, 99):.0f} ms"
              f"  max={max(values):.0f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=int, default=2000, help="events per second (default 2000)")
    p.add_argument("--seconds", type=int, default=60, help="measured seconds per run, after 15 s warm-up")
    p.add_argument("--sustained", default="2000,4000,8000",
                   help="input rates (events/s) to try with all rules, lowest first, for the highest "
                        "one at which the marker alerts' p99 stays under 2 s ('' skips; default %(default)s)")
    p.add_argument("--skip-baseline", action="store_true", help="only the sustained-rate search")
    args = p.parse_args()
    cfg = config.load()
    with tempfile.TemporaryDirectory(prefix="bench-detect-") as tmp:
        baseline_dir = Path(tmp) / "baseline"
        all_dir = Path(tmp) / "all"
        baseline_dir.mkdir()
        shutil.copytree(rules_runner.RULES_DIR, all_dir,
                        ignore=shutil.ignore_patterns("reference", "README.md"))
        for d in (baseline_dir, all_dir):
            (d / "BENCH-001_marker.sql").write_text(MARKER_RULE)
        results = [] if args.skip_baseline else [
            measure(cfg, "baseline (1 trivial rule)", baseline_dir, args.rate, args.seconds, False),
            measure(cfg, f"all rules ({deployed(all_dir)})", all_dir, args.rate, args.seconds, True)]
        sustained = []
        for rate in [int(x) for x in args.sustained.split(",") if x]:
            r = measure(cfg, f"all rules at {rate} events/s", all_dir, rate, args.seconds, True)
            sustained.append(r)
            if not r["marker"] or percentile(r["marker"], 99) >= SUSTAINED_P99_MS \
                    or r["rate"] < 0.9 * rate:
                break  # over the limit, or the load generator could not keep the rate
    print(f"\ndetect latency, produce -> alert read (read_committed), {args.rate} events/s target")
    for r in results:
        report(r)
    if sustained:
        print(f"\nsustained input rate, all rules (marker p99 under {SUSTAINED_P99_MS} ms):")
        print("| target events/s | produced events/s | marker p50 ms | marker p99 ms | brute force p99 ms |")
        print("| ---: | ---: | ---: | ---: | ---: |")
        for r in sustained:
            m, b = r["marker"], r["brute"]
            print(f"| {r['target']:,} | {r['rate']:,.0f} | {percentile(m, 50) if m else float('nan'):.0f} "
                  f"| {percentile(m, 99) if m else float('nan'):.0f} "
                  f"| {percentile(b, 99) if b else float('nan'):.0f} |")
        held = [r for r in sustained if r["marker"] and percentile(r["marker"], 99) < SUSTAINED_P99_MS
                and r["rate"] >= 0.9 * r["target"]]
        print(f"highest sustained rate with p99 < {SUSTAINED_P99_MS} ms: "
              + (f"{held[-1]['rate']:,.0f} events/s" if held else "none of the rates tried")
              + ("" if len(held) < len(sustained) else " (the highest tried; try higher rates)"))


if __name__ == "__main__":
    main()
