"""Thin layer over the Schema Registry (Confluent-compatible API; Apicurio locally)."""

from __future__ import annotations

from pathlib import Path

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from auditflow.config import Config

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


def client(cfg: Config) -> SchemaRegistryClient:
    reg = cfg.section("registry")
    conf = {"url": reg["url"]}
    if reg.get("username"):
        conf["basic.auth.user.info"] = f"{reg['username']}:{reg['password']}"
    return SchemaRegistryClient(conf)


def load_schema(name: str) -> Schema:
    """A schema from schemas/, e.g. load_schema('audit_event')."""
    return Schema((SCHEMAS / f"{name}.avsc").read_text(), schema_type="AVRO")
