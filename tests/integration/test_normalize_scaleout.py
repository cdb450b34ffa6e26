"""One tenant's events linked by two parallel workers: jobs/normalize.py --chains partition
(schemas/CHAIN.md version 2) at parallelism 2 on the
real session cluster, one tenant's 4,000 syslog lines ingested into a 2-partition raw topic.

Flink's own per-subtask metrics (numRecordsIn of the chain operator) show both subtasks linking
that tenant's events, each exactly the events of the chain `udfs.shard` placed on it; both chains
are gap-free, every event is accounted for, and verify-stream recomputes them."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from auditflow import flink, kafka, paths, registry
from udfs import shard, sources

CLI = [sys.executable, "-m", "auditflow.cli"]
LINES = 4_000  # four runs of connectors.ingest.producer.SPREAD records: 2,000 per partition


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


# the job's submission (600 s) and start (120 s), a reconcile waiting up to 240 s
@pytest.mark.timeout(1200)
def test_one_tenant_is_linked_by_two_subtasks(stack, cfg, topics, flink_jobs, tmp_path):
    run = f"so{uuid.uuid4().hex[:6]}"
    raw = sources.raw_topic("heavy", "syslog", run)
    out = {k: f"it.{run}.{k}" for k in ("events", "dlq", "filtered", "users")}
    topics.create(kafka.TopicSpec(raw, 2, 1), *(kafka.TopicSpec(t, 2, 1) for t in list(out.values())[:3]),
                  kafka.TopicSpec(out["users"], 1, 1, {"cleanup.policy": "compact"}))
    topics.grant_pipeline(run, raw=[raw], **out)
    log = tmp_path / "heavy.log"
    log.write_text("".join(f"<38>Dec  2 06:{i // 60 % 60:02d}:{i % 60:02d} web1 sshd[{1000 + i}]: "
                           f"Accepted publickey for user{i % 7} from 10.0.0.{i % 250} port {40000 + i} ssh2\n"
                           for i in range(LINES)))
    r = cli("ingest", "syslog", str(log), "--tenant", "heavy", "--topic", raw, "--dlq-topic", out["dlq"])
    assert r.returncode == 0, r.stdout + r.stderr

    flink_jobs.track_named(flink.pipeline_job_name("normalize", out["events"]))
    args = ["--raw-topics", raw, "--events-topic", out["events"], "--dlq-topic", out["dlq"],
            "--filtered-topic", out["filtered"], "--users-topic", out["users"], "--group-id", run,
            "--chains", "partition"]
    job_id = flink_jobs.track(flink.start(cfg, paths.JOBS / "normalize.py", args, say=lambda _m: None,
                                          options={"parallelism.default": "2"}))
    try:
        flink.wait_for_status(cfg, job_id, {"RUNNING"})
        r = cli("reconcile", "--raw-topics", raw, "--events-topic", out["events"], "--dlq-topic", out["dlq"],
                "--filtered-topic", out["filtered"], "--json", "--wait", "240", timeout=400)
        report = json.loads(r.stdout)
        assert r.returncode == 0 and report["balanced"], r.stdout + r.stderr
        linked = flink.subtask_counts(cfg, job_id, "users-chain-lineage", "read-records", LINES)
    finally:
        flink.cancel(cfg, job_id)

    decode = registry.Decoder(cfg, "audit_event", "analyst")
    events = [decode(m.value()) for m in kafka.read_topic(cfg, out["events"], role="admin")]
    assert len(events) == LINES
    chains: dict[str, list[int]] = {}
    for e in events:
        chains.setdefault(e["chain"]["chain_id"], []).append(e["chain"]["sequence"])
    assert sorted(chains) == [f"heavy/{raw}/0", f"heavy/{raw}/1"]
    for seqs in chains.values():
        assert sorted(seqs) == list(range(1, LINES // 2 + 1))

    # where udfs.shard placed each chain, at parallelism 2 and Flink's default max parallelism 128
    expected = [0, 0]
    for cid, seqs in chains.items():
        partition = int(cid.rsplit("/", 1)[1])
        key = shard.routing_key(cid, shard.slot_of("heavy", raw, partition), 128)
        expected[shard.operator_index(shard.key_group(key, 128), 128, 2)] += len(seqs)
    assert expected == [LINES // 2, LINES // 2]  # the two chains on different subtasks
    assert linked == expected

    check = cli("verify-stream", "--topic", out["events"])
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count("OK chain heavy/") == 2
