"""Validation of raw records and parsed events, and the filter policy.

`udfs.parse.parse()` calls `check_raw` before parsing and `check_event` after it, so a caller
gets either a valid event or a `ParseError` with `stage='validate'` and one of these codes:

| error_class | when |
| --- | --- |
| `validate.oversize` | the raw value is larger than `Limits.max_bytes` (default 1 MiB) |
| `validate.no_tenant` | no tenant in the Kafka key and none in the payload |
| `validate.bad_tenant` | the tenant id contains `/`, which separates the parts of a chain id |
| `validate.bad_time` | event time before `Limits.min_time_ms` (2000-01-01), or more than |
| | `Limits.max_future_skew_ms` (default 1 day) after the Kafka record timestamp |

Filtering is separate: `should_filter(event, policy)` returns a reason for events that are
valid but deliberately not kept (health checks, incomplete Kubernetes stages, lines that repeat
another line); the job sends them to `audit.filtered` with that reason so that
raw = events + dead letters + filtered reconciles. It runs on the parsed, unmasked event.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from udfs.record import RULE_KEY, ParseError, RawRecord

DAY_MS = 86_400_000
Y2000_MS = 946_684_800_000  # 2000-01-01T00:00:00Z


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 1 << 20
    max_future_skew_ms: int = DAY_MS
    min_time_ms: int = Y2000_MS

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> Limits:
        """From a config table, e.g. `{"max_bytes": 2097152, "max_future_skew_ms": 3600000}`."""
        return cls(**_known(cls, config))


DEFAULT_LIMITS = Limits()


def check_raw(record: RawRecord, limits: Limits = DEFAULT_LIMITS) -> None:
    size = len(record.value)
    if size > limits.max_bytes:
        raise ParseError(
            "validate.oversize",
            f"{record.source}: record value is {size} bytes, over the {limits.max_bytes}-byte limit"
            f" ({record.topic}/{record.partition}@{record.offset}); split the event at the source"
            " or raise limits.max_bytes",
            stage="validate",
            tenant_id=record.tenant_id,
        )


def check_event(event: dict, record: RawRecord, limits: Limits = DEFAULT_LIMITS) -> None:
    tenant = event.get("tenant_id")
    if not tenant:
        raise ParseError(
            "validate.no_tenant",
            f"{record.source}: no tenant: the Kafka key is empty and the payload names none"
            f" ({record.topic}/{record.partition}@{record.offset}); set the tenant in the"
            " ingest adapter's tenant map (key) or in the event",
            stage="validate",
        )
    if "/" in tenant:
        # chain ids are <tenant>/<raw topic>/<partition> (schemas/CHAIN.md version 2); a slash in
        # a tenant id could make one tenant's chain id another's
        raise ParseError(
            "validate.bad_tenant",
            f"{record.source}: tenant id {tenant!r} contains '/', which chain ids use as their"
            f" separator ({record.topic}/{record.partition}@{record.offset}); map the tenant to an"
            " id without it in the ingest adapter",
            stage="validate",
        )
    t = event["time"]
    original = (event.get("metadata") or {}).get("original_time")
    shown = f" (source time {original!r})" if original else ""
    if t < limits.min_time_ms:
        raise ParseError(
            "validate.bad_time",
            f"{record.source}: event time {t} ms{shown} is before 2000-01-01; check the source"
            " clock or time zone",
            stage="validate",
            tenant_id=tenant,
        )
    if t > record.timestamp_ms + limits.max_future_skew_ms:
        ahead_h = (t - record.timestamp_ms) / 3_600_000
        raise ParseError(
            "validate.bad_time",
            f"{record.source}: event time {t} ms{shown} is {ahead_h:.1f} h after the Kafka record"
            f" timestamp {record.timestamp_ms} ms (limit {limits.max_future_skew_ms} ms); check"
            " the source clock or time zone",
            stage="validate",
            tenant_id=tenant,
        )


# --- filter policy ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterPolicy:
    """Which valid events are deliberately not kept. Every field is configurable.

    - `rules`: parser patterns (`unmapped['auditflow.parser']`) that only repeat what another
      line of the same source already records, or carry no audit activity.
    - `k8s_keep_stages`: Kubernetes audit stages kept; the API server logs a request again at
      `ResponseComplete` (or `Panic`), so earlier stages are filtered by default.
    - `k8s_health_paths` + `k8s_health_user_prefixes`: non-resource GETs of these paths by
      these users (the kubelet, controllers, load balancers as `system:anonymous`).
    - `http_health_paths`: GET/HEAD requests to these paths (any host, query ignored) in events
      with an `http_request`, i.e. load balancer and uptime probes of applications.
    - `unrecognised_sources`: source systems whose unrecognised lines (Base Event,
      `<family>.generic`) are filtered; empty by default, so nothing is lost unless asked.
    """

    rules: frozenset[str] = frozenset({
        "sshd.pam_session_opened",  # the 'Accepted ...' line records the logon
        "sudo.pam_session",  # the 'USER=... ; COMMAND=...' line records the elevation
        "su.pam_session_closed",
        "shadow.group_db",  # groupadd/groupdel repeat each change per /etc/group, /etc/gshadow
        "shadow.shadow_group",  # 'add ... to shadow group' repeats 'add ... to group'
        "cloudtrail.insight",  # CloudTrail Insights: AWS's own anomaly summaries, not activity
        "cloudtrail.digest",
        "debezium.tombstone",  # the delete event before it records the change
        "debezium.heartbeat",
    })
    k8s_keep_stages: frozenset[str] = frozenset({"ResponseComplete", "Panic"})
    k8s_health_paths: tuple[str, ...] = ("/healthz", "/livez", "/readyz", "/version", "/metrics")
    k8s_health_user_prefixes: tuple[str, ...] = ("system:",)
    http_health_paths: tuple[str, ...] = ("/health", "/healthz", "/healthcheck", "/ready", "/readyz",
                                          "/live", "/livez", "/ping", "/status")
    unrecognised_sources: frozenset[str] = frozenset()

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> FilterPolicy:
        """From a config table; lists become frozensets/tuples, unknown keys are ignored."""
        values = _known(cls, config)
        defaults = cls()
        for key, value in values.items():
            values[key] = type(getattr(defaults, key))(value)
        return cls(**values)


DEFAULT_POLICY = FilterPolicy()


def should_filter(event: dict, policy: FilterPolicy = DEFAULT_POLICY) -> str | None:
    """A short reason ('rule:sudo.pam_session', 'k8s.stage:RequestReceived', 'health_check',
    'unrecognised') when the event is deliberately dropped by `policy`, else None."""
    unmapped = event.get("unmapped") or {}
    rule = unmapped.get(RULE_KEY, "")
    if rule in policy.rules:
        return f"rule:{rule}"
    source = (event.get("lineage") or {}).get("source_system")
    if source in policy.unrecognised_sources and rule.endswith(".generic"):
        return "unrecognised"
    if source == "k8s_audit":
        stage = unmapped.get("stage")
        if stage and stage not in policy.k8s_keep_stages:
            return f"k8s.stage:{stage}"
        if _k8s_health(event, policy):
            return "health_check"
        return None
    http = event.get("http_request") or {}
    method = http.get("http_method") or "GET"
    if http.get("url") and method in ("GET", "HEAD") and _path(http["url"]) in policy.http_health_paths:
        return "health_check"
    return None


def _k8s_health(event: dict, policy: FilterPolicy) -> bool:
    if event.get("resources") or ((event.get("api") or {}).get("operation") != "get"):
        return False
    url = (event.get("http_request") or {}).get("url")
    name = (((event.get("actor") or {}).get("user")) or {}).get("name") or ""
    if not url or not name.startswith(policy.k8s_health_user_prefixes):
        return False
    path = _path(url)
    return any(path == p or path.startswith(p + "/") for p in policy.k8s_health_paths)


def _path(url: str) -> str:
    path = urlsplit(url).path if "://" in url else url.split("?", 1)[0].split("#", 1)[0]
    return path.rstrip("/") or "/"


def _known(cls: type, config: dict[str, Any] | None) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in (config or {}).items() if k in names}
