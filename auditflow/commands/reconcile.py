"""`auditflow reconcile`: prove from the topics themselves that the normalize job lost nothing
and duplicated nothing: every raw record is one event, dead letter or filtered record."""

from __future__ import annotations

import fnmatch
import json
import time
from collections import Counter

import click
from confluent_kafka import KafkaException
from rich.console import Console
from rich.table import Table

from auditflow import kafka, registry
from udfs import reconcile, sources

# counting every raw record against its outcome needs the records (tenant header, lineage):
# the auditor's read-only grants, not the operator's (who may read no record)
ROLE = "auditor"
console = Console(stderr=True)
out = Console()


def _raw_topics(cfg, patterns: str) -> list[str]:
    topics = kafka.admin(cfg, ROLE).list_topics(timeout=10).topics
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    return sorted(t for t in topics if any(fnmatch.fnmatchcase(t, p) for p in wanted))


def _tenant(m) -> str | None:
    """As the normalize job reads it (udfs.normalize.raw_record): the tenant its topic names."""
    return sources.topic_tenant(m.topic())


def _collect(cfg, raw_topics: list[str], events_topic: str, dlq_topic: str,
             filtered_topic: str) -> reconcile.Reconciler:
    rec = reconcile.Reconciler()
    for topic in raw_topics:
        for m in kafka.read_topic(cfg, topic, say=console.print, role=ROLE):
            rec.add_raw(m.topic(), m.partition(), m.offset(), _tenant(m))
    decode_event = registry.Decoder(cfg, "audit_event", ROLE)
    for m in kafka.read_topic(cfg, events_topic, say=console.print, role=ROLE):
        lin = decode_event(m.value()).get("lineage") or {}
        rec.add_output("events", lin.get("raw_topic"), lin.get("raw_partition"), lin.get("raw_offset"))
    decode_dlq = registry.Decoder(cfg, "dead_letter", ROLE)
    for m in kafka.read_topic(cfg, dlq_topic, say=console.print, role=ROLE):
        d = decode_dlq(m.value())
        rec.add_output("dead_letters", d.get("raw_topic"), d.get("raw_partition"), d.get("raw_offset"),
                       source=d.get("source"), tenant=d.get("tenant_id"))
    for m in kafka.read_topic(cfg, filtered_topic, say=console.print, role=ROLE):
        f = json.loads(m.value())
        rec.add_output("filtered", f.get("raw_topic"), f.get("raw_partition"), f.get("raw_offset"))
    return rec


def _table(report: reconcile.Report, tenant: str | None) -> Table:
    t = Table(title="raw = events + dead letters + filtered")
    for col in ("source", "tenant", "raw", "events", "dead letters", "filtered", "unaccounted",
                "duplicated", ""):
        t.add_column(col, justify="left" if col in ("source", "tenant", "") else "right")
    for ln in report.lines:
        if tenant and ln.tenant != tenant:
            continue
        t.add_row(ln.source, ln.tenant, str(ln.raw), str(ln.events), str(ln.dead_letters), str(ln.filtered),
                  str(ln.unaccounted), str(ln.duplicated), "[green]ok[/]" if ln.balanced else "[red]OFF[/]")
    return t


@click.command("reconcile")
@click.option("--raw-topics", default="audit.raw.*", show_default=True,
              help="Raw topics: names or glob patterns, comma-separated (as the normalize "
                   "job's --raw-topics).")
@click.option("--events-topic", default="audit.events", show_default=True)
@click.option("--dlq-topic", default="audit.dlq", show_default=True)
@click.option("--filtered-topic", default="audit.filtered", show_default=True)
@click.option("--tenant", help="Check and show only this tenant.")
@click.option("--wait", "wait_s", type=float, default=0, show_default=True,
              help="Re-read until balanced or this many seconds pass (the job may still be catching up).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def command(obj, raw_topics: str, events_topic: str, dlq_topic: str, filtered_topic: str,
            tenant: str | None, wait_s: float, as_json: bool) -> None:
    """Check that every raw record became exactly one event, dead letter or filtered record.

    Reads the raw topics and the job's three outputs from the beginning (read_committed) and
    matches them by raw topic/partition/offset, per source and tenant. "unaccounted" raw
    records have no output yet (lost, or the job is behind: see --wait); "duplicated" have
    more than one. Dead letters rejected by `auditflow ingest` before Kafka are listed apart.
    Exits 1 when anything does not balance.

    \b
      auditflow reconcile
      auditflow reconcile --tenant acme --wait 60
    """
    cfg = obj.cfg
    deadline = time.monotonic() + wait_s
    try:
        topics = _raw_topics(cfg, raw_topics)
        if not topics:
            raise click.ClickException(f"no raw topic matches {raw_topics!r}")
        while True:
            report = _collect(cfg, topics, events_topic, dlq_topic, filtered_topic).report()
            if tenant:  # the check, not only the table, is about this tenant
                report.lines = [ln for ln in report.lines if ln.tenant == tenant]
                report.ingest_rejects = Counter({k: n for k, n in report.ingest_rejects.items()
                                                 if k[1] == tenant})
            if report.balanced or time.monotonic() >= deadline:
                break
            console.print("not balanced yet; reading again in 5s")
            time.sleep(5)
    except KafkaException as exc:
        raise click.ClickException(f"Kafka: {exc}; is `auditflow stack up` running?") from exc
    if as_json:
        out.print_json(json.dumps({
            "balanced": report.balanced, "lines": [vars(ln) for ln in report.lines],
            "ingest_rejects": [{"source": s, "tenant": t, "count": n}
                               for (s, t), n in report.ingest_rejects.items()],
            "orphans": dict(report.orphans), "unaccounted_examples": report.unaccounted_examples,
        }))
    else:
        out.print(_table(report, tenant))
        for (source, t), n in sorted(report.ingest_rejects.items()):
            out.print(f"rejected by ingest before Kafka (in {dlq_topic}, not in raw): {source}/{t}: {n}")
        if report.orphans:
            out.print(f"outputs whose raw record was not read (other raw topics, or expired): "
                      f"{dict(report.orphans)}")
        for topic, partition, offset in report.unaccounted_examples:
            out.print(f"[red]no output yet for[/] {topic} partition {partition} offset {offset}")
    if not report.balanced:
        raise SystemExit(1)
