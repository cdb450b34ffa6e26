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
