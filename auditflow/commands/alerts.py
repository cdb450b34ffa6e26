"""`auditflow alerts`: route alerts from audit.alerts to Slack, PagerDuty and webhooks; tail them.

The logic lives in auditflow/alerts/ (route: pure; deliver: HTTP; router: Kafka; tail: reading).
"""

from __future__ import annotations

import json
import sys

import click
from confluent_kafka import KafkaException
from rich.console import Console
from rich.table import Table

from auditflow.alerts import destinations
from auditflow.alerts.router import Router, RouterError, Settings, preflight

console = Console(stderr=True, soft_wrap=True, highlight=False)
out = Console(soft_wrap=True, highlight=False)


def _say(msg: str) -> None:
    import time

    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {msg}")


def _settings(obj, topic: str | None, group_id: str | None, only: tuple[str, ...] = ()) -> Settings:
    try:
        s = Settings.from_config(obj.cfg, topic, group_id)
    except RouterError as exc:
        raise click.ClickException(str(exc)) from exc
    if only:
        unknown = set(only) - {d.name for d in s.destinations}
        if unknown:
            raise click.ClickException(f"--only {', '.join(sorted(unknown))}: not a configured destination "
                                       f"(configured: {', '.join(d.name for d in s.destinations) or 'none'})")
        s.destinations = [d for d in s.destinations if d.name in only]
    return s


@click.group("alerts")
def command() -> None:
    """Deliver alerts from audit.alerts to Slack, PagerDuty and JSON webhooks; watch them live.

    \b
    Destinations and their filters are configuration (alerts.destinations); see
    `auditflow alerts destinations` and the README section "Alert routing".

    \b
    Examples:
      auditflow alerts tail --follow
      auditflow alerts route                   # runs until Ctrl-C
      auditflow alerts route --once            # route what is there, then stop
    """


@command.command("route")
@click.option("--once", is_flag=True, help="Stop when caught up with the topic (or idle for --idle-timeout).")
@click.option("--max-alerts", type=int, help="Stop after routing this many alerts.")
@click.option("--idle-timeout", type=float, help="Stop after this many seconds without a new alert "
              "(default 10 with --once, else never).")
@click.option("--timeout", "timeout_s", type=float, help="Stop after this many seconds in all.")
@click.option("--topic", help="Alert topic (default: alerts.topic).")
@click.option("--group-id", help="Consumer group (default: alerts.group_id); offsets are committed there.")
@click.option("--only", multiple=True, metavar="NAME", help="Route only to these destinations; repeatable.")
@click.option("--dry-run", is_flag=True, help="Print the payloads instead of sending; commits nothing.")
@click.option("--fail-on-dlq", is_flag=True, help="Exit 4 if any delivery was dead-lettered.")
@click.pass_obj
def route_cmd(obj, once: bool, max_alerts: int | None, idle_timeout: float | None, timeout_s: float | None,
              topic: str | None, group_id: str | None, only: tuple[str, ...], dry_run: bool,
              fail_on_dlq: bool) -> None:
    """Consume alerts and deliver each to every destination whose filter matches.

    Retries 408/429/5xx and connection errors with exponential backoff and jitter (a server's
    Retry-After wins), up to alerts.max_attempts; other 4xx answers, and retries used up, go to
    the dead-letter topic (alerts.dlq_topic) with the alert, destination, status and reason.
    An alert's offset is committed only once all its destinations are done, and each done
    (alert, destination) is recorded in alerts.delivered_topic, so a restart sends nothing twice.
    Each request carries an Idempotency-Key header stable per (alert, destination).

    \b
    Examples:
      auditflow alerts route
      auditflow alerts route --once --max-alerts 100
      auditflow alerts route --dry-run --once --only slack-secops
      AUDITFLOW_PROFILE=prod auditflow alerts route
    """
    s = _settings(obj, topic, group_id, only)
    if not s.destinations:
        raise click.ClickException(
            "no destinations configured: add [profiles.<profile>.alerts.destinations.<name>] tables to "
            "your auditflow.toml (see `auditflow alerts destinations --help`)")
    try:
        preflight(obj.cfg, [s.topic, s.delivered_topic, s.dlq_topic])
        router = Router(obj.cfg, s, _say, dry_run=dry_run)
        router.install_signal_handlers()
        _say(f"routing {s.topic} (group {s.group_id}) to " + ", ".join(
            f"{d.name} ({d.kind})" for d in s.destinations) + (" [dry run]" if dry_run else ""))
        idle = idle_timeout if idle_timeout is not None else (10 if once else None)
        stats = router.run(once=once, max_alerts=max_alerts, idle_timeout_s=idle, timeout_s=timeout_s,
                           commit=not dry_run)
    except (RouterError, KafkaException) as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        console.print("[red]interrupted[/red]: the alert in progress was not committed; it is routed again "
                      "on the next run (destinations already done are skipped)")
        sys.exit(130)
    for text in stats.lines():
        click.echo(text)
    if fail_on_dlq and sum(stats.dead_lettered.values()):
        sys.exit(4)


@command.command("tail")
@click.option("--from-beginning", is_flag=True, 
              help="Every alert still in the topic, not only the last ones.")
@click.option("--follow", "-f", is_flag=True, help="Keep showing new alerts until Ctrl-C.")
@click.option("-n", "last", default=10, show_default=True, 
              help="Without --from-beginning: the last N alerts.")
@click.option("--topic", help="Alert topic (default: alerts.topic).")
@click.option("--tenant", multiple=True, help="Only these tenants (glob, repeatable).")
@click.option("--rule", multiple=True, help="Only these rule ids (glob, repeatable).")
@click.option("--min-severity", type=click.Choice(destinations.SEVERITIES), default="informational")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per alert (for scripts).")
@click.option("--timeout", "timeout_s", type=float, help="Stop after this many seconds.")
@click.pass_obj
def tail_cmd(obj, from_beginning: bool, follow: bool, last: int, topic: str | None, tenant: tuple[str, ...],
             rule: tuple[str, ...], min_severity: str, as_json: bool, timeout_s: float | None) -> None:
    """Show alerts readably: time, severity, rule, tenant, entity, count, window, evidence.

    \b
    Examples:
      auditflow alerts tail                        # the last 10 alerts
      auditflow alerts tail --follow --min-severity high
      auditflow alerts tail --from-beginning --tenant acme --json | jq .rule_id
    """
    from auditflow.alerts import tail

    topic = topic or obj.cfg.get("alerts.topic")
    wanted = destinations.Destination(name="tail", kind="webhook", url="http://-", min_severity=min_severity,
                               rule_ids=rule, tenants=tenant)
    table = Table(*tail.COLUMNS, title=f"alerts on {topic}", title_justify="left")

    def show(alert: dict) -> None:
        if not destinations.matches(wanted, alert):
            return
        if as_json:
            click.echo(json.dumps(alert, default=str))
        elif follow:
            out.print(tail.line(alert))
        else:
            table.add_row(*tail.row(alert))

    stopping = {"now": False}
    try:
        preflight(obj.cfg, [topic])
        if follow and not as_json:
            console.print(f"following {topic}; Ctrl-C to stop")
        tail.read(obj.cfg, topic, from_beginning=from_beginning, follow=follow, last=last, on_alert=show,
                  on_bad=lambda m: console.print(f"[yellow]skip[/yellow] {m}"),
                  stop=lambda: stopping["now"], timeout_s=timeout_s)
    except KeyboardInterrupt:
        pass
    except (RouterError, KafkaException, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    if not follow and not as_json:
        if table.row_count:
            out.print(table)
        else:
            console.print(f"no alerts on {topic}" + (" matching the filters" if tenant or rule else ""))


@command.command("destinations")
@click.pass_obj
def destinations_cmd(obj) -> None:
    """List the configured destinations, their filters and URLs (secrets hidden).

    \b
    Configure them in a profile of your auditflow.toml (${NAME} reads the environment):
      [profiles.prod.alerts.destinations.slack-secops]
      type = "slack"
      url = "${SLACK_WEBHOOK_URL}"
      min_severity = "high"
      [profiles.prod.alerts.destinations.pagerduty]
      type = "pagerduty"
      routing_key = "${PD_ROUTING_KEY}"
      min_severity = "critical"
      tenants = ["acme", "globex"]
      [profiles.prod.alerts.destinations.siem]
      type = "webhook"
      url = "https://siem.example.com/hooks/auditflow"
      headers = { Authorization = "Bearer ${SIEM_TOKEN}" }
      exclude_rule_ids = ["K8S-*"]
    or as JSON in AUDITFLOW_ALERTS__DESTINATIONS, or --set alerts.destinations='{...}'.
    """
    s = _settings(obj, None, None)
    if not s.destinations:
        click.echo("no destinations configured")
        return
    table = Table("name", "type", "url", "min severity", "rules", "tenants")
    for d in s.destinations:
        rules = ", ".join(d.rule_ids) or "all"
        if d.exclude_rule_ids:
            rules += " except " + ", ".join(d.exclude_rule_ids)
        table.add_row(d.name, d.kind, destinations.redacted_url(d.url), d.min_severity, rules,
                      ", ".join(d.tenants) or "all")
    out.print(table)
    click.echo(f"retries: up to {s.policy.max_attempts} attempts, backoff {s.policy.base_s}s doubling to "
               f"{s.policy.max_s}s with jitter; Retry-After honoured up to {s.policy.retry_after_max_s}s")
    click.echo(f"topics: alerts {s.topic}, delivered {s.delivered_topic}, dead letters {s.dlq_topic}; "
               f"group {s.group_id}")
