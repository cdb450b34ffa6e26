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
    kind = doc.get("kind", "Event")
    # without apiVersion (older and forwarded logs, e.g. Falco's k8saudit traces) an object with
    # an auditID and a stage or requestURI is an audit Event all the same
    unversioned = version is None and "auditID" in doc and ("stage" in doc or "requestURI" in doc)
    if (version not in API_VERSIONS and not unversioned) or kind not in ("Event", None):
        raise base.ParseError(
            "k8s.not_audit_event",
            f"k8s-audit: apiVersion {base.text(version)!r} kind {base.text(kind)!r} is not an audit event;"
            " expected apiVersion audit.k8s.io/v1 (or v1beta1), or no apiVersion with an auditID and a"
            " stage, and kind Event",
        )
    verb = doc.get("verb")
    if not verb:
        raise base.ParseError("k8s.missing_field",
                              f"k8s-audit: event {base.text(doc.get('auditID'))!r} has no verb")
    if not isinstance(verb, str):
        raise base.ParseError("k8s.bad_type", f"k8s-audit: verb is a JSON {base.json_type(verb)}, expected"
                              f" a string (event {base.text(doc.get('auditID'))!r})")
    time_text = (doc.get("requestReceivedTimestamp") or doc.get("timestamp")
                 or base.obj(doc.get("metadata")).get("creationTimestamp"))
    time_ms = base.parse_iso_ms(time_text, "k8s-audit requestReceivedTimestamp")
    stage = base.text(doc.get("stage"))

    unmapped: dict[str, str] = {}
    base.leftovers(doc, CONSUMED, unmapped)
    base.put(unmapped, "stage", stage)

    who = base.obj(doc.get("user"), unmapped, "user")
    username = base.text(who.get("username"))
    kind = None
    if username:
        kind = "ServiceAccount" if username.startswith("system:serviceaccount:") else "User"
    base.put(unmapped, "user.extra", who.get("extra"))
    impersonated = doc.get("impersonatedUser")
    if isinstance(impersonated, dict) and impersonated:
        base.put(unmapped, "impersonatedUser", impersonated)
        base.put(unmapped, "impersonatedUser.username", impersonated.get("username"))

    status_doc = base.obj(doc.get("responseStatus"), unmapped, "responseStatus")
    code = status_doc.get("code")
    status = None
    if isinstance(code, int) and not isinstance(code, bool) and code > 0:
        status = base.STATUS_SUCCESS if code < 400 else base.STATUS_FAILURE
        unmapped["responseStatus.code"] = str(code)
    elif stage == "Panic":
        status = base.STATUS_FAILURE
    base.put(unmapped, "responseStatus.status", status_doc.get("status"))
    base.put(unmapped, "responseStatus.details", status_doc.get("details"))

    ref = base.obj(doc.get("objectRef"), unmapped, "objectRef")
    resources = None
    service = None
    if ref:
        res_type = base.text(ref.get("resource"))
        if res_type and ref.get("subresource"):
            res_type = f"{res_type}/{base.text(ref['subresource'])}"
        resources = [base.resource(uid=ref.get("uid"), name=ref.get("name"), type_=res_type,
                              namespace=ref.get("namespace"))]
        service = base.text(ref.get("apiGroup")) or "core"
        base.put(unmapped, "objectRef.apiVersion", ref.get("apiVersion"))
        base.put(unmapped, "objectRef.resourceVersion", ref.get("resourceVersion"))

    ips = doc.get("sourceIPs") or []
    if not isinstance(ips, list):  # one address as a string
        ips = [ips]
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
