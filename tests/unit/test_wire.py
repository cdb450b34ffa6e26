import json
from pathlib import Path

import fastavro
import pytest

from udfs import wire

RAW = json.loads((Path(__file__).parents[2] / "schemas" / "dead_letter.avsc").read_text())
SCHEMA = fastavro.parse_schema(RAW)


def test_round_trip_keeps_id_and_record():
    record = {"source": "syslog", "raw": b"<13>bad", "error_class": "syslog.unframed",
              "error_message": "no PRI", "raw_topic": "audit.raw.syslog", "raw_partition": 0,
              "raw_offset": 7, "time": 1_700_000_000_000, "job_name": "normalize"}
    data = wire.encode(42, SCHEMA, record)
    assert data[:5] == b"\x00\x00\x00\x00\x2a"
    schema_id, back = wire.decode(data, wire.plain_schema(RAW))
    assert schema_id == 42
    assert {k: back[k] for k in record} == record


def test_foreign_bytes_are_refused():
    with pytest.raises(ValueError, match="wire format"):
        wire.decode(b"{}", SCHEMA)


def test_encoder_writes_the_bytes_fastavro_writes_for_every_family_and_dead_letters():
    """wire.Encoder names union branches for fastavro; the bytes must not change."""
    import json
    from pathlib import Path

    from auditflow import paths
    from udfs import normalize, sources

    schemas = {k: json.loads((paths.SCHEMAS / f"{n}.avsc").read_text())
               for k, n in (("event", "audit_event"), ("dlq", "dead_letter"))}
    ids = {"event": 7, "dlq": 8}
    norm = normalize.Normalizer({"schema_ids": ids, "schemas": schemas, "normalize": {"keep_raw": True},
                                 "mask": {"hmac_key_env": "NO_SUCH_VARIABLE"}})
    plain = {k: wire.plain_schema(s) for k, s in schemas.items()}
    encoders = {"event": wire.Encoder(7, schemas["event"]), "dlq": wire.Encoder(8, schemas["dlq"])}
    fixtures = Path(__file__).parents[1] / "fixtures" / "parse"
    files = {"syslog": "syslog.log", "cloudtrail": "cloudtrail.jsonl", "k8s-audit": "k8s-audit.jsonl",
             "auditd": "auditd.log", "app": "app.jsonl", "debezium": "debezium.jsonl"}
    seen = {"event": 0, "dlq": 0}
    for family, name in files.items():
        for offset, line in enumerate((fixtures / name).read_bytes().splitlines()):
            rec = normalize.raw_record(topic=sources.raw_topic("acme", family), partition=1, offset=offset,
                                       key=b"acme", value=line, timestamp_ms=1_795_868_000_000, headers={})
            kind, _tenant, payload = norm.prepare(rec)
            if kind == "event":
                payload, _ = norm.finish(payload, user_versions=lambda _k: None, chain_state=None,
                                         watermark_ms=None)
            if kind in encoders:
                expected = wire.encode(ids[kind], plain[kind], payload)
                assert encoders[kind](payload) == expected, (family, offset)
                seen[kind] += 1
    assert seen["event"] > 50 and seen["dlq"] > 0, seen
