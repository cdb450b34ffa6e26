"""Thin layer over confluent-kafka: client settings from the config, and declarative topics."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from auditflow.config import Config

DEFAULT_TOPICS_FILE = Path(__file__).parent / "stack" / "topics.toml"


def client_conf(cfg: Config, **extra: Any) -> dict[str, Any]:
    kafka = cfg.section("kafka")
    return {"bootstrap.servers": kafka["bootstrap_servers"], **kafka.get("client", {}), **extra}


def producer_conf(cfg: Config, **extra: Any) -> dict[str, Any]:
    """Producers never lose or duplicate on retry: acks=all plus idempotence."""
    return client_conf(
        cfg, **{"acks": "all", "enable.idempotence": True, "compression.type": "zstd", **extra}
    )


def admin(cfg: Config, timeout_s: float = 10) -> AdminClient:
    return AdminClient(client_conf(cfg, **{"socket.timeout.ms": int(timeout_s * 1000)}))


def reachable(cfg: Config, timeout_s: float = 3) -> bool:
    try:
        admin(cfg, timeout_s).list_topics(timeout=timeout_s)
        return True
    except KafkaException:
        return False


@dataclass
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


def load_topics(path: Path | None = None) -> list[TopicSpec]:
    with (path or DEFAULT_TOPICS_FILE).open("rb") as fh:
        data = tomllib.load(fh)
    defaults = data.get("defaults", {})
    specs = []
    for topic in data.get("topic", []):
        specs.append(TopicSpec(
            name=topic["name"],
            partitions=int(topic.get("partitions", defaults.get("partitions", 1))),
            replication_factor=int(
                topic.get("replication_factor", defaults.get("replication_factor", 1))
            ),
            config={**defaults.get("config", {}), **topic.get("config", {})},
        ))
    return specs


def apply_topics(cfg: Config, specs: list[TopicSpec], timeout_s: float = 30) -> list[str]:
    """Create missing topics, grow partitions, set configs. Returns what changed, in words."""
    client = admin(cfg)
    existing = client.list_topics(timeout=timeout_s).topics
    changes: list[str] = []
    new = [
        NewTopic(s.name, s.partitions, s.replication_factor, config=s.config)
        for s in specs if s.name not in existing
    ]
    for name, fut in (client.create_topics(new, request_timeout=timeout_s) if new else {}).items():
        fut.result()
        changes.append(f"created {name}")
    grow = [
        NewPartitions(s.name, s.partitions) for s in specs
        if s.name in existing and len(existing[s.name].partitions) < s.partitions
    ]
    for name, fut in (client.create_partitions(grow) if grow else {}).items():
        fut.result()
        changes.append(f"grew {name}")
    resources = [
        ConfigResource(
            ConfigResource.Type.TOPIC, s.name,
            incremental_configs=[
                ConfigEntry(k, str(v), incremental_operation=AlterConfigOpType.SET)
                for k, v in s.config.items()
            ],
        )
        for s in specs if s.name in existing
    ]
    for res, fut in (client.incremental_alter_configs(resources) if resources else {}).items():
        fut.result()
        changes.append(f"configured {res.name}")
    return changes
