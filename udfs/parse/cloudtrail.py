"""AWS CloudTrail records -> events.

One Kafka record holds one element of a CloudTrail log file's `Records` array (the ingest
adapter splits the files). A `{"Records": [one]}` wrapper is accepted; more than one element
raises ParseError('cloudtrail.batched'). Digest files and CloudTrail Insights events become
events with rules `cloudtrail.digest` / `cloudtrail.insight`, filtered by the default policy.

Mapping (schemas/README.md): `ConsoleLogin` -> Authentication 3002 / 1 Logon, status from
`responseElements.ConsoleLogin`; the IAM account changes in `ACCOUNT_CHANGES` -> Account Change
3001; everything else -> API Activity 6003 with the activity from the `eventName` verb prefix.
Status is Failure whenever `errorCode` is set. `sourceIPAddress` goes to `src_endpoint.ip` only
when it is an IP address; an AWS service name ('ec2.amazonaws.com') goes to
`src_endpoint.hostname`, anything else ('AWS Internal') to `unmapped['sourceIPAddress']`.
"""

from __future__ import annotations

import re

from udfs.parse import base

# eventName -> (Account Change activity_id, requestParameters key naming the target, its type)
ACCOUNT_CHANGES: dict[str, int] = {
    "CreateUser": 1,
    "DeleteUser": 6,
    "ChangePassword": 3,
    "UpdateLoginProfile": 3,
    "CreateLoginProfile": 3,
    "AttachUserPolicy": 7,
    "AttachRolePolicy": 7,
    "AttachGroupPolicy": 7,
    "PutUserPolicy": 7,
    "PutRolePolicy": 7,
    "PutGroupPolicy": 7,
    "AddUserToGroup": 7,
    "DetachUserPolicy": 8,
    "DetachRolePolicy": 8,
    "DetachGroupPolicy": 8,
    "DeleteUserPolicy": 8,
    "DeleteRolePolicy": 8,
    "DeleteGroupPolicy": 8,
    "RemoveUserFromGroup": 8,
    "EnableMFADevice": 10,
    "DeactivateMFADevice": 11,
    "DeleteVirtualMFADevice": 11,
}
VERBS: list[tuple[tuple[str, ...], int]] = [
    (("Create", "Put", "Add", "Run", "Import", "Register", "Allocate", "Issue"), 1),
    (("Get", "List", "Describe", "Lookup", "Head", "Search", "Scan", "Query", "Select", "BatchGet"), 2),
    (("Update", "Modify", "Set", "Attach", "Detach", "Enable", "Disable", "Start", "Stop", "Tag",
      "Untag", "Change", "Reset", "Associate", "Disassociate", "Replace", "Reboot", "Restore"), 3),
    (("Delete", "Remove", "Terminate", "Deregister", "Release", "Revoke"), 4),
]
RE_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")

CONSUMED = {
    "eventVersion", "eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress",
    "userAgent", "errorCode", "errorMessage", "requestID", "eventID", "recipientAccountId",
    "userIdentity", "resources",
}
IDENTITY_CONSUMED = {"type", "principalId", "arn", "accountId", "userName", "accessKeyId",
                     "sessionContext", "invokedBy", "onBehalfOf", "credentialId"}


def api_activity(event_name: str) -> int:
    for prefixes, activity in VERBS:
        if event_name.startswith(prefixes):
            return activity
    return base.ACTIVITY_OTHER


def parse(record: base.RawRecord) -> dict:
    doc = base.require_object(base.load_json(record, "cloudtrail"), "cloudtrail")
    if "Records" in doc:
        records = doc["Records"]
        if not isinstance(records, list) or len(records) != 1:
            n = len(records) if isinstance(records, list) else type(records).__name__
            raise base.ParseError(
                "cloudtrail.batched",
                f"cloudtrail: record holds a Records array of {n} elements; the ingest adapter must"
                " send each element of Records as its own Kafka record",
            )
        doc = base.require_object(records[0], "cloudtrail Records[0]")
    if "digestStartTime" in doc or "digestPublicKeyFingerprint" in doc:
        return _digest(record, doc)
    for key in ("eventTime", "eventName", "eventSource"):
        if not doc.get(key):
            raise base.ParseError(
                "cloudtrail.missing_field",
                f"cloudtrail: record has no {key!r} (eventID {base.text(doc.get('eventID'))!r}); expected"
                " a CloudTrail event record (eventVersion 1.x)",
            )
        if not isinstance(doc[key], str):
            raise base.ParseError(
                "cloudtrail.bad_type",
                f"cloudtrail: {key} is a JSON {base.json_type(doc[key])}, expected a string"
                f" (eventID {base.text(doc.get('eventID'))!r})",
            )
    name = doc["eventName"]
    time_ms = base.parse_iso_ms(doc["eventTime"], "cloudtrail eventTime")
    unmapped: dict[str, str] = {}
    base.leftovers(doc, CONSUMED, unmapped)

    identity = base.obj(doc.get("userIdentity"), unmapped, "userIdentity")
    act = _actor(identity, doc, unmapped)

    error_code = doc.get("errorCode")
    status = base.STATUS_FAILURE if error_code else base.STATUS_SUCCESS
    detail = error_code
    message = doc.get("errorMessage")
    resources = [
        base.resource(uid=r.get("ARN"), type_=r.get("type"), namespace=r.get("accountId"))
        for r in _list(doc.get("resources")) if isinstance(r, dict)
    ]
    params = doc.get("requestParameters") if isinstance(doc.get("requestParameters"), dict) else {}

    rule = "cloudtrail.api"
    if doc.get("eventCategory") == "Insight" or doc.get("eventType") == "AwsCloudTrailInsight":
        class_uid, activity, rule = base.BASE_EVENT, base.ACTIVITY_OTHER, "cloudtrail.insight"
    elif name == "ConsoleLogin":
        class_uid, activity, rule = base.AUTHENTICATION, 1, "cloudtrail.console_login"
        response = doc.get("responseElements")
        outcome = (response.get("ConsoleLogin") if isinstance(response, dict) else None) or ""
        if outcome == "Failure" or error_code:
            status = base.STATUS_FAILURE
            detail = error_code or doc.get("errorMessage") or "Failure"
        elif outcome == "Success":
            status = base.STATUS_SUCCESS
    elif name in ACCOUNT_CHANGES and doc["eventSource"] == "iam.amazonaws.com":
        class_uid, activity = base.ACCOUNT_CHANGE, ACCOUNT_CHANGES[name]
        rule = "cloudtrail.iam_account_change"
        resources = _iam_targets(params) + resources
    else:
        class_uid, activity = base.API_ACTIVITY, api_activity(name)
        if not resources:
            resources = _param_resources(params)

    src_ip = doc.get("sourceIPAddress")
    src = None
    if base.ip_or_none(src_ip):
        src = base.endpoint(ip=src_ip)
    elif isinstance(src_ip, str) and RE_HOSTNAME.match(src_ip):
        src = base.endpoint(hostname=src_ip)
    else:
        base.put(unmapped, "sourceIPAddress", src_ip)

    account = doc.get("recipientAccountId") or identity.get("accountId")
    return base.build_event(
        record,
        class_uid=class_uid,
        activity_id=activity,
        time_ms=time_ms,
        product="CloudTrail",
        vendor="AWS",
        product_version=doc.get("eventVersion"),
        rule=rule,
        status_id=status,
        status_detail=detail,
        message=message,
        uid=doc.get("eventID"),
        log_name="cloudtrail",
        original_time=doc["eventTime"],
        actor=act,
        src_endpoint=src,
        api=base.api(name, doc["eventSource"], doc.get("requestID")),
        resources=resources,
        http_request=base.http_request(user_agent=doc.get("userAgent")),
        cloud={"provider": "AWS", "region": base.text(doc.get("awsRegion")),
               "account": {"uid": base.text(account)} if account else None},
        unmapped=unmapped,
        raw_data=base.raw_text(record),
    )


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _actor(identity: dict, doc: dict, unmapped: dict[str, str]) -> dict | None:
    """userIdentity -> actor: one user whatever the identity type, plus the session.

    user.uid is the principal's ARN, else its principalId, else (IdentityCenterUser)
    onBehalfOf.userId (AWSService has none); user.name the IAM user, role (AssumedRole:
    the issuing role's name; the session name goes to unmapped), 'root', the service, or the
    account. session.uid is a temporary access key (ASIA...) or the Identity Center
    credentialId; session.issuer the role ARN (sessionIssuer.arn) or the identity store ARN.
    """
    if not identity:
        return None
    kind = base.text(identity.get("type"))
    context = base.obj(identity.get("sessionContext"), unmapped, "userIdentity.sessionContext")
    issuer = base.obj(context.get("sessionIssuer"), unmapped, "userIdentity.sessionContext.sessionIssuer")
    attributes = base.obj(context.get("attributes"), unmapped, "userIdentity.sessionContext.attributes")
    behalf = base.obj(identity.get("onBehalfOf"), unmapped, "userIdentity.onBehalfOf")
    arn = base.text(identity.get("arn")) or None
    principal = base.text(identity.get("principalId")) or None
    invoked_by = base.text(identity.get("invokedBy")) or None
    if kind in ("AssumedRole", "FederatedUser"):
        name = base.text(issuer.get("userName")) or base.text(identity.get("userName")) or principal
        if arn and "/" in arn:  # arn:aws:sts::123:assumed-role/Role/<session name>
            unmapped["userIdentity.sessionName"] = arn.rsplit("/", 1)[1]
    elif kind == "Root":
        name = base.text(identity.get("userName")) or "root"
    elif kind == "AWSService":
        name = invoked_by
    elif kind == "AWSAccount":
        name = base.text(identity.get("accountId")) or principal
    else:  # IAMUser, IdentityCenterUser, SAMLUser, WebIdentityUser, Unknown
        name = base.text(identity.get("userName")) or principal
    uid = arn or principal or base.text(behalf.get("userId")) or None
    base.put(unmapped, "userIdentity.accountId", identity.get("accountId"))
    base.put(unmapped, "userIdentity.principalId", principal if arn else None)
    base.put(unmapped, "userIdentity.invokedBy", invoked_by if kind != "AWSService" else None)
    base.leftovers(behalf, set(), unmapped, "userIdentity.onBehalfOf.")
    base.leftovers(identity, IDENTITY_CONSUMED, unmapped, "userIdentity.")
    key = base.text(identity.get("accessKeyId")) or None
    temporary = key is not None and key.startswith("ASIA")
    if key and not temporary:
        unmapped["userIdentity.accessKeyId"] = key
    session_uid = key if temporary else base.text(identity.get("credentialId")) or None
    issuer_arn = base.text(issuer.get("arn")) or base.text(behalf.get("identityStoreArn")) or None
    if context.get("webIdFederationData"):
        base.put(unmapped, "userIdentity.sessionContext.webIdFederationData", context["webIdFederationData"])
    base.put(unmapped, "userIdentity.sessionContext.creationDate", attributes.get("creationDate"))
    base.put(unmapped, "userIdentity.sessionContext.sourceIdentity", context.get("sourceIdentity"))
    mfa = base.bool_or_none(attributes.get("mfaAuthenticated"))
    extra = doc.get("additionalEventData") if isinstance(doc.get("additionalEventData"), dict) else {}
    if "MFAUsed" in extra:  # ConsoleLogin: 'Yes' / 'No'
        mfa = base.bool_or_none(extra["MFAUsed"])
    return base.actor(base.user(uid=uid, name=name, type_=kind), session_uid=session_uid,
                      issuer=issuer_arn, is_mfa=mfa)


def _iam_targets(params: dict) -> list[dict]:
    """The account or role an IAM change is about, then the policy or group it involves."""
    out = []
    for key, type_ in (("userName", "User"), ("roleName", "Role"), ("groupName", "Group")):
        if params.get(key):
            out.append(base.resource(name=params[key], type_=type_))
            break
    if params.get("policyArn"):
        out.append(base.resource(uid=params["policyArn"], type_="Policy"))
    elif params.get("policyName"):
        out.append(base.resource(name=params["policyName"], type_="Policy"))
    if params.get("groupName") and out and out[0]["type"] != "Group":
        out.append(base.resource(name=params["groupName"], type_="Group"))
    if params.get("serialNumber"):
        out.append(base.resource(uid=params["serialNumber"], type_="MFADevice"))
    return out


def _param_resources(params: dict) -> list[dict]:
    for key, type_ in (("bucketName", "AWS::S3::Bucket"), ("userName", "User"), ("roleName", "Role"),
                       ("groupName", "Group"), ("functionName", "AWS::Lambda::Function"),
                       ("keyId", "AWS::KMS::Key"), ("secretId", "AWS::SecretsManager::Secret"),
                       ("trailName", "AWS::CloudTrail::Trail"), ("name", None)):
        value = params.get(key)
        if isinstance(value, str) and value:
            return [base.resource(name=value, type_=type_)]
    return []


def _digest(record: base.RawRecord, doc: dict) -> dict:
    time_text = doc.get("digestEndTime") or doc.get("digestStartTime")
    unmapped: dict[str, str] = {}
    base.leftovers(doc, set(), unmapped)
    return base.build_event(
        record,
        class_uid=base.BASE_EVENT,
        activity_id=base.ACTIVITY_OTHER,
        time_ms=base.parse_iso_ms(time_text, "cloudtrail digestEndTime"),
        product="CloudTrail",
        vendor="AWS",
        rule="cloudtrail.digest",
        log_name="cloudtrail-digest",
        original_time=time_text,
        cloud={"provider": "AWS", "region": base.text(doc.get("awsRegion")),
               "account": {"uid": base.text(doc["awsAccountId"])} if doc.get("awsAccountId") else None},
        unmapped=unmapped,
        raw_data=base.raw_text(record),
    )
