import json

import pytest
from parse_support import fixture_events, fixture_values, parse_one, record

from udfs.parse import ParseError, parse
from udfs.validate import should_filter


@pytest.fixture(scope="module")
def events():
    return fixture_events("k8s-audit")


def test_pod_exec(events):
    e = events[0]
    assert (e["class_uid"], e["activity_id"], e["status_id"]) == (6003, 1, 1)
    assert e["resources"] == [{"uid": None, "name": "api-7d9f-xk2lp", "type": "pods/exec",
                               "namespace": "payments", "owner": None}]
    assert e["api"]["operation"] == "create" and e["api"]["service"]["name"] == "core"
    assert e["api"]["request"]["uid"] == e["metadata"]["uid"] == "6f1f7c8e-2d3b-4c5a-9e0f-000000000001"
    assert e["actor"]["user"] == {"uid": "a1b2c3", "name": "alice@example.com", "type": "User",
                                  "groups": ["system:authenticated", "sre"]}
    assert e["src_endpoint"]["ip"] == "203.0.113.7"
    assert json.loads(e["unmapped"]["sourceIPs"]) == ["203.0.113.7", "10.0.0.2"]
    assert e["http_request"]["url"].startswith("/api/v1/namespaces/payments/pods/api-7d9f-xk2lp/exec?")
    assert e["http_request"]["user_agent"].startswith("kubectl/")
    assert e["unmapped"]["stage"] == "ResponseComplete" and e["unmapped"]["level"] == "RequestResponse"
    assert json.loads(e["unmapped"]["annotations"])["authorization.k8s.io/decision"] == "allow"
    assert e["time"] == 1732796400123
    assert e["metadata"]["product"]["name"] == "Kubernetes"
    assert should_filter(e) is None


def test_impersonation_and_forbidden(events):
    e = events[1]
    assert (e["activity_id"], e["status_id"], e["status_detail"]) == (2, 2, "Forbidden")
    assert e["actor"]["user"]["type"] == "ServiceAccount"
    assert e["unmapped"]["impersonatedUser.username"] == "bob@example.com"
    assert json.loads(e["unmapped"]["impersonatedUser"])["groups"] == ["system:authenticated", "admins"]
    assert e["unmapped"]["responseStatus.code"] == "403"
    assert "forbidden" in e["message"]


def test_v1beta1(events):
    e = events[2]
    assert e["unmapped"]["apiVersion"] == "audit.k8s.io/v1beta1"
    assert (e["activity_id"], e["status_id"]) == (1, 1)
    assert e["api"]["service"]["name"] == "rbac.authorization.k8s.io"
    assert e["resources"][0]["type"] == "clusterrolebindings" and e["resources"][0]["namespace"] is None
    assert e["time"] == 1559383202000


def test_v1beta1_with_only_timestamp():
    doc = json.loads(fixture_values("k8s-audit")[2])
    del doc["requestReceivedTimestamp"]
    assert parse_one("k8s-audit", json.dumps(doc))["time"] == 1559383202000


def test_healthz_by_system_user_is_filtered_as_health_check(events):
    e = events[3]
    assert e["resources"] is None and e["api"]["service"] is None
    assert should_filter(e) == "health_check"


def test_incomplete_stage_is_mapped_and_filtered(events):
    e = events[4]
    assert e["type_uid"] == 600301 and e["unmapped"]["stage"] == "ResponseStarted"
    assert e["unmapped"]["auditflow.parser"] == "k8s.incomplete_stage"
    assert should_filter(e) == "k8s.stage:ResponseStarted"


def test_request_received_has_no_outcome():
    doc = json.loads(fixture_values("k8s-audit")[0])
    doc["stage"] = "RequestReceived"
    del doc["responseStatus"]
    e = parse_one("k8s-audit", json.dumps(doc))
    assert e["status_id"] is None


def test_panic_is_failure_and_kept(events):
    e = events[5]
    assert (e["activity_id"], e["status_id"]) == (2, 2)
    assert should_filter(e) is None


@pytest.mark.parametrize(
    ("value", "error_class"),
    [
        (b'{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"get"', "json.invalid"),
        (b'{"kind":"Pod","apiVersion":"v1"}', "k8s.not_audit_event"),
        (b'{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{},{}]}', "k8s.batched"),
        (b'{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"x"}', "k8s.missing_field"),
        (b'{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"get"}', "time.missing"),
    ],
)
def test_rejects(value, error_class):
    with pytest.raises(ParseError) as err:
        parse(record("k8s-audit", value))
    assert err.value.error_class == error_class
