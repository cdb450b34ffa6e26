"""Application audit events (JSON) -> events.

The documented application event shape (also in schemas/README.md "Application events"): one
JSON object per Kafka record on `audit.raw.app`.

    {
      "id": "evt-8f3c",                        # the app's own event id -> metadata.uid
      "timestamp": "2024-11-28T12:09:01.123Z", # ISO 8601 / RFC 3339 or epoch s/ms (required)
      "tenant": "acme",                        # used when the Kafka key has no tenant
      "app": "billing",                        # product name (required unless header 'app')
      "action": "invoice.export",              # <object>.<verb> (required)
      "outcome": "success",                    # success | failure | unknown
      "reason": "quota exceeded",              # -> status_detail
      "actor": {"id": "u-42", "name": "alice", "type": "User", "groups": ["finance"]},
      "session_id": "s-1", "mfa": true,
      "source_ip": "203.0.113.7", "host": "billing-7f9c",
      "target": {"id": "inv-1001", "name": "Invoice 1001", "type": "invoice"},
      "request_id": "req-9", "method": "GET", "url": "/invoices/1001/export",
      "user_agent": "Mozilla/5.0 ...",
      "severity": "low",                       # optional: informational|low|medium|high|critical
      "message": "Exported invoice 1001"
    }

The ingest adapter's shape (`"schema": "auditflow.app/v1"`, tests/fixtures/raw/app/) is the
same contract with other spellings, all accepted: `event_id` for `id`, `time` for `timestamp`,
and `session_id` / `ip` / `mfa` inside `actor`. Also accepted: `src_ip` for `source_ip`,
`resource` for `target`, `user` for `actor`; `actor` and `target` may be plain strings (the
name). Every other field (`schema`, `env`, `details`, ...) is kept in `unmapped` (nested values
as JSON).

Mapping (schemas/README.md): `action` ending in `login` / `logout` (`auth.login`, `logout`) ->
Authentication 3002 / 1 / 2; `user.create`, `user.delete`, `user.password_change`,
`user.role_assign` / `user.role_revoke` -> Account Change 3001 / 1, 6, 3, 7, 8, as are
`<role|permission|group|privilege|policy>.<grant|assign|attach>` (7) and `.<revoke|unassign|
detach>` (8), e.g. `role.grant`; any other
`<object>.<verb>` -> API Activity 6003 by verb (create/add 1; read/view/list/get/export/download/
search 2; update/edit/modify/set/approve/reject 3; delete/remove 4; else 99).
"""

from __future__ import annotations

from typing import Any

from udfs.parse import base

ACCOUNT_ACTIONS = {"user.create": 1, "user.delete": 6, "user.password_change": 3,
                   "user.role_assign": 7, "user.role_revoke": 8}
VERBS = {
    "create": 1, "add": 1, "read": 2, "view": 2, "list": 2, "get": 2, "export": 2, "download": 2,
    "search": 2, "update": 3, "edit": 3, "modify": 3, "set": 3, "approve": 3, "reject": 3,
    "delete": 4, "remove": 4,
}
# '<role|permission|group|privilege>.<grant|assign|revoke|unassign>' -> Attach / Detach Policy
PRIVILEGE_OBJECTS = {"role", "roles", "permission", "permissions", "group", "privilege", "policy"}
GRANT_VERBS = {"grant": 7, "assign": 7, "attach": 7, "revoke": 8, "unassign": 8, "detach": 8}
OUTCOMES = {"success": base.STATUS_SUCCESS, "succeeded": base.STATUS_SUCCESS, "ok": base.STATUS_SUCCESS,
            "allowed": base.STATUS_SUCCESS, "failure": base.STATUS_FAILURE, "failed": base.STATUS_FAILURE,
            "fail": base.STATUS_FAILURE, "error": base.STATUS_FAILURE, "denied": base.STATUS_FAILURE,
            "unknown": base.STATUS_UNKNOWN}
SEVERITIES = {"informational": 1, "info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5,
              "fatal": 6}
ALIASES = {"time": "timestamp", "src_ip": "source_ip", "resource": "target", "user": "actor",
           "event_id": "id"}
# Fields the ingest adapter's shape (auditflow.app/v1) nests in `actor`.
ACTOR_FIELDS = {"session_id": "session_id", "ip": "source_ip", "mfa": "mfa"}
CONSUMED = {"id", "timestamp", "tenant", "app", "action", "outcome", "reason", "actor", "session_id",
            "mfa", "source_ip", "host", "target", "request_id", "method", "url", "user_agent",
            "severity", "message"}


def activity(action: str) -> tuple[int, int]:
    """(class_uid, activity_id) for an application action."""
    lowered = action.lower()
    verb = lowered.rsplit(".", 1)[-1]
    if verb in ("login", "logon", "signin"):
        return base.AUTHENTICATION, 1
    if verb in ("logout", "logoff", "signout"):
        return base.AUTHENTICATION, 2
    if lowered in ACCOUNT_ACTIONS:
        return base.ACCOUNT_CHANGE, ACCOUNT_ACTIONS[lowered]
    obj = lowered.rsplit(".", 2)[-2] if "." in lowered else ""
    if obj in PRIVILEGE_OBJECTS and verb in GRANT_VERBS:
        return base.ACCOUNT_CHANGE, GRANT_VERBS[verb]
    return base.API_ACTIVITY, VERBS.get(verb, base.ACTIVITY_OTHER)


def parse(record: base.RawRecord) -> dict:
    doc = dict(base.require_object(base.load_json(record, "app"), "app"))
    for alias, name in ALIASES.items():
        if alias in doc and name not in doc:
            doc[name] = doc.pop(alias)
    if isinstance(doc.get("actor"), dict):
        doc["actor"] = dict(doc["actor"])
        for inner, outer in ACTOR_FIELDS.items():
            if inner in doc["actor"] and outer not in doc:
                doc[outer] = doc["actor"].pop(inner)
    action = doc.get("action")
    if not isinstance(action, str) or not action:
        raise base.ParseError(
            "app.missing_field",
            f"app: event {doc.get('id')!r} has no 'action' (e.g. 'invoice.export'); see the application"
            " event shape in udfs/parse/app.py",
        )
    if doc.get("timestamp") in (None, ""):
        raise base.ParseError(
            "app.missing_field",
            f"app: event {doc.get('id')!r} has no 'timestamp' (ISO 8601, e.g. '2024-11-28T12:09:01Z')",
        )
    time_ms = base.time_value_ms(doc["timestamp"], "app timestamp")
    class_uid, activity_id = activity(action)

    outcome = doc.get("outcome")
    status = None
    if outcome is not None:
        status = OUTCOMES.get(str(outcome).lower(), 99)
    severity = SEVERITIES.get(str(doc.get("severity", "")).lower())

    unmapped: dict[str, str] = {}
    base.leftovers(doc, CONSUMED, unmapped)
    if status == 99:
        unmapped["outcome"] = str(outcome)

    who = _object(doc.get("actor"), "actor", unmapped)
    target = _object(doc.get("target"), "target", unmapped)
    resources = None
    if target:
        resources = [base.resource(uid=target.get("id"), name=target.get("name"), type_=target.get("type"),
                              namespace=target.get("namespace"))]
    groups = who.get("groups")
    if doc.get("source_ip") is not None and not base.ip_or_none(doc.get("source_ip")):
        unmapped["source_ip"] = base.text(doc["source_ip"])
    app_name = base.text(doc.get("app")) or record.headers.get("app") or "application"
    return base.build_event(
        record,
        class_uid=class_uid,
        activity_id=activity_id,
        time_ms=time_ms,
        product=app_name,
        rule="app.event",
        status_id=status,
        status_detail=doc.get("reason"),
        severity_id=severity,
        message=doc.get("message"),
        uid=doc.get("id"),
        log_name="audit",
        original_time=base.text(doc["timestamp"]),
        actor=base.actor(base.user(uid=who.get("id"), name=who.get("name"), type_=who.get("type"),
                         groups=groups if isinstance(groups, list) else None),
                    session_uid=doc.get("session_id"), is_mfa=base.bool_or_none(doc.get("mfa"))),
        src_endpoint=base.endpoint(ip=doc.get("source_ip")),
        dst_endpoint=base.endpoint(hostname=doc.get("host")),
        api=base.api(action, doc.get("app"), doc.get("request_id")),
        resources=resources,
        http_request=base.http_request(doc.get("method"), doc.get("url"), doc.get("user_agent")),
        unmapped=unmapped,
        raw_data=base.raw_text(record),
        payload_tenant=doc.get("tenant"),
    )


def _object(value: Any, key: str, unmapped: dict[str, str]) -> dict:
    if value is None:
        return {}
    if isinstance(value, dict):
        known = {"id", "name", "type", "groups", "namespace"}
        base.leftovers(value, known, unmapped, f"{key}.")
        return value
    return {"name": base.text(value)}
