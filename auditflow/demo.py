"""The whole pipeline, end to end, on the configured stack: what `auditflow demo` runs and what
the end-to-end test checks.

schemas -> user directory -> normalize, detect and archive jobs (`flink run -py`) -> replay of
the bundled corpus (auditflow.demo_corpus) -> alerts as they fire -> reconcile -> seal ->
verify -> auditor queries. Every step is a function of `Names`, so a test can run the same
steps on topics, groups and archive prefixes of its own.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from auditflow import demo_corpus, ingest, kafka, paths, pipeline, registry, rules_runner
from auditflow.config import Config
from connectors.ingest.producer import RawProducer
from udfs import sources

# the source families (udfs/sources.py) the bundled corpus (auditflow.demo_corpus) has records of
FORMATS = ("syslog", "cloudtrail", "k8s-audit", "app")
DEMO_USERS = """uid,name,display_name,department,title,manager,privileged,valid_from
u-alice,alice,Alice Liddell,Finance,Controller,u-grace,false,2020-01-01
u-bob,bob,Bob Builder,Engineering,SRE,u-grace,false,2020-01-01
u-carol,carol,Carol Danvers,Finance,Analyst,u-alice,false,2020-01-01
u-dave,dave,Dave Lister,Engineering,Developer,u-bob,false,2020-01-01
u-erin,erin,Erin Brockovich,Legal,Counsel,u-grace,false,2020-01-01
u-frank,frank,Frank Poole,Engineering,SRE,u-bob,false,2020-01-01
u-grace,grace,Grace Hopper,Engineering,CTO,,true,2020-01-01
u-mallory,mallory,Mallory Knox,Sales,Account Executive,u-grace,false,2020-01-01
"""


@dataclass
class Names:
    """Topics, consumer groups and archive prefixes of one pipeline.

    Raw input is the tenant's own topics (`audit.raw.<tenant>.<source>`, udfs/sources.py); an
    isolated run's have its id as one more segment, and its normalize job reads only those."""

    tenant: str = "acme"
    run: str | None = None  # an isolated run's id, the last segment of its raw topics
    events: str = "audit.events"
    dlq: str = "audit.dlq"
    filtered: str = "audit.filtered"
    users: str = "audit.users"
    alerts: str = "audit.alerts"
    late: str = "audit.detect.late"
    group: str = "auditflow"
    staging_prefix: str | None = None  # None = archive.staging_prefix
    worm_prefix: str | None = None     # None = archive.worm_prefix

    @classmethod
    def isolated(cls, run: str, tenant: str = "acme") -> Names:
        return cls(tenant=tenant, run=run, events=f"{run}.events",
                   dlq=f"{run}.dlq", filtered=f"{run}.filtered", users=f"{run}.users",
                   alerts=f"{run}.alerts", late=f"{run}.late", group=run,
                   staging_prefix=f"{run}/", worm_prefix=f"{run}/")

    def raw_topics(self, tenant: str) -> dict[str, str]:
        """Format -> a tenant's raw topic of this pipeline: every family for the standing one,
        the corpus's FORMATS for an isolated run."""
        more = (self.run,) if self.run else ()
        return {f: sources.raw_topic(tenant, f, *more) for f in (FORMATS if self.run else sources.NAMES)}

    @property
    def raw(self) -> dict[str, str]:
        return self.raw_topics(self.tenant)

    @property
    def raw_pattern(self) -> str:
        """What the normalize job subscribes to: every tenant's raw topics of this pipeline."""
        return sources.raw_topic_pattern(*((self.run,) if self.run else ()))

    def topic_specs(self) -> list[kafka.TopicSpec]:
        specs = [kafka.TopicSpec(t, 2, 1) for t in
                 [*self.raw.values(), self.events, self.dlq, self.filtered, self.alerts, self.late]]
        return [*specs, kafka.TopicSpec(self.users, 1, 1, {"cleanup.policy": "compact"})]

    def standard(self) -> dict[str, list[str]]:
        """Each standard name of roles.toml -> this pipeline's topics standing for it."""
        return {"audit.raw.*": list(self.raw.values()), "audit.events": [self.events],
                "audit.dlq": [self.dlq], "audit.filtered": [self.filtered], "audit.users": [self.users],
                "audit.alerts": [self.alerts], "audit.detect.late": [self.late]}


def grant_kafka(cfg: Config, names: Names, tenant: str) -> None:
    """The tenant's Kafka user and every role's grants on `names` (as admin; idempotent); for an
    isolated run also its output schemas, as schema-admin (`schemas register` makes the standard
    ones)."""
    raw = list(names.raw.values())
    kafka.grant_run(cfg, names.standard(), names.group, {tenant: raw})
    if names.run:
        for topic, schema in ((names.events, "audit_event"), (names.dlq, "dead_letter"),
                              (names.alerts, "alert")):
            registry.register(cfg, topic, schema)


def cli(cfg_args: list[str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`auditflow ...` as a person would type it, with the caller's --config/--set flags."""
    return subprocess.run([sys.executable, "-m", "auditflow.cli", *cfg_args, *args],
                          capture_output=True, text=True, timeout=timeout, cwd=paths.ROOT)


def job_args(names: Names) -> dict[str, list[str]]:
    return {
        "normalize": ["--raw-topic-pattern", names.raw_pattern, "--events-topic", names.events,
                      "--dlq-topic", names.dlq, "--filtered-topic", names.filtered,
                      "--users-topic", names.users, "--group-id", f"{names.group}-normalize"],
        "detect": ["--rules", ",".join(demo_corpus.DEMO_RULES), "--events-topic", names.events,
                   "--alerts-topic", names.alerts, "--late-topic", names.late,
                   "--group-id", f"{names.group}-detect"],
        "archive": ["--events-topic", names.events, "--alerts-topic", names.alerts,
                    "--group-id", f"{names.group}-archive"]
        + (["--staging", f"s3://{{bucket}}/{names.staging_prefix}"] if names.staging_prefix else []),
    }


def start_jobs(cfg: Config, names: Names, say: Callable[[str], None]) -> dict[str, str]:
    """Submit the three jobs, leaving one alone that already runs on the same topics, and
    resuming one that ran before from its checkpoint (see auditflow.pipeline)."""
    started: dict[str, str] = {}
    for job, args in job_args(names).items():
        args = [a.replace("{bucket}", cfg.get("s3.staging_bucket")) for a in args]
        if jid := pipeline.running(cfg, job, args):
            say(f"{job}: already running ({jid})")
        else:
            say(f"{job}: flink run -d -py jobs/{job}.py {' '.join(args)}")
            jid = pipeline.start(cfg, job, args, lambda m: None if m.startswith("$ ") else say(m))
        started[job] = jid
    return started


def replay(cfg: Config, names: Names, records: list[demo_corpus.Record], tenant: str,
           say: Callable[[str], None]) -> int:
    """Produce the corpus to the raw topics in event-time order, as `auditflow ingest` does."""
    clients = ingest.clients(cfg, tenant)
    raw = names.raw_topics(tenant)
    producers = {fmt: RawProducer(clients, fmt, tenant, raw[fmt], dlq_topic=names.dlq)
                 for fmt in FORMATS}
    for fmt, p in producers.items():
        p.set_file(f"demo-corpus/{fmt}")
    last_ms = 0
    for n, (_t, fmt, line) in enumerate(records, 1):
        # one record per millisecond: the normalize job orders by Kafka time, and records of
        # one millisecond by topic name, which would put the families out of event-time order
        while (now_ms := time.time_ns() // 1_000_000) <= last_ms:
            time.sleep(0.0002)
        last_ms = now_ms
        producers[fmt].send(n, line.encode())
    for p in producers.values():
        p.close()
    used = sorted({raw[fmt] for _t, fmt, _line in records})
    say(f"replayed {len(records)} raw records for tenant {tenant} to {', '.join(used)}")
    return len(records)


def newest_event_ms(cfg: Config, topic: str) -> int | None:
    """Event time of the newest event at the end of `topic` (None when it is empty)."""
    decode = registry.Decoder(cfg, "audit_event", "analyst")
    msgs = kafka.read_topic(cfg, topic, idle_s=2, last=50, role="admin")  # the demo's own check
    times = [decode(m.value())["time"] for m in msgs]
    return max(times, default=None)


def corpus_window(cfg: Config, names: Names, say: Callable[[str], None]) -> tuple[datetime, float]:
    """(end, span in seconds) of event time for a new replay.

    Event time only moves forward: the detect job has seen the previous replay, and events
    before its watermark would be late for the rules (`auditflow rules status` counts them).
    So a replay starts after the newest event already in the pipeline, and when that leaves
    less than the corpus's shortest span, it waits."""
    mark = _replay_mark(cfg, names)
    marked = int(mark.read_text()) if mark.exists() else None
    # the mark covers a replay whose events are still on their way through the normalize job
    newest_ms = max((t for t in (newest_event_ms(cfg, names.events), marked) if t is not None), default=None)
    now = datetime.now(UTC)
    if newest_ms is None:
        return now, demo_corpus.SPAN_S
    after = datetime.fromtimestamp(newest_ms / 1000 + 1, UTC)
    wait = (after - now).total_seconds() + demo_corpus.MIN_SPAN_S
    if wait > demo_corpus.SPAN_S:
        raise ValueError(f"the newest event in {names.events} is at {after:%Y-%m-%d %H:%M:%S} UTC, in the "
                         "future; a replay now would be late for the rules. Fix the source's clock.")
    if wait > 0:
        say(f"waiting {wait:.0f} s: the last replay's events reach {after:%H:%M:%S} UTC, and event "
            f"time only moves forward (this replay needs {demo_corpus.MIN_SPAN_S} s after it)")
        time.sleep(wait)
        now = datetime.now(UTC)
    return now, min(demo_corpus.SPAN_S, (now - after).total_seconds())


def _replay_mark(cfg: Config, names: Names) -> Path:
    return cfg.path("stack.data_dir") / "demo" / f"{names.events}.last-event-ms"


def mark_replay(cfg: Config, names: Names, records: list[demo_corpus.Record]) -> None:
    """Remember the newest event time of a replay before it starts (see corpus_window)."""
    mark = _replay_mark(cfg, names)
    mark.parent.mkdir(parents=True, exist_ok=True)
    mark.write_text(str(int(max(t for t, _f, _l in records).timestamp() * 1000)))


def wait_for_alerts(cfg: Config, names: Names, tenant: str, expected: list[demo_corpus.Expected],
                    say: Callable[[str], None], timeout_s: float = 300,
                    since: datetime | None = None) -> list[dict]:
    """Read the alerts topic until every expected alert of `tenant` has arrived (then 10 s
    more, so an unexpected extra one would show too), printing each as it comes.

    With `since` (the replay's first event time) only alerts about events from then on count,
    except that a scenario repeated within its rule's dedup window of an earlier alert is folded
    into that alert (a rollup with the total follows when the window closes), as the rules
    promise: then the earlier alert stands for it, and the fold is shown."""
    decode = registry.Decoder(cfg, "alert", "analyst")
    since_ms = int(since.timestamp() * 1000) if since else 0
    rules = rules_runner.enabled_rules(cfg, sorted({e.rule_id for e in expected}))
    dedup_ms = {r.id: r.dedup_window_ms for r in rules}
    want = {(e.rule_id, e.entity_value) for e in expected}
    deadline, settle, seen, folded = time.monotonic() + timeout_s, None, {}, {}
    while time.monotonic() < deadline and (settle is None or time.monotonic() < settle):
        for m in kafka.read_topic(cfg, names.alerts, idle_s=2, role="analyst"):
            a = decode(m.value())
            key = (a["rule_id"], a["entity_value"])
            if a.get("tenant_id") != tenant or a["alert_id"] in seen:
                continue
            if a["last_seen"] < since_ms:
                period_end = max(a["window_start"] + dedup_ms.get(a["rule_id"], 0), a["window_end"])
                if key in want and period_end > since_ms and a["alert_id"] not in folded:
                    folded[a["alert_id"]] = a
                continue
            seen[a["alert_id"]] = a
            say(f"ALERT {a['severity']:<8} {a['rule_id']:<9} {a['entity_type']}={a['entity_value']}  "
                f"{a['title']}  ({a['event_count']} events)")
        got = {(a["rule_id"], a["entity_value"]) for a in seen.values()}
        if settle is None and want <= got | {(a["rule_id"], a["entity_value"]) for a in folded.values()}:
            settle = time.monotonic() + 10
        time.sleep(2)
    got = {(a["rule_id"], a["entity_value"]) for a in seen.values()}
    for a in folded.values():
        if (a["rule_id"], a["entity_value"]) not in got:
            window = dedup_ms[a["rule_id"]] // 60_000
            say(f"FOLDED {a['rule_id']:<9} {a['entity_type']}={a['entity_value']}  repeated within the "
                f"{window} min dedup window of the alert on events from "
                f"{datetime.fromtimestamp(a['first_seen'] / 1000, UTC):%H:%M:%S} UTC; "
                "a rollup alert with the total follows when that window closes in event time")
            seen[a["alert_id"]] = a
    return list(seen.values())


def evidence_hashes(alerts: list[dict]) -> set[str]:
    return {ev["event_hash"] for a in alerts for ev in (a.get("evidence") or [])}


def cfg_flags(names: Names, period_s: int, grace_s: int, retention_s: int) -> list[str]:
    """Flags that shorten sealing for a quick local run, and point at this run's prefixes."""
    flags = ["--set", f"archive.period_s={period_s}", "--set", f"archive.grace_s={grace_s}",
             "--set", f"archive.retention={retention_s}s"]
    if names.staging_prefix:
        flags += ["--set", f"archive.staging_prefix={names.staging_prefix}"]
    if names.worm_prefix:
        flags += ["--set", f"archive.worm_prefix={names.worm_prefix}"]
    return flags
