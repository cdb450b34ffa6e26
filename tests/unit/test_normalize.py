"""The normalize pipeline's plain functions end to end, without Flink or Kafka."""

import json
from pathlib import Path

import fastavro

from auditflow import paths
from udfs import chain, normalize, users, wire


def load_schema(name: str) -> dict:
    return json.loads((paths.SCHEMAS / f"{name}.avsc").read_text())


FIXTURES = Path(__file__).parents[1] / "fixtures" / "parse"
# what jobs/normalize.py `job_settings` hands the workers, without the registry
SETTINGS = {"schema_ids": {"event": 7, "dlq": 8},
            "schemas": {"event": load_schema("audit_event"), "dlq": load_schema("dead_letter")},
            "normalize": {"keep_raw": True}, "mask": {"hmac_key_env": "NO_SUCH_VARIABLE"}}
EVENT_SCHEMA = fastavro.parse_schema(load_schema("audit_event"))


def record(line: bytes, offset: int, key: bytes | None = b"acme", topic="audit.raw.acme.syslog",
           headers: dict[str, bytes] | None = None):
    return normalize.raw_record(topic=topic, partition=0, offset=offset, key=key, value=line,
                                timestamp_ms=1_795_868_000_000,
                                headers={"file": b"auth.log", **(headers or {})})


def run(records, directory=None):
    norm = normalize.Normalizer(SETTINGS)
    state, out = None, []
    for rec in records:
        kind, tenant, payload = norm.prepare(rec)
        if kind == "event":
            payload, state = norm.finish(payload, user_versions=lambda k: (directory or {}).get(k),
                                         chain_state=state, watermark_ms=None)
        out.append((kind, tenant, payload, norm.encode(kind, payload)))
    return out


def test_every_syslog_line_ends_in_exactly_one_place_and_the_chain_verifies():
    lines = [ln for ln in (FIXTURES / "syslog.log").read_bytes().splitlines() if ln.strip()]
    out = run([record(ln, i) for i, ln in enumerate(lines)] + [record(b"", 999)])
    assert len(out) == len(lines) + 1
    kinds = [k for k, *_ in out]
    assert kinds[-1] == "dlq" and set(kinds) <= {"event", "dlq", "filtered"}
    events = [p for k, _t, p, _b in out if k == "event"]
    assert events and chain.verify_chain(events) is None
    assert [e["chain"]["sequence"] for e in events] == list(range(1, len(events) + 1))
    for event in events:
        fastavro.validation.validate(event, EVENT_SCHEMA, raise_errors=True)
        assert event["lineage"]["job_name"] == normalize.JOB_NAME


def test_events_are_masked_and_geo_enriched_and_encoded_for_the_registry():
    login = b"<38>Nov 28 12:09:01 web1 sshd[4242]: Accepted password for alice from 8.8.8.8 port 5 ssh2"
    note = b"<14>Nov 28 12:09:03 web1 billing: refund card 4111 1111 1111 1111 to bob@example.com"
    (kind, tenant, event, data), (_k, _t, noted, _d) = run([record(login, 1), record(note, 2)])
    assert (kind, tenant) == ("event", "acme")
    assert event["enrichment"]["geo"]["country"] == "US"
    text = json.dumps(noted)
    assert "4111 1111 1111 1111" not in text and "bob@example.com" not in text
    assert "411111******1111" in noted["message"]
    schema_id, back = wire.decode(data, wire.plain_schema(load_schema("audit_event")))
    assert schema_id == 7 and back["chain"] == event["chain"]


def test_user_profile_valid_at_event_time_and_unknown_users_are_flagged():
    alice = users.UserVersion(uid="alice", name="alice", department="Payments", privileged=True,
                              valid_from=0)
    key, value = users.encode_record("alice", [alice])
    directory = {k: v for k, v in normalize.directory_entries(key, value).items()}
    lines = [b"<38>Nov 28 12:09:01 web1 sshd[1]: Accepted password for alice from 10.0.0.1 port 1 ssh2",
             b"<38>Nov 28 12:09:02 web1 sshd[2]: Accepted password for mallory from 10.0.0.1 port 1 ssh2"]
    out = run([record(ln, i) for i, ln in enumerate(lines)], directory)
    profiles = [p["enrichment"]["user"] for _k, _t, p, _b in out]
    assert profiles[0]["known"] is True and profiles[0]["department"] == "Payments"
    assert profiles[1]["known"] is False
    assert out[0][2]["enrichment"]["geo"]["is_private"] is True


def test_bad_input_becomes_a_dead_letter_with_its_reason_and_raw_bytes():
    [(kind, tenant, letter, data)] = run([record(b"{not json", 5, topic="audit.raw.acme.cloudtrail")])
    assert kind == "dlq" and tenant == "acme"
    assert letter["raw"] == b"{not json" and letter["error_class"]
    assert letter["raw_topic"] == "audit.raw.acme.cloudtrail" and letter["raw_offset"] == 5
    assert wire.decode(data, wire.plain_schema(load_schema("dead_letter")))[0] == 8


def test_tenant_comes_from_the_topic_not_the_key_or_a_header():
    # a Kafka Connect source (Debezium) keeps the row's primary key as the Kafka key and writes
    # to its tenant's topic (connectors/debezium-postgres.json)
    connect = normalize.raw_record(topic="audit.raw.acme.debezium", partition=0, offset=0, key=b'{"id":1}',
                                   value=b"{}", timestamp_ms=0, headers={"source": b"x"})
    assert (connect.tenant_id, connect.source) == ("acme", "debezium")
    assert record(b"x", 0, key=b"globex").tenant_id == "acme"
    assert record(b"x", 0, key=None, headers={"tenant": b"globex"}).tenant_id == "acme"
    assert record(b"x", 0, topic="audit.raw.syslog").tenant_id is None


def test_a_spoofed_tenant_header_is_a_dead_letter_of_the_topics_tenant():
    line = (FIXTURES / "syslog.log").read_bytes().splitlines()[0]
    [(kind, tenant, letter, _data)] = run([record(line, 3, headers={"tenant": b"globex"})])
    assert (kind, tenant) == ("dlq", "acme")
    assert letter["error_class"] == "tenant.mismatch" and letter["tenant_id"] == "acme"
    assert "globex" in letter["error_message"] and letter["raw"] == line and letter["raw_offset"] == 3
    # the key is no claim (a Connect source's row key), and a header naming the topic's tenant agrees
    [(kind, tenant, event, _)] = run([record(line, 4, key=b"globex", headers={"tenant": b"acme"})])
    assert (kind, tenant, event["tenant_id"]) == ("event", "acme", "acme")


def test_a_record_on_a_topic_bound_to_no_tenant_is_a_dead_letter():
    line = (FIXTURES / "syslog.log").read_bytes().splitlines()[0]
    for topic in ("audit.raw.syslog", "audit.raw.syslog.eu-west"):  # the old shared topics
        [(kind, tenant, letter, _)] = run([record(line, 0, topic=topic, headers={"tenant": b"acme"})])
        assert (kind, tenant, letter["error_class"], letter["tenant_id"]) == \
            ("dlq", "", "tenant.unbound_topic", None)
        assert letter["source"] == "syslog" and letter["raw_topic"] == topic
