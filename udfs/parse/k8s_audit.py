"""Kubernetes API server audit events (audit.k8s.io/v1 and v1beta1 `Event`) -> API Activity.

One Kafka record holds one `Event` (a one-item `EventList` is accepted). Every stage is mapped,
none is dropped here: `unmapped['stage']` carries it, and the default filter policy
(udfs/validate.py) counts `RequestReceived` and `ResponseStarted` as filtered because the API
server logs the same request again, under the same auditID, at `ResponseComplete` (or `Panic`).
Only a complete stage has an outcome: earlier stages get `status_id` from the response code when
one is present (ResponseStarted of a watch or exec: 101/200), else null.

Mapping: API Activity 6003, activity by `verb` (create 1; get/list/watch 2; update/patch 3;
delete/deletecollection 4; others such as proxy, impersonate, bind, escalate 99); status
Success when `responseStatus.code` < 400, Failure otherwise (a `Panic` without a code is a
Failure). The authenticated `user` is the actor; `impersonatedUser` is kept in `unmapped`
(`impersonatedUser` as JSON and `impersonatedUser.username`), so a detection can see who acted
as whom. `objectRef` becomes `resources[0]` with type `resource[/subresource]` (e.g.
`pods/exec`), and `api.service.name` is the API group (`core` for the empty group).
"""

from __future__ import annotations

from udfs.parse.base import (
    ACTIVITY_OTHER,
    API_ACTIVITY,
    STATUS_FAILURE,
    STATUS_SUCCESS,
    ParseError,
    RawRecord,
    actor,
    api,
    build_event,
    endpoint,
    http_request,
    leftovers,
    load_json,
    parse_iso_ms,
    put,
    raw_text,
    require_object,
    resource,
    user,
)

API_VERSIONS = ("audit.k8s.io/v1", "audit.k8s.io/v1beta1", "audit.k8s.io/v1alpha1")
VERBS = {"create": 1, "get": 2, "list": 2, "watch": 2, "update": 3, "patch": 3, "delete": 4,
         "deletecollection": 4}
COMPLETE_STAGES = ("ResponseComplete", "Panic")
CONSUMED = {"kind", "auditID", "stage", "requestURI", "verb", "user", "impersonatedUser",
            "sourceIPs", "userAgent", "objectRef", "responseStatus", "requestReceivedTimestamp",
            "timestamp", "metadata"}


def parse(record: RawRecord) -> dict:
    doc = require_object(load_json(record, "k8s-audit"), "k8s-audit")
    if doc.get("kind") == "EventList":
        items = doc.get("items")
        if not isinstance(items, list) or len(items) != 1:
            raise ParseError(
                "k8s.batched",
                f"k8s-audit: record holds an EventList of {len(items) if isinstance(items, list) else '?'}"
                " events; the ingest adapter must send one audit Event per Kafka record",
            )
        doc = require_object(items[0], "k8s-audit EventList.items[0]")
    version = doc.get("apiVersion")
    if version not in API_VERSIONS or doc.get("kind", "Event") != "Event":
        raise ParseError(
            "k8s.not_audit_event",
            f"k8s-audit: apiVersion {version!r} kind {doc.get('kind')!r} is not an audit event; expected"
            " apiVersion audit.k8s.io/v1 (or v1beta1) and kind Event",
        )
    verb = doc.get("verb")
    if not verb:
        raise ParseError("k8s.missing_field", f"k8s-audit: event {doc.get('auditID')!r} has no verb")
    time_text = (doc.get("requestReceivedTimestamp") or doc.get("timestamp")
                 or (doc.get("metadata") or {}).get("creationTimestamp"))
    time_ms = parse_iso_ms(time_text, "k8s-audit requestReceivedTimestamp")
    stage = doc.get("stage")

    unmapped: dict[str, str] = {}
    leftovers(doc, CONSUMED, unmapped)
    put(unmapped, "stage", stage)

    who = doc.get("user") or {}
    username = who.get("username")
    kind = None
    if username:
        kind = "ServiceAccount" if username.startswith("system:serviceaccount:") else "User"
    put(unmapped, "user.extra", who.get("extra"))
    impersonated = doc.get("impersonatedUser")
    if isinstance(impersonated, dict) and impersonated:
        put(unmapped, "impersonatedUser", impersonated)
        put(unmapped, "impersonatedUser.username", impersonated.get("username"))

    status_doc = doc.get("responseStatus") or {}
    code = status_doc.get("code")
    status = None
    if isinstance(code, int) and code > 0:
        status = STATUS_SUCCESS if code < 400 else STATUS_FAILURE
        unmapped["responseStatus.code"] = str(code)
    elif stage == "Panic":
        status = STATUS_FAILURE
    put(unmapped, "responseStatus.status", status_doc.get("status"))
    put(unmapped, "responseStatus.details", status_doc.get("details"))

    ref = doc.get("objectRef") or {}
    resources = None
    service = None
    if ref:
        res_type = ref.get("resource")
        if res_type and ref.get("subresource"):
            res_type = f"{res_type}/{ref['subresource']}"
        resources = [resource(uid=ref.get("uid"), name=ref.get("name"), type_=res_type,
                              namespace=ref.get("namespace"))]
        service = ref.get("apiGroup") or "core"
        put(unmapped, "objectRef.apiVersion", ref.get("apiVersion"))
        put(unmapped, "objectRef.resourceVersion", ref.get("resourceVersion"))

    ips = doc.get("sourceIPs") or []
    if len(ips) > 1:
        put(unmapped, "sourceIPs", ips)
    return build_event(
        record,
        class_uid=API_ACTIVITY,
        activity_id=VERBS.get(verb, ACTIVITY_OTHER),
        time_ms=time_ms,
        product="Kubernetes",
        vendor="CNCF",
        rule="k8s.event" if stage in COMPLETE_STAGES else "k8s.incomplete_stage",
        status_id=status,
        status_detail=status_doc.get("reason"),
        message=status_doc.get("message"),
        uid=doc.get("auditID"),
        log_name="kube-apiserver-audit",
        original_time=time_text,
        actor=actor(user(uid=who.get("uid"), name=username, type_=kind, groups=who.get("groups"))),
        src_endpoint=endpoint(ip=ips[0]) if ips else None,
        dst_endpoint=endpoint(hostname=record.headers.get("apiserver")),
        api=api(verb, service, doc.get("auditID")),
        resources=resources,
        http_request=http_request(url=doc.get("requestURI"), user_agent=doc.get("userAgent")),
        unmapped=unmapped,
        raw_data=raw_text(record),
    )
