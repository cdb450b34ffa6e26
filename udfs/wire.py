"""Confluent Schema Registry wire format: magic byte 0, 4-byte big-endian schema id, Avro body.

Jobs register their schema once on the client side and hand the id to the workers, so the
workers encode with fastavro alone and never call the registry per record.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import fastavro

MAGIC = 0


def encode(schema_id: int, parsed_schema: Any, record: dict) -> bytes:
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", MAGIC, schema_id))
    fastavro.schemaless_writer(buf, parsed_schema, record)
    return buf.getvalue()


def _strip_logical(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_logical(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_strip_logical(v) for v in node]
    return node


def plain_schema(schema: dict) -> Any:
    """The schema without logical types, so timestamps read back as the int millis we hash."""
    return fastavro.parse_schema(_strip_logical(schema))


def decode(data: bytes, parsed_schema: Any) -> tuple[int, dict]:
    """Return (schema id, record), reading with parsed_schema as both writer and reader."""
    if len(data) < 5 or data[0] != MAGIC:
        raise ValueError("not in Confluent wire format (magic byte 0 + schema id)")
    (schema_id,) = struct.unpack(">I", data[1:5])
    return schema_id, fastavro.schemaless_reader(io.BytesIO(data[5:]), parsed_schema)
