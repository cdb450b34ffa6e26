"""The bundled demo corpus: real-format raw logs with attack scenarios in ordinary traffic.

Timestamps are laid out backwards from the moment it is written, so a replay is "recent":
event-time windows close and the detection rules fire as they would on live input. Each
scenario names the rule that must fire and the entity it fires on; the end-to-end test
checks exactly these alerts, and `auditflow demo` shows them as they arrive.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ACCOUNT = "123456789012"


@dataclass(frozen=True)
class Expected:
    rule_id: str
    tenant: str
    entity_value: str


# what the corpus must raise, and nothing else from the rules enabled in the demo
EXPECTED = [
    Expected("AUTH-001", "acme", "alice"),       # brute force: 6 failed SSH logins in 30 s
    Expected("PRIV-001", "acme", "mallory"),     # AdministratorAccess attached, no change window
    Expected("TAMP-001", "acme", "mallory"),     # CloudTrail StopLogging
    Expected("K8S-001", "acme", "dave"),         # kubectl exec into a payments pod
]
DEMO_RULES = ("AUTH-001", "PRIV-001", "TAMP-001", "K8S-001")


def _syslog_time(t: datetime) -> str:
    return f"{t:%b} {t.day:2d} {t:%H:%M:%S}"


def _iso(t: datetime, micros: bool = False) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micros else "%Y-%m-%dT%H:%M:%SZ")


def _cloudtrail(t: datetime, user: str, source: str, name: str, params: dict | None, n: int,
                error: str | None = None) -> dict:
    event = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": f"AIDA{user.upper():>16}"[:20],
                         "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}", "accountId": ACCOUNT,
                         "userName": user},
        "eventTime": _iso(t), "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
        "sourceIPAddress": "81.2.69.142", "userAgent": "aws-cli/2.17.0",
        "requestParameters": params, "responseElements": None,
        "requestID": f"demo-req-{n:06d}", "eventID": f"0d3m0000-0000-4000-8000-{n:012d}",
        "readOnly": name.startswith(("Get", "List", "Describe")), "eventType": "AwsApiCall",
        "managementEvent": True, "recipientAccountId": ACCOUNT, "eventCategory": "Management",
    }
    if error:
        event.update(errorCode=error, errorMessage=f"{user} is not authorized")
    return event


def _k8s(t: datetime, user: str, verb: str, resource: str, name: str, n: int,
         subresource: str | None = None, code: int = 200) -> dict:
    uri = f"/api/v1/namespaces/payments/{resource}/{name}" + (f"/{subresource}" if subresource else "")
    ref = {"resource": resource, "namespace": "payments", "name": name, "apiVersion": "v1"}
    if subresource:
        ref["subresource"] = subresource
    return {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": f"d3m0c0de-0000-4000-8000-{n:012d}", "stage": "ResponseComplete",
        "requestURI": uri, "verb": verb,
        "user": {"username": user, "uid": f"uid-{user}", "groups": ["system:authenticated", "sre"]},
        "sourceIPs": ["10.0.0.2"], "userAgent": "kubectl/v1.31.0", "objectRef": ref,
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": _iso(t, micros=True), "stageTimestamp": _iso(t, micros=True),
    }


Record = tuple[datetime, str, str]  # (event time, ingest format, raw line)


SPAN_S = 600      # the corpus covers the ten minutes before it is built
MIN_SPAN_S = 120  # the shortest span the scenarios fit in (a re-run soon after the last one)


def build(now: datetime | None = None, background: int = 200, seed: int = 7,
          span_s: float = SPAN_S) -> list[Record]:
    """The corpus in event-time order across families, as a live system would deliver it,
    covering the `span_s` seconds before `now`.

    `background` ordinary events per family surround the scenarios: successful logins, reads,
    pod listings and application events by several users, none of which a demo rule flags."""
    if span_s < MIN_SPAN_S:
        raise ValueError(f"the corpus needs at least {MIN_SPAN_S} s of event time, not {span_s}")
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    start = now - timedelta(seconds=span_s)
    users = ["bob", "carol", "erin", "frank", "grace"]
    out: list[Record] = []

    def at(i: int) -> datetime:
        return start + timedelta(seconds=span_s * i / max(background, 1))

    def add(t: datetime, fmt: str, record: str | dict) -> None:
        out.append((t, fmt, record if isinstance(record, str) else json.dumps(record)))

    for i in range(background):
        t = at(i)
        add(t, "syslog", f"<38>{_syslog_time(t)} web1 sshd[{5000 + i}]: Accepted publickey for "
                         f"{rng.choice(users)} from 10.0.{i % 200}.{i % 250 + 1} port {40000 + i} ssh2")
        add(t, "cloudtrail", _cloudtrail(t, rng.choice(users), "s3.amazonaws.com", "GetObject",
                                         {"bucketName": "reports", "key": f"r{i}.pdf"}, i))
        add(t, "k8s-audit", _k8s(t, rng.choice(users), "list", "pods", "", i))
        add(t, "app", {"id": f"demo-{i:05d}", "timestamp": _iso(t), "app": "billing",
                       "action": "invoice.view", "outcome": "success",
                       "actor": {"id": f"u-{rng.choice(users)}", "name": rng.choice(users)},
                       "target": {"id": f"inv-{i}", "type": "invoice"}, "source_ip": "10.1.2.3"})
    attack = start + timedelta(seconds=0.4 * span_s)
    for k in range(6):  # AUTH-001: six failures within 30 s
        t = attack + timedelta(seconds=5 * k)
        add(t, "syslog", f"<38>{_syslog_time(t)} web1 sshd[{9000 + k}]: "
                         f"Failed password for alice from 81.2.69.142 port {50000 + k} ssh2")
    escalation = start + timedelta(seconds=0.6 * span_s)
    admin = {"userName": "mallory", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    add(escalation, "cloudtrail", _cloudtrail(escalation, "mallory", "iam.amazonaws.com",
                                              "AttachUserPolicy", admin, background + 1))
    t = escalation + timedelta(seconds=20)
    add(t, "cloudtrail", _cloudtrail(t, "mallory", "cloudtrail.amazonaws.com", "StopLogging",
                                     {"name": "org-trail"}, background + 2))
    t = start + timedelta(seconds=0.7 * span_s)
    add(t, "k8s-audit", _k8s(t, "dave", "create", "pods", "api-7d9f-xk2lp", background + 1,
                             subresource="exec", code=101))
    out.sort(key=lambda r: r[0])
    return out


def write(directory: Path, records: list[Record]) -> dict[str, Path]:
    """One file per family (what `auditflow ingest FORMAT FILE` reads), in event-time order."""
    directory.mkdir(parents=True, exist_ok=True)
    names = {"syslog": "auth.log", "cloudtrail": "cloudtrail.jsonl", "k8s-audit": "k8s-audit.log",
             "app": "app.jsonl"}
    files = {fmt: directory / name for fmt, name in names.items()}
    texts: dict[str, list[str]] = {fmt: [] for fmt in names}
    for _t, fmt, line in records:
        texts[fmt].append(line + "\n")
    for fmt, path in files.items():
        path.write_text("".join(texts[fmt]))
    return files
