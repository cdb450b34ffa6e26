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
    from auditflow import rules_runner

    rules = _selected(obj, ())
    try:
        enabled = {r.id for r in rules_runner.enabled_rules(obj.cfg)}
        pending = {r.id for r in rules if F.is_pending(r)}
    except R.RuleError as exc:
        raise click.ClickException(str(exc)) from None
    rows = [{"id": r.id, "title": r.title, "severity": r.severity, "enabled": r.id in enabled,
             "pending": r.id in pending,
             "dedup_window_ms": r.dedup_window_ms, "dedup_key": list(r.dedup_key), "mitre": list(r.mitre),
             "compliance": list(r.compliance), "owner": r.owner, "file": str(r.path)} for r in rules]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("id", "severity", "title", "dedup", "mitre", "enabled")
    for r, row in zip(rules, rows, strict=True):
        table.add_row(r.id, r.severity, r.title, f"{r.dedup_window_ms // 60000}m",
                      ", ".join(r.mitre), "yes" if row["enabled"] else
                      "[dim]pending (no fixture cases)[/dim]" if row["pending"] else "[dim]no[/dim]")
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
    for rule in run.pending:
        click.echo(f"PENDING {rule.id}  no fixture cases yet ({rule.fixtures_path().name}); not deployed")
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
    pending = f", {len(run.pending)} pending" if run.pending else ""
    click.echo(f"{passed}/{len(run.results)} case(s) passed in {len(rules) - len(run.pending)} rule(s)"
               f"{pending}, {len(run.errors)} error(s), {time.monotonic() - started:.0f}s")
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


@command.command("import-sigma")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path),
                metavar="PATH...")
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the rule files (default: sigma/ in [detect] rules_dir).")
@click.option("--source", "source_note", default="SigmaHQ, Detection Rule License 1.1", show_default=True,
              help="Attribution written into every rule's sigma_source header with its file name.")
@click.option("--dry-run", is_flag=True, help="Compile and report only; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the per-rule results as JSON.")
@click.pass_obj
def import_sigma(obj, paths: tuple[Path, ...], output: Path | None, source_note: str, dry_run: bool,
                 as_json: bool) -> None:
    """Compile Sigma rules (YAML, spec 2.x; files or folders) into rule files of this project.

    Each rule becomes `SIGMA-<first 12 hex of its Sigma id>_<file name>.sql`: the standard header
    (Sigma level -> severity, attack.tXXXX tags -> mitre; id, author, references, level, status,
    tags and source kept as sigma_* keys) and one SELECT over `events`. Beside it a fixture
    skeleton is written if there is none (existing fixtures are never overwritten); until its
    cases are filled in, the rule is PENDING: `rules test` lists it and the detect job skips it.
    A rule that cannot be compiled faithfully (a field with no column, a modifier with no Flink
    SQL form, an unknown logsource) is reported with the reason and nothing is written for it.
    Prints one line per rule and a table by logsource; exit 1 only if no rule compiled.
    Check what was written with `auditflow rules validate` (Flink plans each query).

    \b
    Examples:
      auditflow rules import-sigma ~/sigma/rules/cloud/aws/cloudtrail
      auditflow rules import-sigma rules/linux/auditd --dry-run
      auditflow rules import-sigma rule.yml -o /tmp/rules --json | jq '.[] | select(.status != "compiled")'
    """
    from auditflow import rules_runner
    from udfs.detect.sigma import compiler

    out_dir = output or rules_runner.rules_dir(obj.cfg) / R.IMPORTED_DIRS[0]
    roots = [p.resolve() for p in paths]
    results: list[dict] = []
    loaded = []
    for path in compiler.sigma_files(list(paths)):
        rules, problem = compiler.load(path)
        if problem:
            results.append({"file": _relative(path, roots), "status": "unsupported", "logsource": "?",
                            "reason": problem})
        loaded += [(path, rule) for rule in rules]
    taken: dict[str, str] = {}
    for path, rule in loaded:
        rel = _relative(path, roots)
        ls = rule.logsource
        row = {"file": rel, "sigma_id": str(rule.id), "title": rule.title,
               "logsource": "/".join(x for x in (ls.product, ls.service) if x) or str(ls.category)}
        try:
            compiled = compiler.where_clause(rule)
            if compiled.rule_id in taken:
                raise compiler.Unsupported(f"rule id {compiled.rule_id} is also that of"
                                           f" {taken[compiled.rule_id]}")
        except compiler.Unsupported as exc:
            results.append({**row, "status": "unsupported", "reason": str(exc)})
            continue
        taken[compiled.rule_id] = rel
        status = "compiled, mapping added" if compiled.added_mappings else "compiled"
        name = f"{compiled.rule_id}_{compiler.slug(path, rule)}.sql"
        row |= {"status": status, "id": compiled.rule_id, "rule_file": str(out_dir / name),
                "added_mappings": compiled.added_mappings, "logsource": compiled.logsource.name}
        if not dry_run:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / name).write_text(compiler.render_rule(compiled, rel, f"{rel}; {source_note}"))
            fixtures = (out_dir / name).with_suffix("").with_suffix(".fixtures.yaml")
            if not fixtures.exists():
                fixtures.write_text(compiler.render_fixture_skeleton(compiled))
        results.append(row)
    compiled_n = sum(r["status"].startswith("compiled") for r in results)
    if as_json:
        click.echo(json.dumps(results, indent=1))
    else:
        for r in results:
            if r["status"].startswith("compiled"):
                added = f"  (mapping added: {', '.join(r['added_mappings'])})" if r["added_mappings"] else ""
                click.echo(f"ok   {r['id']}  {r['logsource']:<17} {r['file']}{added}")
            else:
                click.echo(f"FAIL {r['file']}  {r['reason']}")
        table = Table("logsource", "rules", "compiled", "with a mapping added", "unsupported")
        for ls in sorted({r["logsource"] for r in results}):
            mine = [r for r in results if r["logsource"] == ls]
            table.add_row(ls, str(len(mine)), str(sum(r["status"] == "compiled" for r in mine)),
                          str(sum(r["status"] == "compiled, mapping added" for r in mine)),
                          str(sum(r["status"] == "unsupported" for r in mine)))
        Console().print(table)
        where = f"written to {out_dir}" if compiled_n and not dry_run else "nothing written"
        _say(f"{compiled_n} of {len(results)} rule(s) compiled, {where}")
    if not compiled_n:
        raise click.ClickException(f"none of the {len(results)} Sigma rule(s) compiled")


def _relative(path: Path, roots: list[Path]) -> str:
    resolved = path.resolve()
    for root in roots:
        base = root if root.is_dir() else root.parent
        if resolved.is_relative_to(base):
            return resolved.relative_to(base).as_posix()
    return path.name
