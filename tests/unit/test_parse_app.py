import json

import pytest
from parse_support import fixture_events, parse_one, record

from udfs.parse import ParseError, parse
from udfs.parse.app import activity
from udfs.validate import should_filter


@pytest.fixture(scope="module")
def events():
    return fixture_events("app")


def test_login(events):
    e = events[0]
    assert (e["type_uid"], e["status_id"]) == (300201, 1)
    assert e["actor"]["user"] == {"uid": "u-42", "name": "alice", "type": "User", "groups": ["finance"]}
    assert e["actor"]["session"] == {"uid": "s-1", "issuer": None, "is_mfa": True}
    assert e["src_endpoint"]["ip"] == "203.0.113.7" and e["dst_endpoint"]["hostname"] == "billing-7f9c"
    assert e["http_request"] == {"http_method": "POST", "url": "/login", "user_agent": "Mozilla/5.0"}
    assert e["api"] == {"operation": "auth.login", "service": {"name": "billing"},
                        "request": {"uid": "req-1"}}
    assert e["metadata"]["product"]["name"] == "billing" and e["metadata"]["uid"] == "evt-0001"
    assert e["time"] == 1732797000123


def test_export_failure_with_severity_and_details(events):
    e = events[1]
    assert (e["type_uid"], e["status_id"], e["severity_id"]) == (600302, 2, 3)
    assert e["status_detail"] == "quota exceeded"
    assert e["resources"][0]["uid"] == "inv-1001" and e["resources"][0]["type"] == "invoice"
    assert json.loads(e["unmapped"]["details"]) == {"format": "pdf", "pages": 3}


def test_ingest_adapter_shape(events):
    e = events[2]
    assert e["type_uid"] == 300107  # role.grant -> Attach Policy
    assert e["metadata"]["uid"] == "01JHB7Q9M4A2C6E8G0J2L4N6PB"
    assert e["actor"]["session"]["uid"] == "s-91ac"
    assert e["src_endpoint"]["ip"] == "198.51.100.23"
    assert e["unmapped"]["schema"] == "auditflow.app/v1" and e["unmapped"]["env"] == "prod"


def test_epoch_time_and_string_actor(events):
    e = events[3]
    assert e["time"] == 1732797003000 and e["type_uid"] == 300106
    assert e["actor"]["user"]["name"] == "carol" and e["resources"][0]["name"] == "dave"


def test_load_balancer_probe_is_filtered(events):
    assert should_filter(events[4]) == "health_check"
    assert all(should_filter(e) is None for e in events[:4])


def test_payload_tenant_used_only_without_key():
    value = '{"timestamp":"2024-11-28T12:00:00Z","action":"doc.view","tenant":"globex","app":"a"}'
    assert parse_one("app", value, tenant=None)["tenant_id"] == "globex"
    e = parse_one("app", value, tenant="acme")
    assert e["tenant_id"] == "acme" and e["unmapped"]["payload.tenant"] == "globex"


def test_ingestion_fixtures_parse_too():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "fixtures" / "raw" / "app" / "events.jsonl"
    for i, line in enumerate(path.read_bytes().splitlines()):
        parse_one("app", line, offset=i, ts=1736668800000)


@pytest.mark.parametrize(
    ("action", "expected"),
    [("login", (3002, 1)), ("auth.logout", (3002, 2)), ("user.create", (3001, 1)),
     ("user.password_change", (3001, 3)), ("user.role_revoke", (3001, 8)), ("doc.create", (6003, 1)),
     ("doc.download", (6003, 2)), ("doc.update", (6003, 3)), ("doc.delete", (6003, 4)),
     ("doc.frobnicate", (6003, 99))],
)
def test_actions(action, expected):
    assert activity(action) == expected


@pytest.mark.parametrize(
    ("value", "error_class"),
    [
        ('{"timestamp": "2024-11-28T12:00:00Z"}', "app.missing_field"),
        ('{"action": "doc.view"}', "app.missing_field"),
        ('{"action": "doc.view", "timestamp": "noon"}', "time.invalid"),
        ('{"action": "doc.view", ', "json.invalid"),
        ('"just a string"', "json.not_object"),
    ],
)
def test_rejects(value, error_class):
    with pytest.raises(ParseError) as err:
        parse(record("app", value))
    assert err.value.error_class == error_class
