"""Alert routing logic without services: destinations from config, filters, idempotency keys,
the retry schedule, each destination's payload, and the retry loop over a scripted session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from auditflow.alerts import deliver, destinations, tail

T0 = 1_764_340_000_000   # 2025-11-28T14:26:40Z


def alert(**over) -> dict:
    base = {
        "alert_id": "a1b2c3", "rule_id": "AUTH-001", "title": "Brute force against one user",
        "severity": "high", "severity_id": 4, "tenant_id": "acme", "entity_type": "user",
        "entity_value": "alice", "window_start": T0, "window_end": T0 + 60_000, "event_count": 7,
        "evidence": [{"event_id": f"e{i}", "chain_id": "acme", "sequence": i, "event_hash": "ab" * 32}
                     for i in range(5)],
        "first_seen": T0 + 1_000, "last_seen": T0 + 50_000, "mitre": ["T1110.001"],
        "compliance": ["PCI-DSS-10.2.4"], "dedup_key": "AUTH-001|acme|alice", "created_at": T0 + 61_000,
    }
    base.update(over)
    return base


# ---------------------------------------------------------------- configuration
def test_destinations_from_config_with_environment_references():
    dests = destinations.parse_destinations({
        "slack": {"type": "slack", "url": "${SLACK_URL}", "min_severity": "HIGH"},
        "pd": {"type": "pagerduty", "routing_key": "${PD_KEY}", "tenants": ["acme"]},
        "siem": {"type": "webhook", "url": "https://siem.example/hook", "rule_ids": "AUTH-*",
                 "headers": {"Authorization": "Bearer ${TOKEN}"}, "timeout_s": 3},
        "off": {"type": "slack", "url": "https://x", "enabled": False},
    }, environ={"SLACK_URL": "https://hooks.slack.com/services/T/B/secret", "PD_KEY": "k" * 32,
                "TOKEN": "t0k"})
    by = {d.name: d for d in dests}
    assert sorted(by) == ["pd", "siem", "slack"]
    assert by["slack"].url == "https://hooks.slack.com/services/T/B/secret"
    assert by["slack"].min_severity == "high"
    assert by["pd"].url == destinations.PAGERDUTY_URL and by["pd"].routing_key == "k" * 32
    assert by["pd"].tenants == ("acme",)
    assert by["siem"].rule_ids == ("AUTH-*",) and by["siem"].timeout_s == 3.0
    assert dict(by["siem"].headers) == {"Authorization": "Bearer t0k"}


@pytest.mark.parametrize("raw,message", [
    ({"type": "teams", "url": "https://x"}, "type must be one of"),
    ({"type": "slack"}, "url must be an http(s) URL"),
    ({"type": "slack", "url": "${NOPE}"}, "${NOPE}, which is not set"),
    ({"type": "pagerduty"}, "routing_key is required"),
    ({"type": "slack", "url": "https://x", "min_severity": "urgent"}, "min_severity must be one of"),
    ({"type": "slack", "url": "https://x", "min_sev": "high"}, "unknown setting(s) min_sev"),
    ({"type": "slack", "url": "https://x", "rule_ids": [1]}, "rule_ids must be a string or a list"),
    ({"type": "pagerduty", "routing_key": "k", "dedup_by": "rule"}, "dedup_by must be"),
])
def test_destination_errors_name_the_setting(raw, message):
    with pytest.raises(destinations.DestinationError) as err:
        destinations.parse_destinations({"d1": raw}, environ={})
    assert "alerts.destinations.d1" in str(err.value) and message in str(err.value)


def test_retry_policy_from_config_and_its_checks():
    p = destinations.retry_policy({"max_attempts": 3, "backoff_base_s": 0.5, "backoff_max_s": 4})
    assert p == destinations.RetryPolicy(3, 0.5, 4.0, 300.0)
    with pytest.raises(destinations.DestinationError):
        destinations.retry_policy({"max_attempts": 0})


# ---------------------------------------------------------------- filters and keys
def dest(**over) -> destinations.Destination:
    return destinations.Destination(**{"name": "d", "kind": "webhook", "url": "http://127.0.0.1/x", **over})


@pytest.mark.parametrize("over,a,expected", [
    ({}, alert(severity="informational"), True),
    ({"min_severity": "high"}, alert(severity="medium"), False),
    ({"min_severity": "high"}, alert(severity="critical"), True),
    ({"min_severity": "low"}, alert(severity="bogus"), False),
    ({"rule_ids": ("AUTH-*",)}, alert(rule_id="AUTH-002"), True),
    ({"rule_ids": ("AUTH-*",)}, alert(rule_id="K8S-001"), False),
    ({"exclude_rule_ids": ("AUTH-00?",)}, alert(rule_id="AUTH-003"), False),
    ({"tenants": ("acme", "glo*")}, alert(tenant_id="globex"), True),
    ({"tenants": ("acme",)}, alert(tenant_id="initech"), False),
])
def test_filter_matching(over, a, expected):
    assert destinations.matches(dest(**over), a) is expected


def test_idempotency_key_is_stable_per_alert_and_destination():
    a = alert()
    assert destinations.idempotency_key(a, "slack") == destinations.idempotency_key(dict(a), "slack")
    assert destinations.idempotency_key(a, "slack") != destinations.idempotency_key(a, "pd")
    key = destinations.idempotency_key
    assert key(a, "slack") != key(alert(alert_id="other"), "slack")
    # only the alert's identity counts, not a re-emitted copy's processing time
    assert key(a, "slack") == key(alert(created_at=T0 + 99_999), "slack")
    # without an alert id: rule + tenant + entity + window
    no_id = alert(alert_id="")
    assert destinations.alert_basis(no_id) == f"AUTH-001|acme|user|alice|{T0}|{T0 + 60_000}"
    later = alert(alert_id="", window_start=T0 + 1)
    assert destinations.idempotency_key(no_id, "x") != destinations.idempotency_key(later, "x")


def test_normalize_alert_turns_deserialized_datetimes_into_millis():
    a = alert(window_start=datetime.fromtimestamp(T0 / 1000, UTC), severity="HIGH")
    n = destinations.normalize_alert(a)
    assert n["window_start"] == T0 and n["severity"] == "high"
    assert destinations.idempotency_key(n, "d") == destinations.idempotency_key(alert(), "d")


# ---------------------------------------------------------------- retries
@pytest.mark.parametrize("status,verdict", [
    (200, "ok"), (202, "ok"), (204, "ok"), (None, "retry"), (408, "retry"), (429, "retry"),
    (500, "retry"), (503, "retry"), (400, "permanent"), (401, "permanent"), (403, "permanent"),
    (404, "permanent"), (410, "permanent"), (302, "permanent"),
])
def test_classify(status, verdict):
    assert destinations.classify(status) == verdict


def test_backoff_is_exponential_capped_and_jittered_within_half_to_full():
    p = destinations.RetryPolicy(max_attempts=10, base_s=1, max_s=10)
    assert [destinations.backoff_delay(n, p, rand=lambda: 1.0) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert [destinations.backoff_delay(n, p, rand=lambda: 0.0) for n in range(1, 5)] == [0.5, 1, 2, 4]


def test_next_wait_respects_retry_after_and_the_attempt_limit():
    p = destinations.RetryPolicy(max_attempts=3, base_s=1, max_s=10, retry_after_max_s=30)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert destinations.next_wait(1, 429, "7", p) == 7
    assert destinations.next_wait(1, 503, format_datetime(now + timedelta(seconds=12), usegmt=True), p,
                           now=now) == pytest.approx(12)
    assert destinations.next_wait(1, 429, "3600", p) == 30                     # capped
    assert destinations.next_wait(2, 500, None, p, rand=lambda: 1.0) == 2
    assert destinations.next_wait(2, 500, "soon", p, rand=lambda: 1.0) == 2    # unreadable: our schedule
    assert destinations.next_wait(3, 500, None, p) is None                      # attempts used up
    assert destinations.next_wait(1, 400, "5", p) is None                       # permanent


# ---------------------------------------------------------------- payloads
def test_slack_payload_escapes_and_colours_by_severity():
    body = destinations.slack_payload(alert(entity_value="<script>&", severity="critical"))
    assert body["text"].startswith(
        "[CRITICAL] AUTH-001 Brute force against one user: user &lt;script&gt;&amp;")
    att = body["attachments"][0]
    assert att["color"] == destinations.SLACK_COLOUR["critical"]
    header, section, context = att["blocks"]
    assert header["text"]["text"] == "CRITICAL: Brute force against one user"
    texts = [f["text"] for f in section["fields"]]
    assert "*Entity*\nuser `&lt;script&gt;&amp;`" in texts
    assert "*Events*\n7 (5 as evidence)" in texts
    assert "*Window*\n2025-11-28 14:26:40–14:27:40 UTC (60s)" in texts
    assert "a1b2c3" in context["elements"][0]["text"]


@pytest.mark.parametrize("sev,pd", list(destinations.PAGERDUTY_SEVERITY.items()))
def test_pagerduty_trigger_event(sev, pd):
    d = dest(kind="pagerduty", url=destinations.PAGERDUTY_URL, routing_key="R" * 32)
    body = destinations.pagerduty_payload(alert(severity=sev), d)
    assert body["event_action"] == "trigger" and body["routing_key"] == "R" * 32
    assert body["dedup_key"] == "auditflow:a1b2c3"
    p = body["payload"]
    assert p["severity"] == pd and p["source"] == "auditflow/acme" and p["class"] == "AUTH-001"
    assert p["timestamp"] == "2025-11-28T14:27:41.000Z" and len(p["summary"]) <= 1024
    assert p["custom_details"]["evidence_count"] == 5 and p["custom_details"]["event_count"] == 7


def test_pagerduty_dedup_by_entity_and_long_keys():
    d = dest(kind="pagerduty", routing_key="R", dedup_by="entity")
    assert destinations.pagerduty_dedup_key(alert(), d) == "AUTH-001|acme|alice"
    long = destinations.pagerduty_dedup_key(alert(dedup_key="x" * 400), d)
    assert len(long) <= 255 and long.startswith("auditflow:")


def test_webhook_request_carries_the_idempotency_key_and_configured_headers():
    d = dest(name="siem", headers=(("Authorization", "Bearer t"),), timeout_s=4)
    req = destinations.build_request(d, alert(), user_agent="auditflow/9")
    key = destinations.idempotency_key(alert(), "siem")
    assert req.headers == {"User-Agent": "auditflow/9", "Idempotency-Key": key, "Authorization": "Bearer t"}
    assert req.body["idempotency_key"] == key and req.body["alert"]["rule_id"] == "AUTH-001"
    assert req.body["alert"]["window_start"] == T0
    assert req.body["alert"]["window_start_iso"] == "2025-11-28T14:26:40.000Z"
    assert req.timeout_s == 4 and req.url == d.url


def test_redacted_url_hides_the_secret_path():
    assert destinations.redacted_url("https://hooks.slack.com/services/T0/B0/xyz") == "https://hooks.slack.com/services/****"
    assert destinations.redacted_url("http://127.0.0.1:8000/hook") == "http://127.0.0.1:8000/hook"


# ---------------------------------------------------------------- the retry loop (scripted session)
class Scripted:
    """Answers with a fixed list of statuses (or exceptions) and records each call."""

    def __init__(self, answers: list):
        self.answers, self.calls = list(answers), []

    def post(self, url, json, headers, timeout, allow_redirects):
        self.calls.append((url, json, headers))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, retry_after = answer if isinstance(answer, tuple) else (answer, None)
        resp = requests.Response()
        resp.status_code, resp._content = status, b"body"
        if retry_after is not None:
            resp.headers["Retry-After"] = retry_after
        return resp


REQ = destinations.Request(url="http://127.0.0.1:1/x", body={"a": 1}, headers={"Idempotency-Key": "k"})
FAST = destinations.RetryPolicy(max_attempts=4, base_s=0, max_s=0)


def test_post_retries_5xx_and_succeeds_with_the_same_key():
    s, waits = Scripted([500, 503, 200]), []
    out = deliver.post(s, REQ, FAST, on_retry=lambda a, r, w: waits.append((a, w)))
    assert out.ok and out.attempts == 3 and out.status == 200
    assert [c[2]["Idempotency-Key"] for c in s.calls] == ["k", "k", "k"] and waits == [(1, 0), (2, 0)]


def test_post_honours_retry_after():
    s, waits = Scripted([(429, "0"), 202]), []
    out = deliver.post(s, REQ, destinations.RetryPolicy(4, 50, 100), on_retry=lambda a, r, w: waits.append(w))
    assert out.ok and waits == [0.0]


def test_post_permanent_4xx_is_not_retried():
    s = Scripted([400])
    out = deliver.post(s, REQ, FAST)
    assert not out.ok and out.permanent and out.attempts == 1 and out.reason == "HTTP 400: body"


def test_post_gives_up_after_max_attempts_on_connection_errors():
    s = Scripted([requests.ConnectionError("http://127.0.0.1:1/x refused")] * 4)
    out = deliver.post(s, REQ, FAST)
    assert not out.ok and not out.permanent and out.attempts == 4 and out.status is None
    assert out.reason.startswith("gave up after 4 attempts; last: ConnectionError")


def test_post_stops_while_waiting_without_a_final_answer():
    s = Scripted([500, 200])
    out = deliver.post(s, REQ, destinations.RetryPolicy(4, 30, 60), stop=lambda: True)
    assert out.aborted and not out.ok and len(s.calls) == 1


# ---------------------------------------------------------------- tail
def test_tail_row_and_line():
    r = tail.row(alert(severity="critical"))
    assert r[0] == "2025-11-28 14:27:41" and "critical" in r[1] and "bold white on red" in r[1]
    assert r[2].startswith("AUTH-001") and r[3:6] == ("acme", "user alice", "7") and r[7] == "5"
    assert "evidence=5" in tail.line(alert())


def test_registry_outage_is_told_apart_from_a_bad_record():
    from confluent_kafka.schema_registry.common._httpx_compat import httpx
    from confluent_kafka.schema_registry.error import SchemaRegistryError
    from confluent_kafka.serialization import SerializationError

    from auditflow.alerts.router import _registry_outage

    assert _registry_outage(httpx.ConnectError("refused"))
    assert _registry_outage(SchemaRegistryError(503, 50301, "unavailable"))
    assert not _registry_outage(SchemaRegistryError(404, 40403, "schema not found"))
    assert not _registry_outage(SerializationError("Unexpected magic byte"))
