"""Thin layer over the Schema Registry (Confluent-compatible API; Apicurio locally)."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Contract:
    """One Avro contract of schemas/subjects.toml: a schema file, its topic, its compatibility."""

    file: str
    topic: str
    compatibility: str

    @property
    def subject(self) -> str:          # TopicNameStrategy
        return f"{self.topic}-value"


def contracts() -> list[Contract]:
    data = tomllib.loads(paths.SUBJECTS_FILE.read_text())
    return [Contract(s["schema"], s["topic"], s["compatibility"]) for s in data["subject"]]


def load_schema(name: str) -> Schema:
    """A schema from schemas/, e.g. load_schema('audit_event')."""
    return Schema((SCHEMAS / f"{name}.avsc").read_text(), schema_type="AVRO")


class Decoder(wire.Decoder):
    """Confluent-wire Avro read into the current schema in schemas/ (``reader_schema``), each
    writer schema fetched once from the registry."""

    def __init__(self, cfg: Config, reader_schema: str):
        registry = client(cfg)
        super().__init__(lambda schema_id: registry.get_schema(schema_id).schema_str,
                         reader=wire.plain_schema(json.loads(load_schema(reader_schema).schema_str)))
