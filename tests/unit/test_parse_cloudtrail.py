import json

import pytest
from parse_support import fixture_events, fixture_values, parse_one, record

from udfs.parse import ParseError, parse
from udfs.parse.cloudtrail import api_activity
from udfs.validate import should_filter


@pytest.fixture(scope="module")
def events():
    return fixture_events("cloudtrail")


def test_root_console_login_success_without_mfa(events):
    e = events[0]
    assert (e["type_uid"], e["status_id"], e["severity_id"]) == (300201, 1, 1)
    assert e["actor"]["user"] == {"uid": "arn:aws:iam::123456789012:root", "name": "root", "type": "Root",
                                  "groups": None}
    assert e["actor"]["session"]["is_mfa"] is False
    assert e["src_endpoint"]["ip"] == "203.0.113.7"
    assert e["cloud"] == {"provider": "AWS", "region": "us-east-1", "account": {"uid": "123456789012"}}
    assert e["metadata"]["uid"] == "3fcfb586-1c6c-4b1c-9d8a-e3d0b4a0b001"
    assert e["metadata"]["product"] == {"name": "CloudTrail", "vendor_name": "AWS", "version": "1.08"}
    assert e["http_request"]["user_agent"].startswith("Mozilla/5.0")
    assert json.loads(e["unmapped"]["tlsDetails"])["tlsVersion"] == "TLSv1.3"
    assert e["unmapped"]["eventType"] == "AwsConsoleSignIn"


def test_console_login_failure(events):
    e = events[1]
    assert (e["type_uid"], e["status_id"], e["severity_id"]) == (300201, 2, 2)
    assert e["message"] == "Failed authentication"
    assert e["actor"]["user"]["name"] == "mallory" and e["actor"]["user"]["type"] == "IAMUser"
    assert e["actor"]["session"]["is_mfa"] is True


def test_attach_user_policy_is_account_change_with_target_and_policy(events):
    e = events[2]
    assert (e["class_uid"], e["activity_id"], e["category_uid"]) == (3001, 7, 3)
    assert [(r["name"], r["uid"], r["type"]) for r in e["resources"]] == [
        ("bob", None, "User"), (None, "arn:aws:iam::aws:policy/AdministratorAccess", "Policy")]
    assert e["api"] == {"operation": "AttachUserPolicy", "service": {"name": "iam.amazonaws.com"},
                        "request": {"uid": "2a5e3c1d-7b6f-4a1e-9c2d-000000000003"}}
    assert e["actor"]["user"]["uid"] == "arn:aws:iam::123456789012:user/alice"
    assert e["actor"]["session"] is None  # long-term AKIA key: not a session
    assert e["unmapped"]["userIdentity.accessKeyId"] == "AKIAIOSFODNN7EXAMPLE"


def test_assumed_role_with_mfa_creating_a_user(events):
    e = events[3]
    assert e["type_uid"] == 300101
    assert e["actor"]["user"]["name"] == "AdminRole" and e["actor"]["user"]["type"] == "AssumedRole"
    assert e["actor"]["session"] == {"uid": "ASIAEXAMPLEKEY000001",
                                     "issuer": "arn:aws:iam::123456789012:role/AdminRole", "is_mfa": True}
    assert e["unmapped"]["userIdentity.sessionName"] == "alice@example.com"
    assert e["resources"][0]["name"] == "svc-backup"


def test_data_event_read_with_resources(events):
    e = events[4]
    assert (e["class_uid"], e["activity_id"], e["category_uid"]) == (6003, 2, 6)
    assert e["resources"][1] == {"uid": "arn:aws:s3:::acme-payroll", "name": None, "type": "AWS::S3::Bucket",
                                 "namespace": "123456789012", "owner": None}
    assert e["actor"]["session"]["is_mfa"] is False
    assert e["cloud"]["region"] == "eu-west-1"


def test_service_name_source_is_a_hostname_never_an_ip(events):
    e = events[5]
    assert e["src_endpoint"] == {"ip": None, "port": None, "hostname": "ec2.amazonaws.com"}
    assert e["actor"]["user"] == {"uid": None, "name": "ec2.amazonaws.com", "type": "AWSService",
                                  "groups": None}
    assert e["activity_id"] == 99  # AssumeRole: no verb rule


def test_federated_user_error_is_failure(events):
    e = events[6]
    assert (e["type_uid"], e["status_id"], e["status_detail"]) == (600304, 2, "Client.UnauthorizedOperation")
    assert e["message"] == "You are not authorized to perform this operation."
    assert e["actor"]["user"]["name"] == "fed-broker" and e["actor"]["user"]["type"] == "FederatedUser"


def test_aws_account_and_aws_internal_source(events):
    e = events[7]
    assert e["actor"]["user"]["type"] == "AWSAccount" and e["actor"]["user"]["name"] == "210987654321"
    assert e["src_endpoint"] is None
    assert e["unmapped"]["sourceIPAddress"] == "AWS Internal"
    assert e["resources"][0]["name"] == "acme-shared"


def test_access_denied(events):
    e = events[8]
    assert (e["type_uid"], e["status_id"], e["status_detail"]) == (600303, 2, "AccessDenied")


def test_records_wrapper_with_one_element_and_mfa_deactivation(events):
    e = events[9]
    assert e["type_uid"] == 300111
    assert [r["type"] for r in e["resources"]] == ["User", "MFADevice"]


def test_ingestion_fixtures_parse_too():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "fixtures" / "raw" / "cloudtrail" / "events.jsonl"
    for i, line in enumerate(path.read_bytes().splitlines()):
        parse_one("cloudtrail", line, offset=i, ts=1736668800000)


@pytest.mark.parametrize(
    ("name", "activity"),
    [("CreateBucket", 1), ("PutObject", 1), ("RunInstances", 1), ("GetObject", 2), ("ListBuckets", 2),
     ("DescribeInstances", 2), ("UpdateFunctionCode", 3), ("AttachVolume", 3), ("StopLogging", 3),
     ("DeleteTrail", 4), ("TerminateInstances", 4), ("AssumeRole", 99), ("ConsoleLogin", 99)],
)
def test_api_activity_by_verb(name, activity):
    assert api_activity(name) == activity


def test_malformed_json_is_a_helpful_parse_error():
    with pytest.raises(ParseError) as err:
        parse(record("cloudtrail", b'{"eventName": "GetObject", '))
    assert err.value.error_class == "json.invalid"
    assert "line 1 column" in str(err.value) and "one complete JSON document" in str(err.value)


@pytest.mark.parametrize(
    ("value", "error_class"),
    [
        (b'{"Records": [{"eventName": "A"}, {"eventName": "B"}]}', "cloudtrail.batched"),
        (b'{"eventName": "GetObject"}', "cloudtrail.missing_field"),
        (b'[1, 2]', "json.not_object"),
        (b'   ', "json.empty"),
        (b'{"eventTime": "yesterday", "eventName": "X", "eventSource": "s3.amazonaws.com"}', "time.invalid"),
    ],
)
def test_rejects(value, error_class):
    with pytest.raises(ParseError) as err:
        parse(record("cloudtrail", value))
    assert err.value.error_class == error_class


def test_insight_and_digest_are_events_filtered_by_default():
    insight = json.loads(fixture_values("cloudtrail")[8])
    insight.update(eventCategory="Insight", eventType="AwsCloudTrailInsight")
    e = parse_one("cloudtrail", json.dumps(insight))
    assert e["class_uid"] == 0 and should_filter(e) == "rule:cloudtrail.insight"
    digest = {"awsAccountId": "123456789012", "digestStartTime": "2024-11-28T11:00:00Z",
              "digestEndTime": "2024-11-28T12:00:00Z", "digestS3Bucket": "trail-bucket",
              "digestPublicKeyFingerprint": "abc", "logFiles": []}
    e = parse_one("cloudtrail", json.dumps(digest))
    assert should_filter(e) == "rule:cloudtrail.digest"
