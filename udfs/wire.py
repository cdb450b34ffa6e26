"""Confluent Schema Registry wire format: magic byte 0, 4-byte big-endian schema id, Avro body.

Jobs register their schema once on the client side and hand the id to the workers, so the
workers encode with fastavro alone and never call the registry per record.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable
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


def split(data: bytes, what: str = "value") -> tuple[int, bytes]:
    """(schema id, Avro body) of one Confluent-wire message."""
    if len(data) < 5 or data[0] != MAGIC:
        raise ValueError(f"{what} is not in Confluent wire format (magic byte 0 + schema id)")
    (schema_id,) = struct.unpack(">I", data[1:5])
    return schema_id, data[5:]


def decode(data: bytes, parsed_schema: Any) -> tuple[int, dict]:
    """Return (schema id, record), reading with parsed_schema as both writer and reader."""
    schema_id, body = split(data)
    return schema_id, fastavro.schemaless_reader(io.BytesIO(body), parsed_schema)


class Decoder:
    """Confluent-wire Avro -> dict with each message's own writer schema, fetched once per id
    (``fetch_schema(id)`` returns its JSON text), read into ``reader`` when given so records
    written before a compatible change still read. Timestamps stay int millis, as they are
    hashed. ``check_writer(id, schema)`` may refuse a writer schema before it is used."""

    def __init__(self, fetch_schema: Callable[[int], str], reader: Any = None,
                 check_writer: Callable[[int, dict], None] | None = None, what: str = "value"):
        self.fetch, self.reader, self.check, self.what = fetch_schema, reader, check_writer, what
        self.writers: dict[int, Any] = {}

    def __call__(self, data: bytes) -> dict:
        schema_id, body = split(data, self.what)
        if schema_id not in self.writers:
            writer = json.loads(self.fetch(schema_id))
            if self.check:
                self.check(schema_id, writer)
            self.writers[schema_id] = plain_schema(writer)
        return fastavro.schemaless_reader(io.BytesIO(body), self.writers[schema_id], self.reader)
