"""`auditflow rules`: list, validate and test the Flink SQL detection rules in sql/detections/,
and show what the running detect job counts per rule. No Python is needed to add a rule."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from auditflow import flink
from udfs.detect import fixtures as F
from udfs.detect import rules as R

JOB_PREFIX = flink.job_prefix("detect")


def _selected(obj, names: tuple[str, ...]) -> list[R.Rule]:
    from auditflow import rules_runner

    try:
        all_rules = R.discover(rules_runner.rules_dir(obj.cfg))
        return R.select(all_rules, list(names)) if names else all_rules
    except R.RuleError as exc:
        raise click.ClickException(str(exc)) from None


def _say(msg: str) -> None:
    click.echo(msg, err=True)


@click.group("rules")
def command() -> None:
    """Detection rules: one Flink SQL file per rule in sql/detections/, with fixtures beside it.

    \b
    Examples:
      auditflow rules list
      auditflow rules validate                 # parse and plan every rule (local Flink)
      auditflow rules test AUTH-001 K8S-001    # run fixtures, show expected vs actual alerts
      auditflow rules status                   # per rule: matches, alerts, lag, late events
      auditflow rules late --once              # evaluate the events that came in late
    """


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_rules(obj, as_json: bool) -> None:
    """Every rule with its severity, dedup window and whether [detect] enables it.

    \b
    Example:
      auditflow rules list --json | jq '.[] | select(.severity == "high") | .id'
    """
    rules = _selected(obj, ())
    enabled = {r.id for r in R.select(rules, obj.cfg.get("detect.rules"), obj.cfg.get("detect.disabled"))}
    rows = [{"id": r.id, "title": r.title, "severity": r.severity, "enabled": r.id in enabled,
             "dedup_window_ms": r.dedup_window_ms, "dedup_key": list(r.dedup_key), "mitre": list(r.mitre),
             "compliance": list(r.compliance), "owner": r.owner, "file": str(r.path)} for r in rules]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("id", "severity", "title", "dedup", "mitre", "enabled")
    for r, row in zip(rules, rows, strict=True):
        table.add_row(r.id, r.severity, r.title, f"{r.dedup_window_ms // 60000}m",
                      ", ".join(r.mitre), "yes" if row["enabled"] else "[dim]no[/dim]")
    Console().print(table)


@command.command("validate")
@click.argument("names", nargs=-1, metavar="[RULE]...")
@click.pass_obj
def validate(obj, names: tuple[str, ...]) -> None:
    """Check headers and fixtures, then parse and plan each rule with Flink (one local JVM).

    Exit 1 if any rule fails; each failure names the rule file and line.

    \b
    Example:
      auditflow rules validate PRIV-001
    """
    from auditflow import rules_runner

    rules = _selected(obj, names)
    failures = 0
    for rule in rules:
        try:
            F.load_fixtures(rule)
        except R.RuleError as exc:
            click.echo(f"FAIL {rule.id}  {exc}")
            failures += 1
    _say(f"starting a local Flink to plan {len(rules)} rule(s)")
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "events.json"
        empty.write_text("")
        t_env = rules_runner.local_table_env()
        rules_runner.create_events(t_env, rules_runner.fixture_source_options(empty),
                                   rules_runner.FIXTURE_OUT_OF_ORDERNESS_MS)
        rules_runner.create_reference_tables(t_env)
        for rule in rules:
            try:
                rules_runner.validate(t_env, rule)
                click.echo(f"ok   {rule.id}  {rule.path.name}")
            except R.RuleError as exc:
                click.echo(f"FAIL {rule.id}  {exc}")
                failures += 1
    if failures:
        raise click.ClickException(f"{failures} problem(s) in {len(rules)} rule(s)")


@command.command("test")
@click.argument("names", nargs=-1, metavar="[RULE]...")
@click.option("-v", "--verbose", is_flag=True, help="Also show the alerts of passing cases.")
@click.pass_obj
def test(obj, names: tuple[str, ...], verbose: bool) -> None:
    """Run each rule's fixture cases through Flink's local mini-cluster (no Kafka needed).

    All selected rules run in one JVM and one job. Prints PASS/FAIL per case; a failing case
    shows `- expected` alerts that did not appear and `+ unexpected` ones that did. Exit 1 on
    any failure.

    \b
    Examples:
      auditflow rules test
      auditflow rules test AUTH-001 -v
    """
    from auditflow import rules_runner

    rules = _selected(obj, names)
    started = time.monotonic()
    run = rules_runner.run_fixtures(rules, _say, int(obj.cfg.get("detect.max_evidence")))
    for err in run.errors:
        click.echo(f"ERROR {err}")
    for res in run.results:
        mark = "PASS" if res.ok else "FAIL"
        click.echo(f"{mark} {res.rule.id} {res.case.name}  ({len(res.alerts)} alert(s))")
        for line in res.lines:
            click.echo(f"     {line}")
        if verbose and res.ok:
            for a in res.alerts:
                click.echo(f"     = {a['entity_type']}:{a['entity_value']} count={a['event_count']}"
                           f" {a['severity']} {R.iso(a['window_start'])}..{R.iso(a['window_end'])}")
    passed = sum(r.ok for r in run.results)
    click.echo(f"{passed}/{len(run.results)} case(s) passed in {len(rules)} rule(s),"
               f" {len(run.errors)} error(s), {time.monotonic() - started:.0f}s")
    if not run.ok:
        sys.exit(1)


@command.command("backfill")
@click.argument("names", nargs=-1, required=True, metavar="RULE...")
@click.option("--from", "start", required=True, help="Start of history, inclusive (ISO 8601, UTC).")
@click.option("--to", "end", required=True, help="End of history, exclusive (ISO 8601, UTC).")
@click.option("--tenant", help="Only this tenant's events.")
@click.option("--worm", help="Archive location (default archive.worm_prefix); see `auditflow verify`.")
@click.option("--json", "as_json", is_flag=True, help="Print the alerts as JSON.")
@click.pass_obj
def backfill(obj, names: tuple[str, ...], start: str, end: str, tenant: str | None, worm: str | None,
             as_json: bool) -> None:
    """Run rules, unchanged, over the sealed archive and report the alerts they would have
    raised, so a new rule can be tried on history before it is deployed.

    Reads the events of [--from, --to) from the WORM archive and runs the same SQL, reference
    tables and dedup as jobs/detect.py on Flink's local mini-cluster. Nothing is written.

    \b
    Examples:
      auditflow rules backfill AUTH-001 --from 2026-11-01 --to 2026-11-28
      auditflow rules backfill AUTH-001 PRIV-001 --from 2026-11-27T00:00Z --to 2026-11-28 --json
    """
    from auditflow import rules_runner
    from auditflow.archive import layout, wiring

    rules = _selected(obj, names)
    try:
        start_ms, end_ms = R.parse_time(start, "--from"), R.parse_time(end, "--to")
    except R.RuleError as exc:
        raise click.ClickException(str(exc)) from None
    events = layout.archived_events(wiring.worm_store(obj.cfg, worm), tenant, start_ms, end_ms)
    _say(f"{len(events)} archived events in [{start}, {end})" + (f" for tenant {tenant}" if tenant else ""))
    alerts, errors = rules_runner.backfill(rules, events, _say, int(obj.cfg.get("detect.max_evidence")))
    for err in errors:
        click.echo(f"ERROR {err}", err=True)
    flat = [a for rule in rules for a in alerts.get(rule.id, [])]
    if as_json:
        click.echo(json.dumps(flat, indent=1, default=str))
    else:
        for a in flat:
            click.echo(f"{a['rule_id']:<10} {a['severity']:<8} {a['tenant_id']} {a['entity_type']}="
                       f"{a['entity_value']} count={a['event_count']} "
                       f"{R.iso(a['window_start'])}..{R.iso(a['window_end'])}")
        click.echo(f"{len(flat)} alert(s) from {len(rules)} rule(s) over {len(events)} events", err=True)
    if errors:
        sys.exit(1)


@command.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--job", "job_id", help="Only this detect job (Flink job id); default: every running one.")
@click.pass_obj
def status(obj, as_json: bool, job_id: str | None) -> None:
    """Rule health: per rule, what the running detect job matched, alerted and suppressed, how
    far behind it evaluates, and what happened to the events that reached it late.

    \b
    Columns (the running job's Flink metrics, summed over its subtasks, unless said otherwise):
      matches      rows the rule's SQL produced
      alerts       alerts it raised (first alerts and rollups)
      suppressed   matches folded into an open dedup period (counted in a rollup)
      lag          evaluation lag: processing time minus the newest matched event's time, at the
                   rule's latest match (ms; includes the events' own delivery delay)
      late         events behind the watermark for the rule (this run; `total`: [detect] late_topic)
      late eval    late events `auditflow rules late` re-evaluated ([detect] late_results_topic)
      late drop    late events too late to evaluate (more than [detect] late_max_ms behind)
      late alerts  alerts those late evaluations raised
    Filter rules (no `input:` header) take late events in the job itself: their late columns are n/a.

    \b
    Examples:
      auditflow rules status
      auditflow rules status --json | jq '.rules[] | select(.late_dropped > 0)'
    """
    import requests

    from auditflow import kafka, late

    cfg = obj.cfg
    rest = cfg.get("flink.rest_url")
    try:
        jobs = [j for j in flink.list_jobs(cfg)
                if j["name"].startswith(JOB_PREFIX) and j["state"] == "RUNNING"
                and (job_id is None or j["jid"] == job_id)]
        if job_id and not jobs:
            raise click.ClickException(f"no running detect job {job_id}; see `auditflow jobs list`")
        metrics: dict[str, dict[str, int]] = {}
        for job in jobs:  # one per events topic; a rule in two of them shows the last one's
            metrics.update(flink.job_rule_metrics(rest, job["jid"]))
    except requests.RequestException as exc:
        raise click.ClickException(f"Flink REST at {rest} is not reachable ({exc})") from None
    totals = kafka.key_counts(cfg, cfg.get("detect.late_topic"))
    outcomes = late.outcome_counts(cfg)
    rules = _selected(obj, ())
    enabled = {r.id for r in R.select(rules, cfg.get("detect.rules"), cfg.get("detect.disabled"))}
    rows = []
    for r in rules:
        m, o = metrics.get(r.id), outcomes.get(r.id, {})
        running = None if m is None and not jobs else (m or {})
        row = {"rule": r.id, "enabled": r.id in enabled,
               "matches": None if running is None else running.get("matches", 0),
               "alerts": None if running is None else running.get("alerts", 0),
               "suppressed": None if running is None else running.get("suppressed", 0),
               "eval_lag_ms": (running or {}).get("eval_lag_ms") if (running or {}).get("matches") else None,
               # rules without `input:` are filters that take late events: nothing to count
               "late_total": totals.get(r.id, 0) if r.input else None,
               "late_this_run": None if running is None or not r.input else running.get("late", 0),
               "late_evaluated": o.get("evaluated", 0) if r.input else None,
               "late_dropped": o.get("dropped", 0) if r.input else None,
               "late_alerts": o.get("alerts", 0) if r.input else None}
        rows.append(row)
    if as_json:
        listed = [{"id": j["jid"], "name": j["name"], "state": j["state"]} for j in jobs]
        click.echo(json.dumps({"jobs": listed, "rules": rows}, indent=2))
        return
    if jobs:
        for j in jobs:
            click.echo(f"detect job {j['jid']} {j['state']} ({j['name']})")
    else:
        click.echo("no detect job is running (submit: flink run -py jobs/detect.py)")

    def cell(value, none: str = "-") -> str:
        return none if value is None else str(value)

    table = Table("rule", "enabled", "matches", "alerts", "suppressed", "lag ms", "late",
                  "late total", "late eval", "late drop", "late alerts")
    for row in rows:
        table.add_row(row["rule"], "yes" if row["enabled"] else "no", cell(row["matches"]),
                      cell(row["alerts"]), cell(row["suppressed"]), cell(row["eval_lag_ms"]),
                      cell(row["late_this_run"], "n/a" if row["late_total"] is None else "-"),
                      cell(row["late_total"], "n/a"), cell(row["late_evaluated"], "n/a"),
                      cell(row["late_dropped"], "n/a"), cell(row["late_alerts"], "n/a"))
    Console().print(table)


@command.command("late")
@click.option("--once", is_flag=True, help="Handle what [detect] late_topic holds now, then exit.")
@click.option("--interval", default=10.0, show_default=True, help="Seconds between batches (not --once).")
@click.pass_obj
def late_cmd(obj, once: bool, interval: float) -> None:
    """Evaluate the events that reached the detect job behind a rule's watermark.

    For the rules [detect] rules / disabled enable (a late record of any other rule is counted
    as dropped), reads [detect] late_topic (consumer group [detect] late_group_id), re-runs each rule
    unchanged over the tenant's events around its late events (read back from [detect]
    events_topic; a local Flink mini-cluster, as `rules backfill`) and writes the alerts they
    cause to [detect] alerts_topic, once, with `late_ms` set, skipping any the job already
    raised for the same dedup period. An event more than [detect] late_max_ms behind is too
    late: it is counted as dropped and the `rules backfill` command that evaluates it from the
    archive is printed. Outcomes go to [detect] late_results_topic (`auditflow rules status`).
    Alerts, outcomes and offsets are committed in one Kafka transaction.

    \b
    Examples:
      auditflow rules late                     # keep evaluating, one batch every 10 s
      auditflow rules late --once              # one batch (cron, CI)
    """
    from confluent_kafka import KafkaException

    from auditflow import late, rules_runner

    cfg = obj.cfg
    try:
        rules = rules_runner.enabled_rules(cfg)
    except R.RuleError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        evaluator = late.LateEvaluator(cfg, rules, _say)
    except KafkaException as exc:
        raise click.ClickException(f"Kafka at {cfg.get('kafka.bootstrap_servers')}: {exc}") from None
    try:
        while True:
            try:
                s = evaluator.run_once()
            except R.RuleError as exc:
                raise click.ClickException(str(exc)) from None
            except KafkaException as exc:
                raise click.ClickException(f"late evaluation failed, nothing committed: {exc}") from None
            for a in s.alerts:
                click.echo(f"LATE {a['rule_id']:<10} {a['severity']:<8} {a['tenant_id']} {a['entity_type']}="
                           f"{a['entity_value']} count={a['event_count']} late_ms={a['late_ms']}"
                           f" {R.iso(a['window_start'])}..{R.iso(a['window_end'])}")
            if s.read or once:
                _say(f"late: {s.read} record(s): {s.evaluated} evaluated, {s.dropped} dropped (too late),"
                     f" {s.waiting} waiting; {len(s.alerts)} late alert(s)")
            if once:
                return
            time.sleep(interval)
    finally:
        evaluator.close()
