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
| `validate.schema` | a value of the event does not have the type audit_event.avsc declares (a parser |
| | bug: the message names the field path); `check_shape`, the last step of `check_event` |

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
    # longest `message` (UTF-8 bytes) stored next to `raw_data`; longer ones are cut (parse())
    max_message_bytes: int = 4096

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
        tenths = (t - record.timestamp_ms) // 360_000  # in integers: t may be beyond a float's range
        ahead_h = f"{tenths // 10}.{tenths % 10}"
        raise ParseError(
            "validate.bad_time",
            f"{record.source}: event time {t} ms{shown} is {ahead_h} h after the Kafka record"
            f" timestamp {record.timestamp_ms} ms (limit {limits.max_future_skew_ms} ms); check"
            " the source clock or time zone",
            stage="validate",
            tenant_id=tenant,
        )
    problem = check_shape(event)
    if problem is not None:
        raise ParseError(
            "validate.schema",
            f"{record.source}: parser produced an event that audit_event.avsc rejects: {problem}"
            f" ({record.topic}/{record.partition}@{record.offset}); this is a parser bug, please"
            " report it with the raw record",
            stage="validate",
            tenant_id=tenant,
        )


# --- the event's types ------------------------------------------------------------------------

# The types of audit_event.avsc, spelled out so the check needs no schema file on the worker:
# a primitive name, ("null", T) for a union with null, ("record", {field: T}), ("array", T),
# ("map", T). tests/unit/test_parse_guard.py derives the same from the .avsc and compares.
_S, _OS, _OI, _OL, _OB, _OD = "string", ("null", "string"), ("null", "int"), ("null", "long"), \
    ("null", "boolean"), ("null", "double")
_USER = ("record", {"uid": _OS, "name": _OS, "type": _OS, "groups": ("null", ("array", _S))})
_ENDPOINT = ("record", {"ip": _OS, "port": _OI, "hostname": _OS})
EVENT_SHAPE = ("record", {
    "event_id": _S, "tenant_id": _S, "time": "long", "class_uid": "int", "category_uid": "int",
    "activity_id": "int", "type_uid": "long", "severity_id": "int", "status_id": _OI,
    "status_detail": _OS, "message": _OS,
    "metadata": ("record", {
        "product": ("record", {"name": _S, "vendor_name": _OS, "version": _OS}),
        "version": _S, "uid": _OS, "log_name": _OS, "original_time": _OS}),
    "actor": ("null", ("record", {
        "user": ("null", _USER),
        "session": ("null", ("record", {"uid": _OS, "issuer": _OS, "is_mfa": _OB}))})),
    "src_endpoint": ("null", _ENDPOINT), "dst_endpoint": ("null", _ENDPOINT),
    "api": ("null", ("record", {
        "operation": _OS, "service": ("null", ("record", {"name": _OS})),
        "request": ("null", ("record", {"uid": _OS}))})),
    "resources": ("null", ("array", ("record", {
        "uid": _OS, "name": _OS, "type": _OS, "namespace": _OS, "owner": ("null", _USER)}))),
    "http_request": ("null", ("record", {"http_method": _OS, "url": _OS, "user_agent": _OS})),
    "cloud": ("null", ("record", {"provider": _OS, "region": _OS,
                                  "account": ("null", ("record", {"uid": _OS}))})),
    "unmapped": ("null", ("map", _S)),
    "raw_data": _OS,
    "enrichment": ("null", ("record", {
        "geo": ("null", ("record", {"country": _OS, "city": _OS, "lat": _OD, "lon": _OD, "asn": _OL,
                                    "as_org": _OS, "is_private": "boolean"})),
        "user": ("null", ("record", {"display_name": _OS, "department": _OS, "title": _OS,
                                     "manager": _OS, "privileged": "boolean", "known": "boolean"}))})),
    "lineage": ("null", ("record", {
        "source_system": _S, "raw_topic": _OS, "raw_partition": _OI, "raw_offset": _OL,
        "ingest_time": _OL, "job_name": _OS, "job_version": _OS, "flink_job_id": _OS,
        "lateness_ms": _OL})),
    "chain": ("null", ("record", {"chain_id": _S, "sequence": "long", "prev_hash": _S,
                                  "event_hash": _S})),
})
_INT_RANGE = {"int": (-(1 << 31), (1 << 31) - 1), "long": (-(1 << 63), (1 << 63) - 1)}


def _bad_string(value: Any) -> str | None:
    if type(value) is not str:
        return f"{type(value).__name__} {_short(value)} where a string belongs"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            return f"a string with {value[e.start]!r} (a lone surrogate), which UTF-8 cannot encode"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _compile(shape: Any):
    """A function value -> None when `value` fits `shape`, else (path suffix, problem)."""
    if isinstance(shape, str):
        if shape == "string":
            return lambda v: None if type(v) is str and v.isascii() else _leaf(_bad_string(v))
        if shape in _INT_RANGE:
            low, high = _INT_RANGE[shape]
            return lambda v: None if type(v) is int and low <= v <= high else (
                "", f"{type(v).__name__} {_short(v)} where an Avro {shape} belongs")
        if shape == "boolean":
            return lambda v: None if type(v) is bool else ("", f"{type(v).__name__} where a boolean belongs")
        if shape == "double":
            return lambda v: None if type(v) in (float, int) else (
                "", f"{type(v).__name__} where a double belongs")
        raise ValueError(f"unknown primitive {shape!r}")
    kind, inner = shape
    if kind == "null":
        check = _compile(inner)
        return lambda v: None if v is None else check(v)
    if kind == "record":
        fields = [(name, _compile(t)) for name, t in inner.items()]

        def record(v: Any):
            if type(v) is not dict:
                return "", f"{type(v).__name__} where a record belongs"
            for name, check in fields:
                problem = check(v.get(name))
                if problem is not None:
                    return f".{name}{problem[0]}", problem[1]
            return None
        return record
    check = _compile(inner)
    if kind == "array":
        def array(v: Any):
            if type(v) is not list:
                return "", f"{type(v).__name__} where an array belongs"
            for i, item in enumerate(v):
                problem = check(item)
                if problem is not None:
                    return f"[{i}]{problem[0]}", problem[1]
            return None
        return array
    if kind == "map":
        def map_(v: Any):
            if type(v) is not dict:
                return "", f"{type(v).__name__} where a map belongs"
            for key, item in v.items():
                problem = _bad_string(key) or None
                if problem is not None:
                    return f"[{_short(key)}]", f"map key: {problem}"
                problem = check(item)
                if problem is not None:
                    return f"[{key!r}]{problem[0]}", problem[1]
            return None
        return map_
    raise ValueError(f"unknown shape {kind!r}")


def _leaf(problem: str | None):
    return None if problem is None else ("", problem)


_CHECK_EVENT_SHAPE = _compile(EVENT_SHAPE)


def check_shape(event: dict) -> str | None:
    """None when every value of `event` has the type audit_event.avsc declares (fastavro would
    encode it), else '<field path>: <problem>', e.g. 'cloud.region: int 0 where a string belongs'.
    A few microseconds per event; fastavro.validation.validate takes tens."""
    problem = _CHECK_EVENT_SHAPE(event)
    return None if problem is None else f"{problem[0].lstrip('.')}: {problem[1]}"


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
    try:
        path = urlsplit(url).path if "://" in url else url.split("?", 1)[0].split("#", 1)[0]
    except ValueError:  # 'http://host:[' (urlsplit: Invalid IPv6 URL): not a health check path
        return url
    return path.rstrip("/") or "/"


def _known(cls: type, config: dict[str, Any] | None) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in (config or {}).items() if k in names}
