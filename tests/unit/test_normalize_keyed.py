"""The keyed half never raises because of one event: what it cannot link or encode becomes a
dead letter, and the chain stays gap-free (issue 16: one record crash-looped the job)."""

from test_normalize import SETTINGS, load_schema, record

from udfs import chain, normalize, wire

LOGIN = b"<38>Nov 28 12:09:01 web1 sshd[4242]: Accepted password for alice from 8.8.8.8 port 5 ssh2"


def finish(norm: normalize.Normalizer, event: dict, state: dict | None):
    return norm.finish_encoded(event, user_versions=lambda _k: None, chain_state=state, watermark_ms=None)


def prepared(norm: normalize.Normalizer, offset: int) -> dict:
    kind, _tenant, event = norm.prepare(record(LOGIN, offset))
    assert kind == "event"
    return event


def test_an_event_the_schema_rejects_is_a_dead_letter_and_the_chain_skips_it():
    norm = normalize.Normalizer(SETTINGS)
    kind, first, state = finish(norm, prepared(norm, 1), None)
    assert kind == "event" and state["sequence"] == 1
    poison = prepared(norm, 2)
    poison["cloud"] = {"region": 0}  # a value Avro rejects: the shape of the CloudTrail crash
    kind, letter_bytes, none = finish(norm, poison, state)
    assert (kind, none) == ("dlq", None)
    schema_id, letter = wire.decode(letter_bytes, wire.plain_schema(load_schema("dead_letter")))
    assert schema_id == 8
    assert letter["error_class"].startswith("internal.")
    assert (letter["raw_topic"], letter["raw_partition"], letter["raw_offset"]) == \
        ("audit.raw.acme.syslog", 0, 2)
    assert letter["tenant_id"] == "acme" and letter["stage"] == "serialize"
    kind, third, state3 = finish(norm, prepared(norm, 3), state)
    assert kind == "event" and state3["sequence"] == 2
    events = [wire.decode(b, wire.plain_schema(load_schema("audit_event")))[1] for b in (first, third)]
    assert chain.verify_chain(events) is None


def test_an_event_over_the_kafka_record_limit_is_a_dead_letter_naming_its_size():
    norm = normalize.Normalizer({**SETTINGS, "max_record_bytes": normalize.RECORD_HEADROOM + 300})
    kind, letter_bytes, state = finish(norm, prepared(norm, 1), None)
    assert (kind, state) == ("dlq", None)
    letter = wire.decode(letter_bytes, wire.plain_schema(load_schema("dead_letter")))[1]
    assert letter["error_class"] == "normalize.oversize"
    assert "over the 300-byte limit" in letter["error_message"]
    assert letter["raw_offset"] == 1
