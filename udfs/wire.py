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


Mark = Callable[[Any], Any]


def _branch_marks(schema: Any, named: dict[str, Any], seen: frozenset = frozenset()) -> Mark | None:
    """A function that copies a datum of `schema`, naming the branch of every union that holds
    a record, array or map in fastavro's tuple notation ``(name, value)``; None when nothing
    at or below `schema` needs it. Without the name fastavro picks such a branch by validating
    the whole value against it, again at every level of nesting: most of an event's encoding
    time. The bytes written are the same."""
    if isinstance(schema, str):
        if schema in named and schema not in seen:
            return _branch_marks(named[schema], named, seen | {schema})
        return None
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        if len(branches) != 1 or len(branches) == len(schema):
            return None  # only the common ["null", X] is marked; fastavro resolves the rest
        branch = named.get(branches[0], branches[0]) if isinstance(branches[0], str) else branches[0]
        if not isinstance(branch, dict) or branch.get("type") not in ("record", "array", "map"):
            return None
        name = branch["name"] if branch["type"] == "record" else branch["type"]
        inner = _branch_marks(branches[0], named, seen)
        if inner is None:
            return lambda v: None if v is None else (name, v)
        return lambda v: None if v is None else (name, inner(v))
    if not isinstance(schema, dict):
        return None
    kind = schema.get("type")
    if kind == "record":
        fields = [(f["name"], m) for f in schema["fields"]
                  if (m := _branch_marks(f["type"], named, seen | {schema["name"]})) is not None]
        if not fields:
            return None

        def record(v: Any) -> Any:
            out = dict(v)
            for fname, mark in fields:
                if fname in v:
                    out[fname] = mark(v[fname])
            return out
        return record
    if kind == "array":
        items = _branch_marks(schema["items"], named, seen)
        return None if items is None else (lambda v: [items(x) for x in v])
    if kind == "map":
        values = _branch_marks(schema["values"], named, seen)
        return None if values is None else (lambda v: {k: values(x) for k, x in v.items()})
    if isinstance(kind, dict | list) or kind in named:  # {"type": <nested schema or a name>}
        return _branch_marks(kind, named, seen)
    return None


class Encoder:
    """Confluent-wire Avro encoding of records of one schema: `Encoder(id, schema)(record)` gives
    the bytes `encode(id, plain_schema(schema), record)` gives, faster for nested records."""

    def __init__(self, schema_id: int, schema: dict):
        named: dict[str, Any] = {}  # fastavro fills it: every named type by its full name
        self.parsed = plain_schema(schema, named)
        self.header = struct.pack(">bI", MAGIC, schema_id)
        self.mark = _branch_marks(self.parsed, named) or (lambda v: v)

    def __call__(self, record: dict) -> bytes:
        buf = io.BytesIO()
        buf.write(self.header)
        fastavro.schemaless_writer(buf, self.parsed, self.mark(record))
        return buf.getvalue()


def _strip_logical(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_logical(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_strip_logical(v) for v in node]
    return node


def plain_schema(schema: dict, named_schemas: dict[str, Any] | None = None) -> Any:
    """The schema without logical types, so timestamps read back as the int millis we hash."""
    return fastavro.parse_schema(_strip_logical(schema), named_schemas)


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
