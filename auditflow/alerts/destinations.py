"""Pure logic of alert routing: destinations from configuration, per-destination filters,
the payload each destination expects, the retry schedule and the idempotency key.

Nothing here does I/O; ``auditflow.alerts.deliver`` sends what ``build_request`` returns and
``auditflow.alerts.router`` wires Kafka around it.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from fnmatch import fnmatchcase
from typing import Any

from udfs.detect import rules

# the rules' severities, lowest first (udfs/detect/rules.py ranks them)
SEVERITIES = tuple(sorted(rules.SEVERITIES, key=rules.SEVERITIES.__getitem__))
KINDS = ("slack", "pagerduty", "webhook")
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
# PagerDuty Events v2 knows four severities; ours map onto them from the top down.
PAGERDUTY_SEVERITY = {"critical": "critical", "high": "error", "medium": "warning",
                      "low": "info", "informational": "info"}
SLACK_COLOUR = {"critical": "#8B0000", "high": "#E01E5A", "medium": "#ECB22E",
                "low": "#36C5F0", "informational": "#9E9E9E"}
TIME_FIELDS = ("window_start", "window_end", "first_seen", "last_seen", "created_at")
MAX_EVIDENCE_IN_PAYLOAD = 20
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class DestinationError(ValueError):
    """A destination's configuration is wrong; the message names the destination and key."""


@dataclass(frozen=True)
class Destination:
    name: str
    kind: str
    url: str
    routing_key: str = ""
    min_severity: str = "informational"
    rule_ids: tuple[str, ...] = ()          # fnmatch patterns; empty = every rule
    exclude_rule_ids: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()           # fnmatch patterns; empty = every tenant
    headers: tuple[tuple[str, str], ...] = ()
    timeout_s: float = 10.0
    dedup_by: str = "alert"                 # PagerDuty: one incident per "alert" or per "entity"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_s: float = 1.0
    max_s: float = 60.0
    retry_after_max_s: float = 300.0


@dataclass(frozen=True)
class Request:
    """One HTTP POST of a JSON body."""
    url: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 10.0


# ---------------------------------------------------------------- configuration
def _expand(value: str, where: str, environ: Mapping[str, str]) -> str:
    """${NAME} in a destination setting reads the environment, so webhook URLs and routing keys
    (secrets) need not be written into config files."""
    def sub(m: re.Match) -> str:
        if m.group(1) not in environ:
            raise DestinationError(f"{where} refers to ${{{m.group(1)}}}, which is not set in the "
                                   "environment")
        return environ[m.group(1)]
    return _ENV_REF.sub(sub, value)


def _patterns(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None or raw == "":
        return ()
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        return tuple(raw)
    raise DestinationError(f"{where} must be a string or a list of strings, got {raw!r}")


KNOWN_KEYS = {"type", "url", "routing_key", "min_severity", "rule_ids", "exclude_rule_ids", "tenants",
              "headers", "timeout_s", "dedup_by", "enabled"}


def parse_destination(name: str, raw: Mapping[str, Any],
                      environ: Mapping[str, str] | None = None) -> Destination | None:
    """A Destination from its config table, or None when ``enabled = false``."""
    env = os.environ if environ is None else environ
    where = f"alerts.destinations.{name}"
    if not isinstance(raw, Mapping):
        raise DestinationError(f"{where} must be a table of settings, got {raw!r}")
    unknown = set(raw) - KNOWN_KEYS
    if unknown:
        raise DestinationError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}; "
                               f"known: {', '.join(sorted(KNOWN_KEYS))}")
    if raw.get("enabled", True) is False:
        return None
    kind = raw.get("type")
    if kind not in KINDS:
        raise DestinationError(f"{where}.type must be one of {', '.join(KINDS)}, got {kind!r}")
    url = _expand(str(raw.get("url") or (PAGERDUTY_URL if kind == "pagerduty" else "")), f"{where}.url", env)
    if not url.startswith(("http://", "https://")):
        raise DestinationError(f"{where}.url must be an http(s) URL, got {url!r}")
    routing_key = _expand(str(raw.get("routing_key", "")), f"{where}.routing_key", env)
    if kind == "pagerduty" and not routing_key:
        raise DestinationError(f"{where}.routing_key is required for PagerDuty (the integration key "
                               "of an Events API v2 service; e.g. routing_key = \"${PD_ROUTING_KEY}\")")
    min_sev = str(raw.get("min_severity", "informational")).lower()
    if min_sev not in SEVERITIES:
        raise DestinationError(f"{where}.min_severity must be one of {', '.join(SEVERITIES)}, "
                               f"got {min_sev!r}")
    headers = raw.get("headers", {})
    if not isinstance(headers, Mapping):
        raise DestinationError(f"{where}.headers must be a table of header = value, got {headers!r}")
    dedup_by = raw.get("dedup_by", "alert")
    if dedup_by not in ("alert", "entity"):
        raise DestinationError(f"{where}.dedup_by must be 'alert' or 'entity', got {dedup_by!r}")
    try:
        timeout_s = float(raw.get("timeout_s", 10.0))
    except (TypeError, ValueError) as exc:
        raise DestinationError(f"{where}.timeout_s must be a number of seconds") from exc
    return Destination(
        name=name, kind=kind, url=url, routing_key=routing_key, min_severity=min_sev,
        rule_ids=_patterns(raw.get("rule_ids"), f"{where}.rule_ids"),
        exclude_rule_ids=_patterns(raw.get("exclude_rule_ids"), f"{where}.exclude_rule_ids"),
        tenants=_patterns(raw.get("tenants"), f"{where}.tenants"),
        headers=tuple((str(k), _expand(str(v), f"{where}.headers.{k}", env)) for k, v in headers.items()),
        timeout_s=timeout_s, dedup_by=dedup_by,
    )


def parse_destinations(raw: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> list[Destination]:
    if not isinstance(raw, Mapping):
        raise DestinationError(f"alerts.destinations must be a table of NAME = {{...}}, got {raw!r}")
    out = []
    for name in sorted(raw):
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
            raise DestinationError(f"destination name {name!r} may only use letters, digits, '_', '.', '-'")
        dest = parse_destination(name, raw[name], environ)
        if dest is not None:
            out.append(dest)
    return out


def retry_policy(alerts: Mapping[str, Any]) -> RetryPolicy:
    policy = RetryPolicy(
        max_attempts=int(alerts.get("max_attempts", 6)), base_s=float(alerts.get("backoff_base_s", 1.0)),
        max_s=float(alerts.get("backoff_max_s", 60.0)),
        retry_after_max_s=float(alerts.get("retry_after_max_s", 300.0)),
    )
    if policy.max_attempts < 1 or policy.base_s < 0 or policy.max_s < policy.base_s:
        raise DestinationError("alerts: need max_attempts >= 1 and 0 <= backoff_base_s <= backoff_max_s, "
                               f"got {policy}")
    return policy


# ---------------------------------------------------------------- alerts and filters
def to_millis(value: Any) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp() * 1000)
    return int(value)


def normalize_alert(alert: Mapping[str, Any]) -> dict[str, Any]:
    """The Avro deserializer gives timestamp-millis as datetimes; routing works on int millis."""
    out = dict(alert)
    for name in TIME_FIELDS:
        if out.get(name) is not None:
            out[name] = to_millis(out[name])
    out["severity"] = str(out.get("severity", "")).lower()
    out["evidence"] = [dict(e) for e in out.get("evidence") or []]
    return out


def severity_rank(severity: str) -> int:
    """1 (informational) .. 5 (critical); unknown labels rank 0 so they never pass a minimum."""
    return rules.SEVERITIES.get(severity.lower(), 0)


def matches(dest: Destination, alert: Mapping[str, Any]) -> bool:
    rule, tenant = str(alert.get("rule_id", "")), str(alert.get("tenant_id", ""))
    if severity_rank(str(alert.get("severity", ""))) < severity_rank(dest.min_severity):
        return False
    if dest.rule_ids and not any(fnmatchcase(rule, p) for p in dest.rule_ids):
        return False
    if any(fnmatchcase(rule, p) for p in dest.exclude_rule_ids):
        return False
    return not dest.tenants or any(fnmatchcase(tenant, p) for p in dest.tenants)


def alert_basis(alert: Mapping[str, Any]) -> str:
    """What identifies an alert: its alert_id (already derived by the detect job from rule id,
    dedup key and window start, so a replay yields the same id), else rule + entity + window."""
    if alert.get("alert_id"):
        return str(alert["alert_id"])
    return "|".join(str(alert.get(k, "")) for k in
                    ("rule_id", "tenant_id", "entity_type", "entity_value", "window_start", "window_end"))


def idempotency_key(alert: Mapping[str, Any], destination: str) -> str:
    """Stable per (alert, destination): the same alert sent twice to one destination carries the
    same key, so both our delivered log and the receiver can recognise the repeat."""
    return hashlib.sha256(f"{alert_basis(alert)}\x1f{destination}".encode()).hexdigest()[:40]


# ---------------------------------------------------------------- retries
def classify(status: int | None) -> str:
    """'ok', 'retry' or 'permanent'. None means no response (connection error, timeout)."""
    if status is None or status in (408, 429) or status >= 500:
        return "retry"
    if 200 <= status < 300:
        return "ok"
    return "permanent"       # other 4xx (bad payload, revoked webhook) and odd 1xx/3xx


def backoff_delay(attempt: int, policy: RetryPolicy, rand: Callable[[], float] = random.random) -> float:
    """Wait before attempt ``attempt + 1``: exponential (base * 2^(attempt-1)) capped at max_s,
    with "equal jitter" (half fixed, half random) so many routers do not retry in step."""
    ceiling = min(policy.max_s, policy.base_s * (2 ** (attempt - 1)))
    return ceiling / 2 + rand() * ceiling / 2


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as delay-seconds or an HTTP-date (RFC 9110 10.2.3); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def next_wait(attempt: int, status: int | None, retry_after: str | None, policy: RetryPolicy,
              rand: Callable[[], float] = random.random, now: datetime | None = None) -> float | None:
    """Seconds to wait before trying again after failed attempt number ``attempt``, or None when
    this failure is final (permanent, or the attempts are used up). A server's Retry-After wins
    over our schedule (up to retry_after_max_s)."""
    if classify(status) != "retry" or attempt >= policy.max_attempts:
        return None
    told = parse_retry_after(retry_after, now)
    if told is not None:
        return min(told, policy.retry_after_max_s)
    return backoff_delay(attempt, policy, rand)


# ---------------------------------------------------------------- payloads
def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def window_text(start_ms: int, end_ms: int) -> str:
    start = datetime.fromtimestamp(start_ms / 1000, UTC)
    end = datetime.fromtimestamp(end_ms / 1000, UTC)
    span = (end_ms - start_ms) / 1000
    length = f"{span:.0f}s" if span < 120 else f"{span / 60:.0f}m" if span < 7200 else f"{span / 3600:.1f}h"
    end_fmt = "%H:%M:%S" if start.date() == end.date() else "%Y-%m-%d %H:%M:%S"
    return f"{start:%Y-%m-%d %H:%M:%S}–{end.strftime(end_fmt)} UTC ({length})"


def entity_text(alert: Mapping[str, Any]) -> str:
    return f"{alert.get('entity_type', '?')} {alert.get('entity_value', '?')}"


def summary_line(alert: Mapping[str, Any]) -> str:
    """One line a person reads in a notification: severity, rule, title, who, how many."""
    n = alert.get("event_count", 0)
    return (f"[{str(alert.get('severity', '?')).upper()}] {alert.get('rule_id')} {alert.get('title')}: "
            f"{entity_text(alert)} (tenant {alert.get('tenant_id')}), {n} event{'s' if n != 1 else ''}")


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(alert: Mapping[str, Any]) -> dict[str, Any]:
    """Incoming-webhook message: ``text`` is the notification fallback; the blocks sit in an
    attachment so the severity shows as the coloured bar."""
    sev = str(alert.get("severity", ""))
    esc = _slack_escape
    fields = [
        f"*Rule*\n`{esc(str(alert.get('rule_id')))}`",
        f"*Tenant*\n{esc(str(alert.get('tenant_id')))}",
        f"*Entity*\n{esc(str(alert.get('entity_type')))} `{esc(str(alert.get('entity_value')))}`",
        f"*Events*\n{alert.get('event_count')} ({len(alert.get('evidence') or [])} as evidence)",
        f"*Window*\n{window_text(alert['window_start'], alert['window_end'])}",
    ]
    if alert.get("mitre"):
        fields.append("*MITRE ATT&amp;CK*\n" + ", ".join(esc(t) for t in alert["mitre"]))
    if alert.get("compliance"):
        fields.append("*Controls*\n" + ", ".join(esc(c) for c in alert["compliance"]))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "emoji": False,
                                    "text": f"{sev.upper()}: {alert.get('title')}"[:150]}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields[:10]]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"alert `{esc(str(alert.get('alert_id')))}` · raised {iso(alert.get('created_at'))} "
            "· auditflow")}]},
    ]
    return {"text": esc(summary_line(alert)),
            "attachments": [{"color": SLACK_COLOUR.get(sev, "#9E9E9E"), "blocks": blocks}]}


def _details(alert: Mapping[str, Any]) -> dict[str, Any]:
    evidence = list(alert.get("evidence") or [])
    return {
        "alert_id": alert.get("alert_id"), "rule_id": alert.get("rule_id"), "title": alert.get("title"),
        "severity": alert.get("severity"), "tenant_id": alert.get("tenant_id"),
        "entity_type": alert.get("entity_type"), "entity_value": alert.get("entity_value"),
        "window_start": iso(alert.get("window_start")), "window_end": iso(alert.get("window_end")),
        "first_seen": iso(alert.get("first_seen")), "last_seen": iso(alert.get("last_seen")),
        "event_count": alert.get("event_count"), "evidence_count": len(evidence),
        "evidence": evidence[:MAX_EVIDENCE_IN_PAYLOAD],
        "mitre": alert.get("mitre"), "compliance": alert.get("compliance"),
        "dedup_key": alert.get("dedup_key"),
    }


def pagerduty_dedup_key(alert: Mapping[str, Any], dest: Destination) -> str:
    """'alert': one incident per alert (a resend merges into it); 'entity': one open incident per
    rule + tenant + entity, so later windows add to it instead of paging again."""
    key = str(alert.get("dedup_key")) if dest.dedup_by == "entity" and alert.get("dedup_key") else \
        f"auditflow:{alert_basis(alert)}"
    return key if len(key) <= 255 else "auditflow:" + hashlib.sha256(key.encode()).hexdigest()


def pagerduty_payload(alert: Mapping[str, Any], dest: Destination) -> dict[str, Any]:
    """Events API v2 ``trigger`` event."""
    return {
        "routing_key": dest.routing_key,
        "event_action": "trigger",
        "dedup_key": pagerduty_dedup_key(alert, dest),
        "client": "auditflow",
        "payload": {
            "summary": summary_line(alert)[:1024],
            "source": f"auditflow/{alert.get('tenant_id')}",
            "severity": PAGERDUTY_SEVERITY.get(str(alert.get("severity")), "info"),
            "timestamp": iso(alert.get("created_at")),
            "component": f"{alert.get('entity_type')}:{alert.get('entity_value')}",
            "group": str(alert.get("tenant_id")),
            "class": str(alert.get("rule_id")),
            "custom_details": _details(alert),
        },
    }


def webhook_payload(alert: Mapping[str, Any], dest: Destination, key: str) -> dict[str, Any]:
    """The alert as in schemas/alert.avsc (times in UTC millis), with ISO copies of the times."""
    body = {k: v for k, v in alert.items()}
    for name in TIME_FIELDS:
        body[f"{name}_iso"] = iso(alert.get(name))
    return {"idempotency_key": key, "destination": dest.name, "schema": "io.auditflow.Alert",
            "summary": summary_line(alert), "alert": body}


def build_request(dest: Destination, alert: Mapping[str, Any], user_agent: str = "auditflow") -> Request:
    key = idempotency_key(alert, dest.name)
    headers = {"User-Agent": user_agent, "Idempotency-Key": key}
    if dest.kind == "slack":
        body = slack_payload(alert)
    elif dest.kind == "pagerduty":
        body = pagerduty_payload(alert, dest)
    else:
        body = webhook_payload(alert, dest, key)
    headers.update(dict(dest.headers))
    return Request(url=dest.url, body=body, headers=headers, timeout_s=dest.timeout_s)


def redacted_url(url: str) -> str:
    """Scheme, host and the first path segment: webhook URLs carry their secret in the path."""
    m = re.match(r"(https?://[^/?#]+)(/[^/?#]*)?", url)
    if not m:
        return "****"
    rest = url[m.end():]
    return m.group(1) + (m.group(2) or "") + ("/****" if rest.strip("/") else "")
