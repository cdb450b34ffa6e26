"""Tenants: what onboarding one means. A tenant's raw input goes to its own raw topics,
`audit.raw.<tenant>.<source>` (udfs/sources.py), which only its principal (`ingest:<tenant>`)
may write, so the broker, not a producer, decides whose a raw record is. `add` creates the
topics (settings of the `[raw]` table of schemas/topics.toml) and, where the Kafka support
provides it (`kafka.provision_tenant`), the tenant's user and write ACL; the normalize job
subscribes by pattern and picks the new topics up within `normalize.topic_discovery_s`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from auditflow import kafka
from auditflow.config import Config
from udfs import sources


def _topics_file(cfg: Config | None) -> Path:
    path = cfg.get("kafka.topics_file") if cfg is not None else ""
    return Path(path) if path else kafka.DEFAULT_TOPICS_FILE


def raw_template(path: Path | None = None) -> kafka.TopicSpec:
    """Partitions, replication and config of every raw topic: the file's `[raw]` table over its
    `[defaults]` (the name is left empty)."""
    with (path or kafka.DEFAULT_TOPICS_FILE).open("rb") as fh:
        data = tomllib.load(fh)
    defaults, raw = data.get("defaults", {}), data.get("raw", {})
    return kafka.TopicSpec(
        name="", partitions=int(raw.get("partitions", defaults.get("partitions", 1))),
        replication_factor=int(raw.get("replication_factor", defaults.get("replication_factor", 1))),
        config={**defaults.get("config", {}), **raw.get("config", {})})


def topic_specs(tenant: str, *more: str, path: Path | None = None) -> list[kafka.TopicSpec]:
    """A tenant's raw topic of every source family (`more`: extra name segments, e.g. a run)."""
    template = raw_template(path)
    return [kafka.TopicSpec(t, template.partitions, template.replication_factor, dict(template.config))
            for t in sources.tenant_topics(tenant, *more)]


def add(cfg: Config, tenant: str) -> list[str]:
    """Create the tenant's raw topics, its Kafka user and its write ACLs (idempotent). Returns
    what changed, in words."""
    sources.check_tenant(tenant)
    changes = kafka.apply_topics(cfg, topic_specs(tenant, path=_topics_file(cfg)))
    kafka.provision_tenant(cfg, tenant)  # SCRAM user + udfs.sources.tenant_write_acls
    changes.append(f"provisioned Kafka user and ACLs of ingest:{tenant}")
    return changes


def existing(cfg: Config) -> dict[str, list[str]]:
    """Tenant -> its raw topics, as the cluster has them."""
    out: dict[str, list[str]] = {}
    for topic in kafka.admin(cfg).list_topics(timeout=10).topics:
        if (tenant := sources.topic_tenant(topic)) is not None:
            out.setdefault(tenant, []).append(topic)
    return {t: sorted(v) for t, v in sorted(out.items())}
