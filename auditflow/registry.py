"""Thin layer over the Schema Registry (Confluent-compatible API; Apicurio locally)."""

from __future__ import annotations

import io
import json
import struct
from typing import Any

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from auditflow import paths
from auditflow.config import Config
from udfs import wire

SCHEMAS = paths.SCHEMAS


def client(cfg: Config) -> SchemaRegistryClient:
    reg = cfg.section("registry")
    # without a timeout the client (httpx) waits forever on a registry that stopped answering
    conf = {"url": reg["url"], "timeout": float(reg.get("timeout_s", 30))}
    if reg.get("username"):
        conf["basic.auth.user.info"] = f"{reg['username']}:{reg['password']}"
    return SchemaRegistryClient(conf)


def load_schema(name: str) -> Schema:
    """A schema from schemas/, e.g. load_schema('audit_event')."""
    return Schema((SCHEMAS / f"{name}.avsc").read_text(), schema_type="AVRO")


class Decoder:
    """Decodes Confluent-wire Avro with the writer's schema (fetched once per id from the
    registry) into the current schema in schemas/, so records written before a compatible
    change still read. Timestamps stay int millis, as they are hashed."""

    def __init__(self, cfg: Config, reader_schema: str):
        self.client = client(cfg)
        self.reader = wire.plain_schema(json.loads(load_schema(reader_schema).schema_str))
        self.writers: dict[int, Any] = {}

    def __call__(self, data: bytes) -> dict:
        if len(data) < 5 or data[0] != wire.MAGIC:
            raise ValueError("not in Confluent wire format (magic byte 0 + schema id)")
        (schema_id,) = struct.unpack(">I", data[1:5])
        if schema_id not in self.writers:
            self.writers[schema_id] = wire.plain_schema(
                json.loads(self.client.get_schema(schema_id).schema_str))
        return fastavro.schemaless_reader(io.BytesIO(data[5:]), self.writers[schema_id], self.reader)
