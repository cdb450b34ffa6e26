"""Shared types and helpers of the parsers: the raw record, the error, and the event builder.

Every parser turns one `RawRecord` into one canonical event dict (schemas/audit_event.avsc) by
calling `build_event`, which fills the parts all families share: `event_id`, the OCSF id
invariants, severity, metadata and lineage.

`event_id` is a UUIDv5 over `<source_system>|<topic>|<partition>|<offset>`: the raw record's
coordinates identify it exactly once, and a replay of the raw topic reproduces them. The
source's own id (CloudTrail eventID, Kubernetes auditID, ...) is kept in `metadata.uid`; it is
not used for `event_id` because it is not unique per raw record (a Kubernetes request is logged
once per stage under one auditID, and a re-ingested file would collide with the original).
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from udfs.record import RULE_KEY, ParseError, RawRecord
from udfs.sources import source_system

# Fixed namespace for event_id (uuid5(NAMESPACE_URL, "https://auditflow/event")); never change it:
# every archived event_id depends on it.
EVENT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://auditflow/event")

# OCSF ids (schemas/README.md "OCSF ids used").
BASE_EVENT = 0
FILE_SYSTEM_ACTIVITY = 1001
PROCESS_ACTIVITY = 1007
ACCOUNT_CHANGE = 3001
AUTHENTICATION = 3002
AUTHORIZE_SESSION = 3003
ENTITY_MANAGEMENT = 3004
API_ACTIVITY = 6003

STATUS_UNKNOWN, STATUS_SUCCESS, STATUS_FAILURE = 0, 1, 2
SEVERITY_INFORMATIONAL, SEVERITY_LOW = 1, 2
ACTIVITY_OTHER = 99

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- decoding ---------------------------------------------------------------------------------


def snippet(text: str | bytes, limit: int = 120) -> str:
    """A short, single-line excerpt of the input for error messages."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = text.replace("\n", "\\n")
    return repr(text if len(text) <= limit else text[:limit] + "...")


def decode_text(record: RawRecord) -> str:
    try:
        return record.value.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ParseError(
            "decode.utf8",
            f"{record.source}: value is not UTF-8 (byte {e.start}: {record.value[e.start:e.start + 4]!r});"
            " re-encode the source as UTF-8 at ingestion",
            stage="decode",
        ) from None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_constant(name: str) -> Any:
    raise ParseError("json.number", f"{name} is not a JSON number (RFC 8259 has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ParseError("json.number", f"JSON number {text[:40]!r} is out of the range of a double")
    return value


# one decoder for every record: json.loads(text, **hooks) would build a decoder per call
_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float)


def load_json(record: RawRecord, what: str) -> Any:
    """Parse the value as one JSON document, or raise ParseError: 'json.invalid', 'json.empty',
    'json.too_deep' (nesting deeper than the recursion limit), 'json.number' (NaN, Infinity, a number
    out of the range of a double, an integer of more than 4300 digits). Lone surrogates
    (`"\\ud800"`), which UTF-8 cannot encode, become U+FFFD."""
    text = decode_text(record)
    if not text.strip():
        raise ParseError("json.empty", f"{what}: empty record value; expected one JSON object")
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as e:
        raise ParseError(
            "json.invalid",
            f"{what}: invalid JSON at line {e.lineno} column {e.colno} ({e.msg}) in {snippet(text)};"
            " each Kafka record must hold exactly one complete JSON document",
        ) from None
    except ParseError as e:
        raise ParseError(e.error_class, f"{what}: {e.message} in {snippet(text)}") from None
    except RecursionError:
        raise ParseError(
            "json.too_deep",
            f"{what}: JSON nested deeper than Python's recursion limit in {snippet(text)}; audit"
            " events nest a few levels, so this is not one",
        ) from None
    except ValueError as e:  # int('9' * 5000): Python's limit on integer digits
        raise ParseError("json.number", f"{what}: {e} in {snippet(text)}") from None
    if ("\\ud" in text or "\\uD" in text) and _has_surrogate(value):
        value = _replace_surrogates(value)
    return value


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def _replace_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    return value


def obj(value: Any, unmapped: dict[str, str] | None = None, key: str = "") -> dict:
    """A nested JSON object of the source: itself, or {} when it is absent or of another type
    (an odd shape still parses; the odd value is kept in `unmapped[key]` when given)."""
    if isinstance(value, dict):
        return value
    if unmapped is not None and key:
        put(unmapped, key, value)
    return {}


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def raw_text(record: RawRecord) -> str:
    """The record value as text for `raw_data` (call after the value decoded once)."""
    return record.value.decode("utf-8", "replace")


def require_object(value: Any, what: str, text_hint: str = "") -> dict:
    if not isinstance(value, dict):
        raise ParseError(
            "json.not_object",
            f"{what}: expected a JSON object, got {type(value).__name__}{text_hint}",
        )
    return value


# --- values -----------------------------------------------------------------------------------


def to_ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - EPOCH) // timedelta(milliseconds=1)


def parse_iso_ms(text: Any, what: str) -> int:
    """ISO 8601 / RFC 3339 text to epoch millis; a missing offset is read as UTC."""
    if not isinstance(text, str) or not text:
        raise ParseError("time.missing", f"{what}: missing or empty timestamp (got {text!r})")
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    # Python 3.11 reads up to 6 fractional digits; trim nanoseconds (Kubernetes, Go clients).
    if "." in s:
        head, _, tail = s.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        if digits > 6:
            s = head + "." + tail[:6] + tail[digits:]
    try:
        return to_ms(datetime.fromisoformat(s))
    except ValueError:
        raise ParseError(
            "time.invalid", f"{what}: cannot parse {text!r} as an ISO 8601 timestamp"
        ) from None


def epoch_to_ms(value: Any, what: str) -> int:
    """Epoch seconds or milliseconds (number or numeric string) to millis."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ParseError("time.invalid",
                         f"{what}: {snippet(str(value), 60)} is not an epoch timestamp") from None
    if not math.isfinite(number) or abs(number) >= 1e17:  # 1e17 ms is year 3.17 million
        raise ParseError("time.invalid", f"{what}: {snippet(str(value), 60)} is out of range for an epoch"
                         " timestamp (seconds or milliseconds)")
    # Below 1e11 it is seconds (1e11 s is year 5138); above, milliseconds.
    return int(round(number * 1000)) if abs(number) < 1e11 else int(number)


def time_value_ms(value: Any, what: str) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return epoch_to_ms(value, what)
    if isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit():
        return epoch_to_ms(value, what)
    return parse_iso_ms(value, what)


def ip_or_none(text: Any) -> str | None:
    """The canonical text form of an IPv4/IPv6 address, or None if `text` is not one."""
    if not isinstance(text, str) or not text:
        return None
    candidate = text.strip()
    if candidate.startswith("[") and candidate.endswith("]"):
        candidate = candidate[1:-1]
    if candidate.startswith("::ffff:") and "." in candidate:  # IPv4-mapped, as sshd may write it
        candidate = candidate[7:]
    try:
        return str(ipaddress.ip_address(candidate.split("%", 1)[0]))
    except ValueError:
        return None


def text(value: Any) -> str | None:
    """A value for a string field: None stays None, scalars become text, others compact JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return compact_json(value)


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str)


def port_or_none(value: Any) -> int | None:
    try:
        port = int(value)
    except (TypeError, ValueError):
        return None
    return port if 0 <= port <= 65535 else None


def bool_or_none(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("true", "yes", "1", "y"):
            return True
        if v in ("false", "no", "0", "n"):
            return False
    return None


def put(unmapped: dict[str, str], key: str, value: Any) -> None:
    """Add a value to `unmapped` as text, skipping None and empty containers."""
    if value is None or value == {} or value == []:
        return
    unmapped[key] = text(value)


def leftovers(obj: dict, consumed: set[str], unmapped: dict[str, str], prefix: str = "") -> None:
    """Keep every key of `obj` not in `consumed` in `unmapped` (nested values as compact JSON)."""
    for key, value in obj.items():
        if key not in consumed:
            put(unmapped, prefix + key, value)


# --- building events --------------------------------------------------------------------------


def user(uid: Any = None, name: Any = None, type_: Any = None, groups: list | None = None) -> dict | None:
    rec = {
        "uid": text(uid),
        "name": text(name),
        "type": text(type_),
        "groups": _groups(groups),
    }
    return rec if any(v is not None for v in rec.values()) else None


def _groups(groups: Any) -> list[str] | None:
    if not groups:
        return None
    if not isinstance(groups, list):  # one group as a scalar (or an object as JSON)
        groups = [groups]
    return [g for g in (text(x) for x in groups) if g] or None


def actor(user_rec: dict | None = None, session_uid: Any = None, issuer: Any = None,
          is_mfa: bool | None = None) -> dict | None:
    session = None
    if session_uid is not None or issuer is not None or is_mfa is not None:
        session = {"uid": text(session_uid), "issuer": text(issuer), "is_mfa": is_mfa}
    if user_rec is None and session is None:
        return None
    return {"user": user_rec, "session": session}


def endpoint(ip: Any = None, port: Any = None, hostname: Any = None) -> dict | None:
    rec = {"ip": ip_or_none(ip), "port": port_or_none(port), "hostname": text(hostname) or None}
    return rec if any(v is not None for v in rec.values()) else None


def resource(uid: Any = None, name: Any = None, type_: Any = None, namespace: Any = None,
             owner: dict | None = None) -> dict:
    return {"uid": text(uid), "name": text(name), "type": text(type_),
            "namespace": text(namespace), "owner": owner}


def api(operation: Any = None, service: Any = None, request_uid: Any = None) -> dict | None:
    if operation is None and service is None and request_uid is None:
        return None
    return {
        "operation": text(operation),
        "service": {"name": text(service)} if service is not None else None,
        "request": {"uid": text(request_uid)} if request_uid is not None else None,
    }


def http_request(method: Any = None, url: Any = None, user_agent: Any = None) -> dict | None:
    rec = {"http_method": text(method).upper() if method else None, "url": text(url),
           "user_agent": text(user_agent)}
    return rec if any(v is not None for v in rec.values()) else None


def event_id(record: RawRecord) -> str:
    name = f"{source_system(record.source)}|{record.topic}|{record.partition}|{record.offset}"
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, name))


def build_event(
    record: RawRecord,
    *,
    class_uid: int,
    activity_id: int,
    time_ms: int,
    product: str,
    rule: str,
    vendor: str | None = None,
    product_version: str | None = None,
    status_id: int | None = None,
    status_detail: Any = None,
    severity_id: int | None = None,
    message: Any = None,
    uid: Any = None,
    log_name: Any = None,
    original_time: Any = None,
    actor: dict | None = None,
    src_endpoint: dict | None = None,
    dst_endpoint: dict | None = None,
    api: dict | None = None,
    resources: list[dict] | None = None,
    http_request: dict | None = None,
    cloud: dict | None = None,
    unmapped: dict[str, str] | None = None,
    raw_data: str | None = None,
    payload_tenant: Any = None,
) -> dict:
    """One canonical event; ids, severity defaults, metadata and lineage filled consistently.

    The tenant is the Kafka key's; the payload's own tenant (app `tenant`, a CDC tenant column)
    is used only when the key has none, and kept in `unmapped['payload.tenant']` when it differs.
    `validate.check_event` rejects the event if neither is set.
    """
    unmapped = dict(unmapped or {})
    unmapped[RULE_KEY] = rule
    payload_tenant = text(payload_tenant) or None
    tenant = record.tenant_id or payload_tenant or ""
    if payload_tenant and record.tenant_id and payload_tenant != record.tenant_id:
        unmapped["payload.tenant"] = payload_tenant
    if severity_id is None:
        severity_id = SEVERITY_LOW if status_id == STATUS_FAILURE else SEVERITY_INFORMATIONAL
    return {
        "event_id": event_id(record),
        "tenant_id": tenant,
        "time": int(time_ms),
        "class_uid": class_uid,
        "category_uid": class_uid // 1000,
        "activity_id": activity_id,
        "type_uid": class_uid * 100 + activity_id,
        "severity_id": severity_id,
        "status_id": status_id,
        "status_detail": text(status_detail),
        "message": text(message),
        "metadata": {
            "product": {"name": product, "vendor_name": vendor, "version": text(product_version)},
            "version": "1.3.0",
            "uid": text(uid),
            "log_name": text(log_name),
            "original_time": text(original_time),
        },
        "actor": actor,
        "src_endpoint": src_endpoint,
        "dst_endpoint": dst_endpoint,
        "api": api,
        "resources": resources or None,
        "http_request": http_request,
        "cloud": cloud,
        "unmapped": unmapped,
        "raw_data": raw_data,
        "enrichment": None,
        "lineage": {
            "source_system": source_system(record.source),
            "raw_topic": record.topic,
            "raw_partition": record.partition,
            "raw_offset": record.offset,
            "ingest_time": record.timestamp_ms,
            "job_name": None,
            "job_version": None,
            "flink_job_id": None,
            "lateness_ms": None,
        },
        "chain": None,
    }
