"""`auditflow demo`: the whole pipeline on the local stack with the bundled attack corpus."""

from __future__ import annotations

import time

import click
from rich.console import Console

from auditflow import demo, demo_corpus, kafka, tenants
from auditflow.stack import lifecycle

console = Console()


def _step(n: int, text: str) -> None:
    console.print(f"\n[bold cyan]{n}. {text}[/]")


def _check(result, what: str) -> str:
    if result.returncode != 0:
        raise click.ClickException(f"{what} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return result.stdout


@click.command("demo")
@click.option("--tenant", default="acme", show_default=True, help="Tenant the corpus is replayed as.")
@click.option("--background", default=200, show_default=True,
              help="Ordinary events per family around the attack scenarios.")
@click.option("--period", "period_s", default=60, show_default=True,
              help="Seconds per sealed period (production: 3600).")
@click.option("--retention", "retention_s", default=600, show_default=True,
              help="COMPLIANCE retention of sealed objects, seconds (production: years).")
@click.pass_obj
def command(obj, tenant: str, background: int, period_s: int, retention_s: int) -> None:
    """Run ingest -> normalize -> detect -> archive -> seal -> verify -> query locally.

    Brings the stack up, registers the schemas, loads a user directory, submits the
    normalize, detect and archive jobs with `flink run`, replays the bundled corpus (ordinary
    traffic with a brute force, a privilege escalation, CloudTrail being switched off and a
    kubectl exec), shows the alerts as they fire, reconciles the counts, seals the archive
    into the WORM bucket with signed digests, verifies it, and runs two auditor queries.
    Running it again replays the corpus again into the same topics and archive.
    """
    cfg, say = obj.cfg, (lambda m: console.print(f"  {m}", highlight=False))
    names = demo.Names(tenant=tenant)
    flags = [*obj.cli_args, *demo.cfg_flags(names, period_s, 15, retention_s)]
    t0 = time.monotonic()

    trino = ", Trino" if cfg.get("stack.trino") else ""
    _step(1, f"stack: Kafka, registry, S3 (Object Lock), Flink{trino}")
    lifecycle.up(lifecycle.context(cfg, say))
    kafka.apply_topics(cfg, kafka.load_topics())
    tenants.add(cfg, tenant)  # its raw topics (and, with the Kafka support, its user and ACL)
    demo.grant_kafka(cfg, names, tenant)
    registered = _check(demo.cli(obj.cli_args, "schemas", "register"), "schemas register")
    for line in registered.strip().splitlines():
        say(" ".join(line.split()))

    _step(2, "user directory -> audit.users")
    users_file = cfg.path("stack.data_dir") / "demo" / "users.csv"
    users_file.parent.mkdir(parents=True, exist_ok=True)
    users_file.write_text(demo.DEMO_USERS)
    say(_check(demo.cli(obj.cli_args, "users", "load", str(users_file), "--topic", names.users),
               "users load").strip())

    _step(3, "jobs on the Flink session cluster")
    demo.start_jobs(cfg, names, say)

    _step(4, "replay the corpus (raw topics, event-time order)")
    try:
        end, span_s = demo.corpus_window(cfg, names, say)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    records = demo_corpus.build(end, background=background, span_s=span_s)
    demo_corpus.write(cfg.path("stack.data_dir") / "demo" / "corpus", records)
    demo.mark_replay(cfg, names, records)
    demo.replay(cfg, names, records, tenant, say)

    _step(5, "alerts as they fire (audit.alerts)")
    alerts = demo.wait_for_alerts(cfg, names, tenant, demo_corpus.EXPECTED, say, since=records[0][0])
    missing = {(e.rule_id, e.entity_value) for e in demo_corpus.EXPECTED} - {
        (a["rule_id"], a["entity_value"]) for a in alerts}
    if missing:
        raise click.ClickException(f"expected alerts did not arrive: {sorted(missing)}; "
                                   "see `auditflow rules status` and `auditflow jobs list`")

    _step(6, "reconcile: raw = events + dead letters + filtered")
    say(_check(demo.cli(obj.cli_args, "reconcile", "--raw-topics", ",".join(names.raw.values()),
                        "--tenant", tenant, "--wait", "120"), "reconcile"))

    _step(7, f"seal closed {period_s}s periods into the WORM bucket (waits for the last to close)")
    time.sleep(period_s + 20)
    say(_check(demo.cli(flags, "seal", "--once"), "seal"))

    _step(8, "verify the archive: chains, digests, signatures")
    say(_check(demo.cli(flags, "verify", "--tenant", tenant), "verify"))

    _step(9, "auditor queries")
    for sql in (f"SELECT * FROM failed_logins_per_day WHERE tenant_id = '{tenant}' ORDER BY day DESC LIMIT 5",
                "SELECT rule_id, entity_value, event_id, hash_matches FROM alert_evidence "
                f"WHERE tenant_id = '{tenant}' ORDER BY rule_id LIMIT 10"):
        say(f"$ auditflow query \"{sql}\"")
        say(_check(demo.cli(flags, "query", sql), "query"))
    console.print(f"\n[green]demo done in {time.monotonic() - t0:.0f}s[/]: jobs keep running "
                  "(`auditflow jobs list`); `auditflow alerts tail`, `auditflow query`, `auditflow verify`")
