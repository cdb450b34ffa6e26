"""The variants real logs have (tests/fixtures/parse/*-variants.*): CloudTrail eventVersion 1.0 to
1.10 and its identity types, Kubernetes audit events without apiVersion or in v1beta1, syslog with
and without the year and rsyslog's repeat lines, auditd events split across Kafka records."""

from __future__ import annotations

import pytest
from parse_support import FIXTURES, NOW_MS, parse_one, record

from udfs import validate
from udfs.parse import ParseError, parse


def variants(source: str, name: str, sep: str = "\n") -> list[dict]:
    parts = [p.strip("\n") for p in (FIXTURES / name).read_text().split(sep) if p.strip()]
    return [parse_one(source, p, offset=i) for i, p in enumerate(parts)]


@pytest.fixture(scope="module")
def trails():
    return variants("cloudtrail", "cloudtrail-variants.jsonl")


def test_cloudtrail_every_event_version_parses(trails):
    versions = [e["metadata"]["product"]["version"] for e in trails]
    assert versions == ["1.0", "1.02", "1.05", "1.08", "1.09", "1.10"]
    assert [e["api"]["operation"] for e in trails] == [
        "StartInstances", "UpdateTrail", "DeleteBucket", "CreateAccessKey", "ListApplications", "PutObject"]


def test_cloudtrail_1_0_without_event_or_request_id(trails):
    e = trails[0]
    assert e["metadata"]["uid"] is None and e["api"]["request"] is None
    assert (e["time"], e["class_uid"], e["activity_id"], e["status_id"]) == (1394140974000, 6003, 3, 1)


def test_cloudtrail_iam_user_with_long_term_key(trails):
    e = trails[1]
    assert e["actor"] == {"user": {"uid": "arn:aws:iam::123456789012:user/Alice", "name": "Alice",
                                   "type": "IAMUser", "groups": None}, "session": None}
    assert e["unmapped"]["userIdentity.accessKeyId"] == "AKIAIOSFODNN7EXAMPLE"
    assert (e["status_id"], e["status_detail"]) == (2, "TrailNotFoundException")


def test_cloudtrail_assumed_role_session(trails):
    e = trails[2]
    assert e["actor"]["user"] == {
        "uid": "arn:aws:sts::123456789012:assumed-role/RoleToBeAssumed/MySessionName",
        "name": "RoleToBeAssumed", "type": "AssumedRole", "groups": None}
    assert e["actor"]["session"] == {
        "uid": "ASIAIOSFODNN7EXAMPLE", "issuer": "arn:aws:iam::123456789012:role/RoleToBeAssumed",
        "is_mfa": True}
    assert e["unmapped"]["userIdentity.sessionName"] == "MySessionName"


def test_cloudtrail_root(trails):
    e = trails[3]
    assert e["actor"]["user"] == {"uid": "arn:aws:iam::123456789012:root", "name": "root", "type": "Root",
                                  "groups": None}
    assert e["actor"]["session"] is None


def test_cloudtrail_identity_center_user(trails):
    e = trails[4]
    assert e["actor"]["user"] == {"uid": "544894e8-80c1-707f-60e3-3ba6510dfac1", "name": None,
                                  "type": "IdentityCenterUser", "groups": None}
    assert e["actor"]["session"] == {
        "uid": "EXAMPLEVHULjJdTUdPJfofVa1sufHDoj7aYcOYcxFVllWR_Whr1fEXAMPLE",
        "issuer": "arn:aws:identitystore::123456789012:identitystore/d-9067642ac7", "is_mfa": None}
    assert e["cloud"]["account"] == {"uid": "123456789012"}


def test_cloudtrail_aws_service(trails):
    e = trails[5]
    assert e["actor"] == {"user": {"uid": None, "name": "cloudtrail.amazonaws.com", "type": "AWSService",
                                   "groups": None}, "session": None}
    assert e["src_endpoint"]["hostname"] == "cloudtrail.amazonaws.com"
    assert [r["type"] for r in e["resources"]] == ["AWS::S3::Object", "AWS::S3::Bucket"]


def test_k8s_events_without_api_version_and_in_v1beta1():
    events = variants("k8s-audit", "k8s-audit-variants.jsonl")
    outcomes = [(e["api"]["operation"], e["status_id"]) for e in events]
    assert outcomes == [("create", 1), ("get", 2), ("delete", 1)]
    assert events[0]["resources"][0]["type"] == "pods/exec"
    assert "apiVersion" not in events[0]["unmapped"]
    assert events[2]["unmapped"]["apiVersion"] == "audit.k8s.io/v1beta1"
    assert [validate.should_filter(e) for e in events] == [None, None, None]


@pytest.mark.parametrize("value", [
    b'{"kind":"Pod","auditID":"x","stage":"ResponseComplete","verb":"get"}',
    b'{"auditID":"x","verb":"get"}',  # neither a stage nor a requestURI: not evidently an audit event
    b'{"apiVersion":"v1","auditID":"x","stage":"ResponseComplete","verb":"get"}',
])
def test_k8s_objects_that_are_not_audit_events_are_dead_lettered(value):
    with pytest.raises(ParseError) as info:
        parse(record("k8s-audit", value))
    assert info.value.error_class == "k8s.not_audit_event"


def test_syslog_with_and_without_the_year():
    events = variants("syslog", "syslog-variants.log")
    assert [e["time"] for e in events] == [1732795741000, 1732795742250, 1730635743000, 1732795744000]
    assert [e["metadata"]["original_time"] for e in events] == [
        "Nov 28 2024 12:09:01", "Nov 28 2024 12:09:02.250", "Nov  3 12:09:03", "Nov 28 12:09:04"]
    assert [e["dst_endpoint"]["hostname"] for e in events] == ["web1"] * 4


def test_syslog_year_in_the_line_is_used_as_written():
    e = parse_one("syslog", "<38>Dec 31 2023 23:59:59 web1 app: year end", ts=NOW_MS)
    assert e["time"] == 1704067199000  # 2023-12-31T23:59:59Z; the inferred year would be 2023 too
    e = parse_one("syslog", "<38>Nov 27 2024 23:00:00 web1 app: x", ts=NOW_MS)
    assert e["time"] == 1732748400000
    with pytest.raises(ParseError) as info:
        parse(record("syslog", "<38>Feb 30 2024 12:00:00 web1 app: no such day"))
    assert info.value.error_class == "syslog.bad_time"


def test_syslog_repeated_message_is_one_event_keeping_the_count():
    e = variants("syslog", "syslog-variants.log")[3]
    assert e["unmapped"]["syslog.repeated"] == "3"
    assert e["message"] == "Failed password for invalid user admin from 198.51.100.23 port 40130 ssh2"
    assert (e["class_uid"], e["status_id"], e["actor"]["user"]["name"]) == (3002, 2, "admin")
    assert validate.should_filter(e) is None


def test_auditd_event_split_across_records_keeps_both_parts_joinable():
    head, rest = variants("auditd", "auditd-variants.log", "\n\n")
    assert (head["class_uid"], head["unmapped"]["auditflow.parser"]) == (1007, "auditd.execve")
    rule = rest["unmapped"]["auditflow.parser"]
    assert (rest["class_uid"], rest["activity_id"], rule) == (0, 99, "auditd.fragment")
    assert rest["unmapped"]["auditd.fragment"] == "no SYSCALL record"
    assert rest["unmapped"]["process.cmd_line"] == "passwd bob"
    assert rest["unmapped"]["process.cwd"] == "/home/alice"
    assert rest["unmapped"]["file.paths"] == '["/usr/bin/passwd"]'
    assert rest["metadata"]["uid"] == head["metadata"]["uid"] == "9100"
    assert rest["time"] == head["time"] == 1732795820000
    assert validate.should_filter(rest) is None
