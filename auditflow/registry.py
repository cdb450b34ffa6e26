"""Thin layer over the Schema Registry (Confluent-compatible API; Apicurio locally)."""

from __future__ import annotations

import json
import secrets
import tomllib
from dataclasses import dataclass

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from auditflow import credentials, paths
from auditflow.config import Config, ConfigError
from auditflow.stack import tls
from udfs import wire

SCHEMAS = paths.SCHEMAS


def identity(cfg: Config, role: str) -> tuple[str, str]:
    """(client id, secret) of a role at the registry: its own ``[registry]`` credentials, else its
    role secret. A per-tenant role (``ingest:acme``) without its own shares one client per role
    (``ingest``): schemas are not per tenant, and the local realm is made before any tenant is known."""
    ident = credentials.identity(cfg, role)
    base, _, tenant = role.partition(":")
    if not tenant or "registry" in ident.per_service:
        return ident.at("registry")
    return shared_identity(cfg, base)


def shared_identity(cfg: Config, base: str) -> tuple[str, str]:
    """The one registry client of a per-tenant role, ``<credentials.dir>/registry-<role>.toml``."""
    path = credentials.directory(cfg) / f"registry-{base}.toml"
    if not path.exists() and cfg.get("credentials.generate"):
        tls.write_private(path, f'user = "{base}"\nsecret = "{secrets.token_urlsafe(24)}"\n'.encode())
    if not path.exists():
        raise ConfigError(f"no registry credentials for the tenants of role {base!r}: write {path} "
                          "(user, secret; mode 0600) or a [registry] table into each tenant's credentials")
    data = tomllib.loads(path.read_text())
    return str(data["user"]), str(data["secret"])


def client(cfg: Config, role: str) -> SchemaRegistryClient:
    """A registry client acting as ``role`` (HTTP Basic client id:secret, which the registry
    exchanges for an OIDC token), trusting ``tls.ca_file``."""
    reg = cfg.section("registry")
    user, secret = identity(cfg, role)
    # without a timeout the client (httpx) waits forever on a registry that stopped answering
    conf = {"url": reg["url"], "timeout": float(reg.get("timeout_s", 30)),
            "basic.auth.user.info": f"{user}:{secret}"}
    ca = tls.ca_file(cfg)
    if reg["url"].startswith("https:") and ca.exists():
        conf["ssl.ca.location"] = str(ca)
    return SchemaRegistryClient(conf)


def schema_id(cfg: Config, role: str, topic: str, name: str) -> int:
    """The id of schemas/<name>.avsc under `topic`'s subject, looked up as `role`, a reader: only
    schema-admin registers (`auditflow schemas register`, `register`), so a job or a producer
    never changes a contract by starting."""
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    subject = f"{topic}-value"
    try:
        return client(cfg, role).lookup_schema(subject, load_schema(name)).schema_id
    except SchemaRegistryError as exc:
        if exc.http_status_code != 404:
            raise
        raise ConfigError(
            f"the registry ({cfg.get('registry.url')}) holds no version of {subject} equal to "
            f"schemas/{name}.avsc ({exc.error_message}); a schema-admin registers it: `auditflow "
            "schemas register` for the standard topics (AUDITFLOW_SECRET_SCHEMA_ADMIN or its "
            "credentials file)") from exc


def register(cfg: Config, topic: str, name: str, role: str = "schema-admin") -> int:
    """Register schemas/<name>.avsc under `topic`'s subject (idempotent) as a registry admin: the
    standard subjects are `auditflow schemas register`'s; this is for a topic of one's own (an
    isolated run's, a test's)."""
    return client(cfg, role).register_schema(f"{topic}-value", load_schema(name))


def requests_kwargs(cfg: Config, role: str) -> dict:
    """``auth`` and ``verify`` for a plain ``requests`` call to the registry as ``role``."""
    ca = tls.ca_file(cfg)
    return {"auth": identity(cfg, role), "verify": str(ca) if ca.exists() else True}


def flink_options(cfg: Config, role: str, prefix: str = "value.avro-confluent.") -> dict[str, str]:
    """The ``avro-confluent`` format's registry options for a Flink table read as ``role``: URL,
    Basic credentials and, for the local CA, a Java truststore (the format takes no PEM file)."""
    user, secret = identity(cfg, role)
    opts = {"url": cfg.get("registry.url"), "basic-auth.credentials-source": "USER_INFO",
            "basic-auth.user-info": f"{user}:{secret}"}
    if cfg.get("registry.url").startswith("https:") and not cfg.get("tls.ca_file"):
        pki = tls.local_pki(cfg)
        opts["ssl.truststore.location"] = str(pki.truststore())
        opts["ssl.truststore.password"] = pki.store_password()
    return {prefix + k: v for k, v in opts.items()}


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

    def __init__(self, cfg: Config, reader_schema: str, role: str):
        registry = client(cfg, role)
        super().__init__(lambda schema_id: registry.get_schema(schema_id).schema_str,
                         reader=wire.plain_schema(json.loads(load_schema(reader_schema).schema_str)))
