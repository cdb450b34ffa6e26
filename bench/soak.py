"""Soak: the normalize and detect jobs at a steady rate for a long run, memory and state over time.

    .venv/bin/python bench/soak.py                        # 30 minutes at 300 raw records/s
    .venv/bin/python bench/soak.py --minutes 5 --rate 500 --sample-s 15
    .venv/bin/python bench/soak.py --json soak.json       # the samples as JSON too

Starts jobs/normalize.py and jobs/detect.py (every rule) on fresh topics of their own, then
produces raw records at `--rate` per second: SSH logins (one in five failed) of 5,000 users over
20 tenants from 50,000 addresses, and Kubernetes secret reads of 2,000 users over 10,000 secrets,
so per-key state (brute-force windows, first-seen counts of DATA-002, alert suppression) meets
ever new keys, the case that grows without bound when nothing expires it. The detect job runs with
`detect.state_ttl` of `--detect-state-ttl` (10 min), so after that long its state must level off.

Every `--sample-s` it prints: records produced, events out (audit.events high watermark), the
TaskManager's resident memory with its Python workers, the broker's, and per job the latest
completed checkpoint's full state size and duration. At the end, start (first sample after
`--warmup-s`) against end, with the growth of each; the jobs are cancelled and the topics
deleted. Needs a running stack (`auditflow stack up`) with four free task slots (normalize
takes two, detect two). Asserts nothing; it measures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from auditflow import config, flink, kafka, registry
from auditflow.stack import process
from udfs import sources

REPO = Path(__file__).resolve().parents[1]
JOBS = REPO / "jobs"


def syslog_login(rng: random.Random, now: datetime) -> tuple[str, bytes]:
    user = f"user{rng.randrange(5000)}"
    ip = f"10.{rng.randrange(200)}.{rng.randrange(250)}.{rng.randrange(1, 250)}"
    verdict = "Failed" if rng.random() < 0.2 else "Accepted"
    line = (f"<38>{now:%b} {now.day:2d} {now:%H:%M:%S} web{rng.randrange(9)} sshd[{rng.randrange(99999)}]:"
            f" {verdict} password for {user} from {ip} port {rng.randrange(1024, 65535)} ssh2")
    return f"t{rng.randrange(20)}", line.encode()


def k8s_secret_read(rng: random.Random, now: datetime) -> tuple[str, bytes]:
    name = f"secret-{rng.randrange(10_000)}"
    doc = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
           "auditID": str(uuid.UUID(int=rng.getrandbits(128))), "stage": "ResponseComplete",
           "requestURI": f"/api/v1/namespaces/payments/secrets/{name}", "verb": "get",
           "user": {"username": f"dev{rng.randrange(2000)}@example.com", "groups": ["system:authenticated"]},
           "sourceIPs": ["10.1.2.3"], "userAgent": "kubectl/v1.31.0",
           "objectRef": {"resource": "secrets", "namespace": "payments", "name": name, "apiVersion": "v1"},
           "responseStatus": {"metadata": {}, "code": 200},
           "requestReceivedTimestamp": now.isoformat().replace("+00:00", "Z"),
           "stageTimestamp": now.isoformat().replace("+00:00", "Z")}
    return f"t{rng.randrange(20)}", json.dumps(doc).encode()


class Load(threading.Thread):
    def __init__(self, cfg: config.Config, topics: dict[tuple[str, str], str], rate: int):
        super().__init__(daemon=True)
        self.producer = Producer(kafka.producer_conf(cfg, "admin", **{"linger.ms": 20}))
        self.topics, self.rate, self.sent, self.stop = topics, rate, 0, threading.Event()

    def run(self) -> None:
        rng, start = random.Random(7), time.monotonic()
        while not self.stop.is_set():
            due = int((time.monotonic() - start) * self.rate)
            now = datetime.now(UTC)
            while self.sent < due:
                family, make = (("k8s-audit", k8s_secret_read) if self.sent % 4 == 3
                                else ("syslog", syslog_login))
                tenant, value = make(rng, now)
                self.producer.produce(self.topics[(tenant, family)], value, key=tenant.encode(),
                                      headers=[("source", b"soak")])
                self.sent += 1
            self.producer.poll(0)
            time.sleep(0.05)
        self.producer.flush(30)


def high_watermark(consumer: Consumer, topic: str) -> int:
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts)


def checkpoint(cfg: config.Config, job_id: str) -> tuple[float, float]:
    """(full state size in MiB, duration in s) of the latest completed checkpoint."""
    stats = flink.rest(cfg).get(f"/jobs/{job_id}/checkpoints", timeout=10).json()
    latest = (stats.get("latest") or {}).get("completed") or {}
    return latest.get("state_size", 0) / 2**20, latest.get("end_to_end_duration", 0) / 1000


def service_rss(cfg: config.Config, name: str) -> float:
    data_dir = Path(cfg.get("stack.data_dir")).expanduser()
    pid = process.read_pid(data_dir / "run" / f"{name}.pid")
    return process.rss_mb(pid) if pid else 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--rate", type=int, default=300, help="raw records per second (default 300)")
    p.add_argument("--sample-s", type=float, default=60, help="seconds between samples (default 60)")
    p.add_argument("--warmup-s", type=float, default=120,
                   help="the start figures are the first sample after this many seconds (default 120)")
    p.add_argument("--detect-state-ttl", default="10 min",
                   help="detect.state_ttl for this run (default 10 min, so the state's bound shows"
                        " within the run; the configured default is 90 d)")
    p.add_argument("--json", type=Path, default=None, help="also write the samples to this file")
    args = p.parse_args()
    os.environ["AUDITFLOW_DETECT__STATE_TTL"] = args.detect_state_ttl  # read by the detect job
    cfg = config.load()
    run = uuid.uuid4().hex[:8]
    # each tenant's own raw topics (udfs/sources.py), read by pattern as the standing job does
    raw = {(t, f): sources.raw_topic(t, f, f"soak{run}") for t in (f"t{i}" for i in range(20))
           for f in ("syslog", "k8s-audit")}
    events, dlq, filtered = (f"audit.{k}.soak{run}" for k in ("events", "dlq", "filtered"))
    alerts, late = f"audit.alerts.soak{run}", f"audit.detect.late.soak{run}"
    topics = [*raw.values(), events, dlq, filtered, alerts, late]
    admin = kafka.admin(cfg)
    for fut in admin.create_topics([NewTopic(t, 2, 1) for t in topics]).values():
        fut.result()
    # each job acts as its role: the grants and output schemas on this run's names
    tenants: dict[str, list[str]] = {}
    for (tenant, _fmt), topic in raw.items():
        tenants.setdefault(tenant, []).append(topic)
    names = {"audit.raw.*": list(raw.values()), "audit.events": [events], "audit.dlq": [dlq],
             "audit.filtered": [filtered], "audit.alerts": [alerts], "audit.detect.late": [late]}
    kafka.grant_run(cfg, names, f"soak-normalize-{run}", tenants)
    kafka.grant_run(cfg, names, f"soak-detect-{run}")
    for topic, schema in ((events, "audit_event"), (dlq, "dead_letter"), (alerts, "alert")):
        registry.register(cfg, topic, schema)
    jobs: list[str] = []
    load: Load | None = None
    try:
        jobs.append(flink.start(cfg, JOBS / "normalize.py", [
            "--raw-topic-pattern", sources.raw_topic_pattern(f"soak{run}"), "--events-topic", events,
            "--dlq-topic", dlq,
            "--filtered-topic", filtered, "--group-id", f"soak-normalize-{run}"], say=lambda _l: None))
        jobs.append(flink.start(cfg, JOBS / "detect.py", [
            "--events-topic", events, "--alerts-topic", alerts, "--late-topic", late,
            "--group-id", f"soak-detect-{run}", "--startup-mode", "earliest-offset"], say=lambda _l: None))
        for job in jobs:
            flink.wait_for_status(cfg, job, {"RUNNING"}, timeout_s=300)
        print(f"jobs {', '.join(jobs)} running; {args.rate} records/s for {args.minutes:g} min", flush=True)
        load = Load(cfg, raw, args.rate)
        load.start()
        consumer = Consumer(kafka.client_conf(cfg, "admin", **{"group.id": f"soak-probe-{run}"}))
        samples, t0 = [], time.monotonic()
        header = f"{'t s':>6} {'sent':>9} {'events':>9} {'TM MiB':>8} {'broker MiB':>10}" \
                 f" {'norm state MiB':>14} {'norm ckpt s':>11} {'det state MiB':>13} {'det ckpt s':>10}"
        print(header, flush=True)
        while (elapsed := time.monotonic() - t0) < args.minutes * 60:
            time.sleep(min(args.sample_s, max(0.0, args.minutes * 60 - elapsed)))
            (ns, nd), (ds, dd) = checkpoint(cfg, jobs[0]), checkpoint(cfg, jobs[1])
            s = {"t_s": round(time.monotonic() - t0), "sent": load.sent,
                 "events": high_watermark(consumer, events),
                 "tm_rss_mib": service_rss(cfg, "flink-taskmanager"),
                 "broker_rss_mib": service_rss(cfg, "kafka"),
                 "normalize_state_mib": ns, "normalize_checkpoint_s": nd,
                 "detect_state_mib": ds, "detect_checkpoint_s": dd}
            for job in jobs:
                if (status := flink.job_status(cfg, job)) != "RUNNING":
                    sys.exit(f"job {job} is {status}: {flink.job_exception(cfg, job)}")
            samples.append(s)
            print(f"{s['t_s']:>6} {s['sent']:>9,} {s['events']:>9,} {s['tm_rss_mib']:>8.0f}"
                  f" {s['broker_rss_mib']:>10.0f} {ns:>14.2f} {nd:>11.2f} {ds:>13.2f} {dd:>10.2f}",
                  flush=True)
        load.stop.set()
        load.join()
        consumer.close()
        start = next((s for s in samples if s["t_s"] >= args.warmup_s), samples[0])
        end = samples[-1]
        print(f"\nstart (t={start['t_s']} s) vs end (t={end['t_s']} s), {end['sent']:,} records sent,"
              f" {end['events']:,} events out:")
        # bounded = the second half's peak is not above the first half's (state that expires
        # after detect.state_ttl rises and falls; state that leaks rises in both halves)
        middle = samples[len(samples) // 2]["t_s"]
        print(f"{'':<26} {'start':>10}    {'end':>10}  {'growth':>8}  peak to {middle} s  peak after")
        for key in ("tm_rss_mib", "broker_rss_mib", "normalize_state_mib", "normalize_checkpoint_s",
                    "detect_state_mib", "detect_checkpoint_s"):
            a, b = start[key], end[key]
            growth = f"{(b - a) / a * 100:+.1f}%" if a else "n/a"
            first = max(s[key] for s in samples if start["t_s"] <= s["t_s"] <= middle)
            second = max(s[key] for s in samples if s["t_s"] > middle)
            print(f"  {key:<24} {a:>10.2f} -> {b:>10.2f}  {growth:>8}  {first:>13.2f}  {second:>10.2f}")
        if args.json:
            summary = {"rate": args.rate, "minutes": args.minutes, "samples": samples}
            args.json.write_text(json.dumps(summary, indent=1))
    finally:  # also after Ctrl-C: nothing of the run is left behind
        if load is not None:
            load.stop.set()
        for job in jobs:
            try:
                flink.cancel(cfg, job)
            except Exception as err:  # noqa: BLE001 - cleanup; say it and go on
                print(f"could not cancel job {job}: {err}", file=sys.stderr)
        for fut in admin.delete_topics(topics).values():
            try:
                fut.result()
            except Exception as err:  # noqa: BLE001 - cleanup; say it and go on
                print(f"could not delete a topic: {err}", file=sys.stderr)


if __name__ == "__main__":
    main()
