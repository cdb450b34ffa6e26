"""The ingest adapters (connectors/ingest/) wired to the configuration.

connectors.ingest imports nothing from auditflow: it takes its Kafka settings and registry from
the caller. `clients` builds them from a Config, for `auditflow ingest` and the demo replay, and
`check_topics` is the check `auditflow ingest` makes before it reads anything.
"""

from __future__ import annotations

from confluent_kafka import KafkaException

from auditflow import kafka
from auditflow.config import Config, ConfigError
from connectors.ingest.producer import Clients, IngestError, Serializer, message_max_bytes
from udfs.validate import Limits


def clients(cfg: Config, tenant: str) -> Clients:
    """Producer settings from :func:`auditflow.kafka.producer_conf` (acks=all, idempotence, zstd),
    the DeadLetter serializer (schemas/dead_letter.avsc, which a schema-admin registered) and the largest
    record (``limits.max_bytes``, the limit the normalize job checks too). The producer acts as
    the tenant's ingest role (``ingest:<tenant>``), which may write only that tenant's input."""

    def dead_letter_serializer() -> Serializer:
        from confluent_kafka.schema_registry.avro import AvroSerializer

        from auditflow import registry

        return AvroSerializer(
            registry.client(cfg, f"ingest:{tenant}"), registry.load_schema("dead_letter").schema_str,
            # looked up, not registered: only schema-admin registers (registry.schema_id)
            conf={"auto.register.schemas": False, "use.latest.version": False},
        )

    max_bytes = Limits.from_config(cfg.values.get("limits")).max_bytes
    if int(cfg.get("kafka.max_record_bytes")) < message_max_bytes(max_bytes):
        raise ConfigError(
            f"kafka.max_record_bytes ({cfg.get('kafka.max_record_bytes')}) must be at least"
            f" limits.max_bytes + 64 KiB ({message_max_bytes(max_bytes)}): topics would refuse a raw"
            " record the pipeline accepts")
    return Clients(
        producer_conf=kafka.producer_conf(cfg, f"ingest:{tenant}"),
        dead_letter_serializer=dead_letter_serializer,
        bootstrap_servers=cfg.get("kafka.bootstrap_servers"),
        registry_url=cfg.get("registry.url"),
        max_bytes=max_bytes,
    )


def check_topics(cfg: Config, topics: list[str], tenant: str, timeout_s: float = 10) -> None:
    try:
        existing = kafka.admin(cfg, f"ingest:{tenant}", timeout_s).list_topics(timeout=timeout_s).topics
    except KafkaException as exc:
        raise IngestError(
            f"Kafka at {cfg.get('kafka.bootstrap_servers')} is not reachable ({exc}); start it "
            "with `auditflow stack up` or set kafka.bootstrap_servers"
        ) from exc
    missing = [t for t in topics if t not in existing]
    if missing:
        raise IngestError(
            f"topic(s) {', '.join(missing)} do not exist on {cfg.get('kafka.bootstrap_servers')} or tenant "
            f"{tenant} may not write them (ACLs: auditflow.kafka.tenant_acls); "
            "create them with `auditflow tenants add <tenant>` (raw) or `auditflow topics apply`"
        )
