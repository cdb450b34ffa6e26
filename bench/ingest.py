"""Throughput of `auditflow ingest syslog` beside two same-run baselines: a bare confluent-kafka
produce loop over the same lines with the same producer settings (acks=all, idempotence, zstd,
key = tenant) and no headers, no framing, no progress; and the same loop adding the three headers
ingest writes (source, file, line). Headers cost confluent-kafka's Python binding about 40% of its
bare rate, so the second baseline is the one that produces the same records.

    .venv/bin/python bench/ingest.py                 # 1,000,000 lines
    .venv/bin/python bench/ingest.py --lines 200000

Needs a running stack (`auditflow stack up`). Prints records/s of each and their ratios, and the
CPU seconds each spent in the client (the producing process and librdkafka's threads; for ingest
also its interpreter start-up, about a second), which explain the ratios when the wall clock of a
shared machine is noisy: a run with no spare core is bound by CPU. It asserts nothing about time.
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Producer

from auditflow import config, kafka
from udfs import sources

TEMPLATES = [
    "<38>{ts} bastion sshd[{pid}]: Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 "
    "SHA256:Hx3mC0l3pXx9d0yqk2bQ7XvZ1oY2l8q5bN6u4i0aWsE",
    "<37>{ts} bastion sshd[{pid}]: Failed password for invalid user {user} from {ip} port {port} ssh2",
    "<85>{ts} bastion sudo:    {user} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; "
    "COMMAND=/usr/bin/systemctl restart nginx",
    "<86>1 2025-01-12T06:{mm}:{ss}.{ms}Z bastion.example.com sshd {pid} - - pam_unix(sshd:session): "
    "session opened for user {user}(uid=1001) by (uid=0)",
]


def generate(path: Path, lines: int, seed: int = 7) -> int:
    rnd = random.Random(seed)
    users = ["alice", "bob", "carol", "admin", "deploy", "root"]
    with path.open("w") as fh:
        for i in range(lines):
            fh.write(rnd.choice(TEMPLATES).format(
                ts=f"Jan 12 06:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}", pid=1000 + i % 5000,
                user=rnd.choice(users), ip=f"198.51.100.{i % 250}", port=40000 + i % 20000,
                mm=f"{i // 60000 % 60:02d}", ss=f"{i // 1000 % 60:02d}", ms=f"{i % 1000:03d}") + "\n")
    return path.stat().st_size


def baseline(cfg: config.Config, topic: str, path: Path, headers: bool = False) -> tuple[int, float, float]:
    """The floor any ingest tool pays: create a producer, read lines, produce, flush (timed from
    the producer's creation, as `auditflow ingest` times itself); (records, seconds, CPU seconds)."""
    t0, c0 = time.monotonic(), time.process_time()
    producer = Producer(kafka.producer_conf(cfg, "admin", **{
        "linger.ms": 20, "batch.size": 1_000_000, "queue.buffering.max.messages": 500_000}))
    n = 0
    file = ("file", str(path).encode())
    with path.open("rb") as fh:
        for line in fh:
            n += 1
            hdrs = [("source", b"syslog"), file, ("line", b"%d" % n)] if headers else None
            while True:
                try:
                    producer.produce(topic, line.rstrip(b"\n"), b"bench", headers=hdrs)
                    break
                except BufferError:
                    producer.poll(0.05)
            if n % 10_000 == 0:
                producer.poll(0)
    left = producer.flush(120)
    if left:
        sys.exit(f"baseline: {left} records not acknowledged")
    return n, time.monotonic() - t0, time.process_time() - c0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ingest(topic: str, path: Path) -> tuple[int, float, float, str]:
    t0, c0 = time.monotonic(), _children_cpu()
    out = subprocess.run([sys.executable, "-m", "auditflow.cli", "ingest", "syslog", str(path), "--tenant",
                          "bench", "--topic", topic, "--no-dlq"], capture_output=True, text=True)
    wall, cpu = time.monotonic() - t0, _children_cpu() - c0
    if out.returncode:
        sys.exit(f"auditflow ingest failed:\n{out.stderr}")
    records = int(re.search(r"records\s+([\d,]+)", out.stdout).group(1).replace(",", ""))
    seconds = float(re.search(r"over ([\d.]+)s", out.stdout).group(1))
    return records, seconds, cpu, f"(wall {wall:.2f}s incl. Python start-up)\n{out.stdout}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    args = ap.parse_args()
    cfg = config.load()
    run = uuid.uuid4().hex[:6]
    # a raw topic of tenant bench for ingest, which acts as ingest:bench and writes only its tenant's
    topics = [f"bench.ingest.{run}.baseline", f"bench.ingest.{run}.headers",
              sources.raw_topic("bench", "syslog", f"bench{run}")]
    kafka.apply_topics(cfg, [kafka.TopicSpec(t, 3, 1, {"retention.ms": "3600000"}) for t in topics])
    kafka.apply_users(cfg, ["ingest:bench"])
    grants = kafka.grant(cfg, "ingest:bench", write=[topics[2]])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "auth.log"
        size = generate(path, args.lines)
        print(f"input: {args.lines:,} syslog lines, {size / 1e6:.1f} MB ({path})")
        n_base, t_base, c_base = baseline(cfg, topics[0], path)
        n_hdr, t_hdr, c_hdr = baseline(cfg, topics[1], path, headers=True)
        try:
            n_ing, t_ing, c_ing, detail = ingest(topics[2], path)
        finally:
            kafka.revoke(cfg, grants)
    base_rate, hdr_rate, ing_rate = n_base / t_base, n_hdr / t_hdr, n_ing / t_ing
    print(f"baseline  bare produce loop, value+key      {n_base:>10,} records  {t_base:6.2f}s  "
          f"{base_rate:>10,.0f} records/s  cpu {c_base:5.2f}s")
    print(f"baseline  same loop + the 3 ingest headers  {n_hdr:>10,} records  {t_hdr:6.2f}s  "
          f"{hdr_rate:>10,.0f} records/s  cpu {c_hdr:5.2f}s")
    print(f"ingest    auditflow ingest syslog           {n_ing:>10,} records  {t_ing:6.2f}s  "
          f"{ing_rate:>10,.0f} records/s  cpu {c_ing:5.2f}s incl. start-up  {detail.splitlines()[0]}")
    print(f"ratio     {ing_rate / base_rate:.0%} of the bare baseline (target >= 70%), "
          f"{ing_rate / hdr_rate:.0%} of the baseline producing the same records (headers included)")


if __name__ == "__main__":
    main()
