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
      auditflow rules status                   # late events per rule, running detect job
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
@click.pass_obj
def status(obj, as_json: bool) -> None:
    """Running detect jobs, and per rule the events that arrived too late for it.

    Late events are those behind the job's watermark (windows, patterns and temporal joins no
    longer take them). Totals come from [detect] late_topic (all runs); `this run` is the
    running job's Flink metric.

    \b
    Example:
      auditflow rules status
    """
    import requests

    from auditflow import kafka

    cfg = obj.cfg
    rest = cfg.get("flink.rest_url")
    try:
        jobs = [j for j in flink.list_jobs(cfg)
                if j["name"].startswith(JOB_PREFIX) and j["state"] == "RUNNING"]
    except requests.RequestException as exc:
        raise click.ClickException(f"Flink REST at {rest} is not reachable ({exc})") from None
    running: dict[str, int] = {}
    for job in jobs:
        for rule, n in flink.job_late_metrics(rest, job["jid"]).items():
            running[rule] = running.get(rule, 0) + n
    totals = kafka.key_counts(cfg, cfg.get("detect.late_topic"))
    rules = _selected(obj, ())
    enabled = {r.id for r in R.select(rules, cfg.get("detect.rules"), cfg.get("detect.disabled"))}
    # rules without `input:` are filters that take late events: nothing to count
    rows = [{"rule": r.id, "enabled": r.id in enabled,
             "late_total": totals.get(r.id, 0) if r.input else None,
             "late_this_run": running.get(r.id)} for r in rules]
    if as_json:
        listed = [{"id": j["jid"], "name": j["name"], "state": j["state"]} for j in jobs]
        click.echo(json.dumps({"jobs": listed, "rules": rows}, indent=2))
        return
    if jobs:
        for j in jobs:
            click.echo(f"detect job {j['jid']} {j['state']} ({j['name']})")
    else:
        click.echo("no detect job is running (submit: flink run -py jobs/detect.py)")
    table = Table("rule", "enabled", "late events (total)", "late (this run)")
    for row in rows:
        this_run = "-" if row["late_this_run"] is None else str(row["late_this_run"])
        total = "n/a (filter)" if row["late_total"] is None else str(row["late_total"])
        table.add_row(row["rule"], "yes" if row["enabled"] else "no", total, this_run)
    Console().print(table)
