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

from udfs.parse import base

API_VERSIONS = ("audit.k8s.io/v1", "audit.k8s.io/v1beta1", "audit.k8s.io/v1alpha1")
VERBS = {"create": 1, "get": 2, "list": 2, "watch": 2, "update": 3, "patch": 3, "delete": 4,
         "deletecollection": 4}
COMPLETE_STAGES = ("ResponseComplete", "Panic")
CONSUMED = {"kind", "auditID", "stage", "requestURI", "verb", "user", "impersonatedUser",
            "sourceIPs", "userAgent", "objectRef", "responseStatus", "requestReceivedTimestamp",
            "timestamp", "metadata"}


def parse(record: base.RawRecord) -> dict:
    doc = base.require_object(base.load_json(record, "k8s-audit"), "k8s-audit")
    if doc.get("kind") == "EventList":
        items = doc.get("items")
        if not isinstance(items, list) or len(items) != 1:
            raise base.ParseError(
                "k8s.batched",
                f"k8s-audit: record holds an EventList of {len(items) if isinstance(items, list) else '?'}"
                " events; the ingest adapter must send one audit Event per Kafka record",
            )
        doc = base.require_object(items[0], "k8s-audit EventList.items[0]")
    version = doc.get("apiVersion")
    if version not in API_VERSIONS or doc.get("kind", "Event") != "Event":
        raise base.ParseError(
            "k8s.not_audit_event",
            f"k8s-audit: apiVersion {version!r} kind {doc.get('kind')!r} is not an audit event; expected"
            " apiVersion audit.k8s.io/v1 (or v1beta1) and kind Event",
        )
    verb = doc.get("verb")
    if not verb:
        raise base.ParseError("k8s.missing_field", f"k8s-audit: event {doc.get('auditID')!r} has no verb")
    time_text = (doc.get("requestReceivedTimestamp") or doc.get("timestamp")
                 or (doc.get("metadata") or {}).get("creationTimestamp"))
    time_ms = base.parse_iso_ms(time_text, "k8s-audit requestReceivedTimestamp")
    stage = doc.get("stage")

    unmapped: dict[str, str] = {}
    base.leftovers(doc, CONSUMED, unmapped)
    base.put(unmapped, "stage", stage)

    who = doc.get("user") or {}
    username = who.get("username")
    kind = None
    if username:
        kind = "ServiceAccount" if username.startswith("system:serviceaccount:") else "User"
    base.put(unmapped, "user.extra", who.get("extra"))
    impersonated = doc.get("impersonatedUser")
    if isinstance(impersonated, dict) and impersonated:
        base.put(unmapped, "impersonatedUser", impersonated)
        base.put(unmapped, "impersonatedUser.username", impersonated.get("username"))

    status_doc = doc.get("responseStatus") or {}
    code = status_doc.get("code")
    status = None
    if isinstance(code, int) and code > 0:
        status = base.STATUS_SUCCESS if code < 400 else base.STATUS_FAILURE
        unmapped["responseStatus.code"] = str(code)
    elif stage == "Panic":
        status = base.STATUS_FAILURE
    base.put(unmapped, "responseStatus.status", status_doc.get("status"))
    base.put(unmapped, "responseStatus.details", status_doc.get("details"))

    ref = doc.get("objectRef") or {}
    resources = None
    service = None
    if ref:
        res_type = ref.get("resource")
        if res_type and ref.get("subresource"):
            res_type = f"{res_type}/{ref['subresource']}"
        resources = [base.resource(uid=ref.get("uid"), name=ref.get("name"), type_=res_type,
                              namespace=ref.get("namespace"))]
        service = ref.get("apiGroup") or "core"
        base.put(unmapped, "objectRef.apiVersion", ref.get("apiVersion"))
        base.put(unmapped, "objectRef.resourceVersion", ref.get("resourceVersion"))

    ips = doc.get("sourceIPs") or []
    if len(ips) > 1:
        base.put(unmapped, "sourceIPs", ips)
    return base.build_event(
        record,
        class_uid=base.API_ACTIVITY,
        activity_id=VERBS.get(verb, base.ACTIVITY_OTHER),
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
        actor=base.actor(base.user(uid=who.get("uid"), name=username, type_=kind, groups=who.get("groups"))),
        src_endpoint=base.endpoint(ip=ips[0]) if ips else None,
        dst_endpoint=base.endpoint(hostname=record.headers.get("apiserver")),
        api=base.api(verb, service, doc.get("auditID")),
        resources=resources,
        http_request=base.http_request(url=doc.get("requestURI"), user_agent=doc.get("userAgent")),
        unmapped=unmapped,
        raw_data=base.raw_text(record),
    )
