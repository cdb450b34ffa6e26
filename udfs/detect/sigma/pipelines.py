"""Processing pipelines: where each Sigma logsource's fields land in the `events` view.

A Sigma rule names fields of the original log (CloudTrail's `eventName`, the Kubernetes audit
event's `objectRef.resource`, auditd's `a0`); the normalize job's parsers (udfs/parse/) put them
into the canonical event, and the view (sql/ddl/detect_events_view.sql) flattens that. Each
`Logsource` below knows, for one family, the rows it may match (`scope`, also the logsource
part of every compiled rule), the entity an alert names, and each field's view expression:
a column, a lookup in `unmapped` (what the parser kept verbatim), or a JSON path into a kept
JSON value. A field without one fails the rule with the reason (`FieldNotMapped`), so nothing
compiles into a query that looks at the wrong thing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sigma.exceptions import SigmaTransformationError
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldFunctionTransformation
from sigma.rule import SigmaRule


class FieldNotMapped(SigmaTransformationError):
    """A Sigma field that no column of the `events` view holds."""


def _u(key: str) -> str:
    return f"unmapped['{key}']"


def _json(key: str, path: str) -> str:
    """A scalar at a JSON path inside a kept JSON value (NULL for objects, arrays, no value)."""
    return f"JSON_VALUE({_u(key)}, '$.{path}')"


def _json_any(key: str, path: str) -> str:
    """Every value at a JSON path that steps through arrays (`[*]`), as the JSON text of their
    list; NULL when there is none (Flink returns '[]' for no match). The backend allows only
    presence and substring matches on it (backend.JSON_LIST_PREFIX)."""
    return f"NULLIF(JSON_QUERY({_u(key)}, '$.{path}' WITH CONDITIONAL ARRAY WRAPPER), '[]')"


RE_JSON_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# JSON members that hold arrays in CloudTrail request/response bodies and Kubernetes objects:
# a path through one of them steps into every element
ARRAY_MEMBERS = {"containerDefinitions", "items", "containers", "initContainers", "ephemeralContainers",
                 "volumes", "rules", "subjects", "ipPermissions", "tags", "policies", "args", "command",
                 "env", "ports", "volumeMounts"}


def _json_field(key: str, rest: str, field: str) -> str:
    """`key.a.b` -> the scalar at $.a.b in unmapped[key], or the list of values when a step
    is an array member (e.g. requestParameters.containerDefinitions.command)."""
    parts = rest.split(".")
    if not all(RE_JSON_KEY.match(p) for p in parts):
        raise FieldNotMapped(f"field {field!r}: a JSON path step is not a plain name")
    if not any(p in ARRAY_MEMBERS for p in parts[:-1]):
        return _json(key, ".".join(parts))
    return _json_any(key, ".".join(p + "[*]" if p in ARRAY_MEMBERS and i < len(parts) - 1 else p
                                   for i, p in enumerate(parts)))


# ---------------------------------------------------------------------------- CloudTrail
# udfs/parse/cloudtrail.py: CONSUMED keys go to columns; every other top-level key is kept in
# unmapped as text (objects as compact JSON), so `requestParameters.x` is a JSON path into it.
CLOUDTRAIL_FIELDS = {
    "eventName": "api_operation",
    "eventSource": "api_service",
    "eventTime": "event_time",
    "awsRegion": "cloud_region",
    "recipientAccountId": "cloud_account",
    "userAgent": "user_agent",
    "errorMessage": "message",
    # status_detail is errorCode, except a failed ConsoleLogin without one (then the message or
    # 'Failure'): that case has no errorCode
    "errorCode": "CASE WHEN api_operation = 'ConsoleLogin' AND (status_detail = 'Failure'"
                 " OR status_detail = message) THEN NULL ELSE status_detail END",
    # an address, a service host name, or anything else ('AWS Internal') kept verbatim
    "sourceIPAddress": f"COALESCE(src_ip, src_hostname, {_u('sourceIPAddress')})",
    "userIdentity.type": "user_type",
    # user_uid is the ARN when there is one, else the principal id
    "userIdentity.arn": "CASE WHEN user_uid LIKE 'arn:%' THEN user_uid END",
    "userIdentity.accountId": _u("userIdentity.accountId"),
    "userIdentity.invokedBy": f"COALESCE({_u('userIdentity.invokedBy')},"
                              " CASE WHEN user_type = 'AWSService' THEN user_name END)",
    "userIdentity.sessionContext.sessionIssuer.arn": "session_issuer",
}
CLOUDTRAIL_CONSUMED = {"eventVersion", "requestID", "eventID", "userIdentity", "resources"}


def cloudtrail_field(field: str) -> str:
    if field in CLOUDTRAIL_FIELDS:
        return CLOUDTRAIL_FIELDS[field]
    top, _, rest = field.partition(".")
    if top in CLOUDTRAIL_CONSUMED or top in {k.split(".")[0] for k in CLOUDTRAIL_FIELDS}:
        raise FieldNotMapped(f"field {field!r}: the CloudTrail parser folds it into other columns"
                             " (udfs/parse/cloudtrail.py) and the view has no column for it")
    if not rest:
        return _u(top)  # kept verbatim (objects as compact JSON)
    return _json_field(top, rest, field)


# ---------------------------------------------------------------------------- Kubernetes audit
# udfs/parse/k8s_audit.py: objectRef -> resources[1] (type 'resource[/subresource]'), the API
# group -> api_service ('core' for the empty group), the request body kept as JSON.
K8S_FIELDS = {
    "verb": "api_operation",
    "objectRef.resource": "SPLIT_INDEX(resource_type, '/', 0)",
    "objectRef.subresource": "SPLIT_INDEX(resource_type, '/', 1)",
    "objectRef.namespace": "resource_namespace",
    "objectRef.name": "resource_name",
    "objectRef.uid": "resource_uid",
    "objectRef.apiGroup": "CASE WHEN api_service = 'core' THEN '' ELSE api_service END",
    "objectRef.apiVersion": _u("objectRef.apiVersion"),
    "responseStatus.code": _u("responseStatus.code"),
    "responseStatus.reason": "status_detail",
    "responseStatus.message": "message",
    "responseStatus.status": _u("responseStatus.status"),
    "requestURI": "http_url",
    "userAgent": "user_agent",
    "user.username": "user_name",
    "user.uid": "user_uid",
    "impersonatedUser.username": _u("impersonatedUser.username"),
    "stage": _u("stage"),
    # pod spec fields the SigmaHQ rules name bare (Aurora's flattened audit events): any
    # container's or volume's value in the request body
    "hostPath": _json_any("requestObject", "spec.volumes[*].hostPath"),
    "capabilities": _json_any("requestObject", "spec.containers[*].securityContext.capabilities"),
    "privileged": _json_any("requestObject", "spec.containers[*].securityContext.privileged"),
}
K8S_ADDED = {"hostPath", "capabilities", "privileged"}
K8S_JSON = ("requestObject", "responseObject", "annotations")


def k8s_field(field: str) -> str:
    if field in K8S_FIELDS:
        return K8S_FIELDS[field]
    top, _, rest = field.partition(".")
    if top in K8S_JSON:
        return _json_field(top, rest, field) if rest else _u(top)
    if top in ("level", "auditID") and not rest:
        return _u(top) if top == "level" else "event_id"
    raise FieldNotMapped(f"field {field!r}: not kept by the Kubernetes audit parser in a column"
                         " of the events view")


# ---------------------------------------------------------------------------- auditd
# udfs/parse/auditd.py: one event per serial (all its records); the record types are listed in
# unmapped['auditd.types'], EXECVE arguments in unmapped['process.args'] (a JSON array), a few
# SYSCALL fields (exe, comm, uid, euid, key, ...) kept by name, the file of a PATH in resources.
AUDITD_TYPES = f"SPLIT(UPPER({_u('auditd.types')}), ',')"
AUDITD_FIELDS = {
    "type": AUDITD_TYPES,
    "SYSCALL": "api_operation",
    "syscall": "api_operation",
    "exe": _u("exe"),
    "comm": _u("comm"),
    "key": _u("key"),
    "uid": _u("uid"),
    "euid": _u("euid"),
    "gid": _u("gid"),
    "egid": _u("egid"),
    "pid": _u("pid"),
    "ppid": _u("ppid"),
    "tty": _u("tty"),
    "terminal": _u("terminal"),
    "subj": _u("subj"),
    "auid": "user_uid",
    "ses": "session_uid",
    "cwd": _u("process.cwd"),
    "nametype": _u("file.nametype"),
    "name": "CASE WHEN class_uid = 1001 THEN resource_name END",
    "acct": "CASE WHEN class_uid IN (3001, 3002) THEN COALESCE(resource_name, user_name) END",
    "hostname": "src_hostname",
    "addr": "src_ip",
    "res": "CASE status_id WHEN 1 THEN 'success' WHEN 2 THEN 'failed' END",
    "success": "CASE status_id WHEN 1 THEN 'yes' WHEN 2 THEN 'no' END",
    "op": _u("op"),
}
RE_EXECVE_ARG = re.compile(r"^a(\d)$")


def auditd_field(field: str) -> str:
    if field in AUDITD_FIELDS:
        return AUDITD_FIELDS[field]
    m = RE_EXECVE_ARG.match(field)
    if m:  # EXECVE argument N (the compiler refuses aN next to type SYSCALL: syscall arguments)
        return f"JSON_VALUE({_u('process.args')}, '$[{m.group(1)}]')"
    raise FieldNotMapped(f"field {field!r}: not kept by the auditd parser (udfs/parse/auditd.py)"
                         " in a column of the events view")


# ---------------------------------------------------------------------------- syslog
SYSLOG_FIELDS = {
    "host": "dst_hostname",
    "hostname": "dst_hostname",
    "program": _u("syslog.program"),
    "pid": _u("syslog.pid"),
    "facility": _u("syslog.facility"),
    "severity": _u("syslog.severity"),
    "message": "message",
    "msg": "message",
}


def syslog_field(field: str) -> str:
    if field in SYSLOG_FIELDS:
        return SYSLOG_FIELDS[field]
    raise FieldNotMapped(f"field {field!r}: a syslog line has no such field in the events view"
                         " (only host, program, pid, facility, severity and the message)")


# ---------------------------------------------------------------------------- logsources
@dataclass(frozen=True)
class Logsource:
    name: str  # as the import report shows it
    product: str
    service: str | None
    scope: str  # SQL over `events`: the rows this log source's rules may match
    entity_type: str
    entity_value: str  # SQL
    field: Callable[[str], str]
    added: frozenset[str] = frozenset()  # fields whose mapping this project added

    def pipeline(self) -> ProcessingPipeline:
        return ProcessingPipeline(
            name=f"auditflow events view: {self.name}", priority=20,
            items=[ProcessingItem(
                identifier=f"auditflow_{self.name.replace('/', '_')}",
                transformation=FieldFunctionTransformation(mapping={}, transform_func=self.field),
                rule_conditions=[LogsourceCondition(product=self.product, service=self.service)],
            )])


def _program(*names: str) -> str:
    quoted = ", ".join(f"'{n}'" for n in names)
    return f"source_system = 'syslog' AND {_u('syslog.program')} IN ({quoted})"


LINUX_ENTITY = ("host", "COALESCE(dst_hostname, src_hostname, tenant_id)")
SYSLOG_SERVICES = {
    # service -> the syslog lines it names (program tag, or facility)
    "sshd": _program("sshd"),
    "sudo": _program("sudo"),
    "su": _program("su"),
    "cron": _program("cron", "CRON", "crond", "crontab", "anacron"),
    "vsftpd": _program("vsftpd"),
    "clamav": _program("clamd", "freshclam", "clamav"),
    "guacamole": _program("guacd", "guacamole"),
    "auth": f"source_system = 'syslog' AND {_u('syslog.facility')} IN ('auth', 'authpriv')",
    "syslog": "source_system = 'syslog'",
}

LOGSOURCES: list[Logsource] = [
    Logsource("aws/cloudtrail", "aws", "cloudtrail", "product_name = 'CloudTrail'", "user",
              "COALESCE(user_name, user_uid, src_ip, src_hostname, tenant_id)", cloudtrail_field),
    Logsource("kubernetes/audit", "kubernetes", "audit", "product_name = 'Kubernetes'", "user",
              "COALESCE(user_name, src_ip, tenant_id)", k8s_field, frozenset(K8S_ADDED)),
    Logsource("linux/auditd", "linux", "auditd", "product_name = 'Linux auditd'", *LINUX_ENTITY,
              auditd_field),
    *[Logsource(f"linux/{service}", "linux", service, scope, *LINUX_ENTITY, syslog_field)
      for service, scope in SYSLOG_SERVICES.items()],
    # product linux without a service: any Linux log this pipeline reads (syslog lines, auditd)
    Logsource("linux", "linux", None, "source_system IN ('syslog', 'auditd')", *LINUX_ENTITY,
              syslog_field),
]


def logsource_for(rule: SigmaRule) -> Logsource | None:
    """The first (most specific) family that takes the rule's logsource; None when none does."""
    ls = rule.logsource
    for source in LOGSOURCES:
        if ls.product == source.product and ls.service == source.service:
            return source
    return None
