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
      auditflow rules import-sigma ~/sigma/rules/cloud/aws   # Sigma -> sql/detections/sigma/
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
    table = Table()
    # the id whole at any terminal width (SIGMA-<12 hex> ids were cut to "SIGMA-0AC1…")
    table.add_column("id", no_wrap=True, min_width=max((len(r.id) for r in rules), default=2))
    for name in ("severity", "title", "dedup", "mitre", "enabled"):
        table.add_column(name)
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
            metrics.update(flink.job_rule_metrics(cfg, job["jid"]))
    except requests.RequestException as exc:
        raise click.ClickException(f"Flink REST at {rest} is not reachable ({exc})") from None
    totals = kafka.key_counts(cfg, cfg.get("detect.late_topic"), "analyst")
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
    from sigma.collection import SigmaCollection
    from sigma.correlations import SigmaCorrelationRule
    from sigma.exceptions import SigmaError
    from sigma.rule import SigmaRule

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
    # correlations first: resolving their references (across all files) marks the referenced
    # rules, which get no rule file of their own unless the correlation says `generate: true`
    everything = SigmaCollection([rule for _, rule in loaded], resolve_references=False)
    refused: dict[int, str] = {}
    for _, rule in loaded:
        if isinstance(rule, SigmaCorrelationRule):
            try:
                rule.resolve_rule_references(everything)
            except SigmaError as exc:
                refused[id(rule)] = compiler._reason(exc)
    # each base rule compiled once (pySigma's pipeline rewrites the rule it compiles)
    compiled_once: dict[int, compiler.Compiled | compiler.Unsupported] = {}

    def compile_base(rule: SigmaRule) -> compiler.Compiled:
        if id(rule) not in compiled_once:
            try:
                compiled_once[id(rule)] = compiler.where_clause(rule)
            except compiler.Unsupported as exc:
                compiled_once[id(rule)] = exc
        got = compiled_once[id(rule)]
        if isinstance(got, compiler.Unsupported):
            raise got
        return got

    for path, rule in loaded:
        rel = _relative(path, roots)
        row = {"file": rel, "sigma_id": str(rule.id), "title": rule.title}
        if isinstance(rule, SigmaCorrelationRule):
            results.append(_import_correlation(rule, row, refused.get(id(rule)), compile_base, taken, out_dir,
                                               path, source_note, dry_run))
            continue
        ls = rule.logsource
        row["logsource"] = "/".join(x for x in (ls.product, ls.service) if x) or str(ls.category)
        try:
            compiled = compile_base(rule)
            if compiled.rule_id in taken:
                raise compiler.Unsupported(f"rule id {compiled.rule_id} is also that of"
                                           f" {taken[compiled.rule_id]}")
        except compiler.Unsupported as exc:
            results.append({**row, "status": "unsupported", "reason": str(exc)})
            continue
        if not rule._output:
            # referenced by a correlation: matched there, no alert of its own
            users = "; ".join(dict.fromkeys(str(c.title) for c in rule._backreferences))
            results.append({**row, "status": "correlation base", "id": compiled.rule_id,
                            "logsource": compiled.logsource.name, "reason": f"used by {users}"})
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
            elif r["status"] == "correlation base":
                click.echo(f"base {r['id']}  {r['logsource']:<17} {r['file']}  ({r['reason']}; no rule file)")
            else:
                click.echo(f"FAIL {r['file']}  {r['reason']}")
        table = Table("logsource", "rules", "compiled", "with a mapping added", "unsupported",
                      "correlation base")
        for ls in sorted({r["logsource"] for r in results}):
            mine = [r for r in results if r["logsource"] == ls]
            table.add_row(ls, str(len(mine)), str(sum(r["status"] == "compiled" for r in mine)),
                          str(sum(r["status"] == "compiled, mapping added" for r in mine)),
                          str(sum(r["status"] == "unsupported" for r in mine)),
                          str(sum(r["status"] == "correlation base" for r in mine)))
        Console().print(table)
        where = f"written to {out_dir}" if compiled_n and not dry_run else "nothing written"
        _say(f"{compiled_n} of {len(results)} rule(s) compiled, {where}")
    if not compiled_n:
        raise click.ClickException(f"none of the {len(results)} Sigma rule(s) compiled")


def _import_correlation(rule, row: dict, refused: str | None, compile_base, taken: dict[str, str],
                        out_dir: Path, path: Path, source_note: str, dry_run: bool) -> dict:
    """One Sigma correlation rule through udfs/detect/sigma/correlation.py: its row of the report."""
    from udfs.detect.sigma import compiler, correlation
    from udfs.detect.sigma.pipelines import FieldNotMapped, logsource_for

    row = {**row, "logsource": "correlation"}

    def where(base) -> str:
        try:
            return compile_base(base).where
        except compiler.Unsupported as exc:
            raise compiler.Unsupported(f"referenced rule {base.name or base.title!r}: {exc}") from None

    def column(base, field: str) -> str:
        try:
            return logsource_for(base).field(field)  # where() ran first: the logsource exists
        except FieldNotMapped as exc:
            raise compiler.Unsupported(f"referenced rule {base.name or base.title!r}:"
                                       f" {compiler._reason(exc)}") from None

    try:
        if refused:
            raise compiler.Unsupported(refused)
        rid = compiler.rule_id(rule)
        if rid in taken:
            raise compiler.Unsupported(f"rule id {rid} is also that of {taken[rid]}")
        compiled = correlation.compile_correlation(rule, where, column)
    except (compiler.Unsupported, correlation.CorrelationError) as exc:
        return {**row, "status": "unsupported", "reason": str(exc)}
    taken[rid] = row["file"]
    name = f"{rid}_{compiler.slug(path, rule)}.sql"
    if not dry_run:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / name).write_text(correlation.render_correlation(rule, compiled, rid,
                                                                   f"{row['file']}; {source_note}"))
        fixtures = (out_dir / name).with_suffix("").with_suffix(".fixtures.yaml")
        if not fixtures.exists():
            fixtures.write_text(correlation.render_fixture_skeleton(rid, compiled))
    return {**row, "status": "compiled", "id": rid, "rule_file": str(out_dir / name), "added_mappings": []}


def _relative(path: Path, roots: list[Path]) -> str:
    resolved = path.resolve()
    for root in roots:
        base = root if root.is_dir() else root.parent
        if resolved.is_relative_to(base):
            return resolved.relative_to(base).as_posix()
    return path.name
