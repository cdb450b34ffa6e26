"""The source families: the one list of them, and what the rest of the project needs to know.

A family's `name` is its `RawRecord.source`, the last segment of a tenant's raw topic and the
`auditflow ingest` format. Everything that lists the families derives from `FAMILIES`:

- udfs/parse: `PARSERS` (the module under udfs/parse named by `parser`), and `source_system`
  for `event_id` and `lineage.source_system`;
- udfs/normalize.py: `topic_tenant` (topic -> tenant), `raw_source` (topic -> family) and
  `source_system` for dead letters and filter notes;
- connectors/ingest/framing.py: `FORMATS`, `raw_topic`, `SOURCE_SYSTEM` and the framer of
  each format (`framing`, `framing_what`);
- jobs/normalize.py (the default `--raw-topic-pattern`), auditflow/demo.py and `auditflow
  tenants add` (a tenant's raw topics), auditflow/kafka.py (a tenant's write ACL).

Raw topics are bound to a tenant: `audit.raw.<tenant>.<source>`, optionally followed by more
segments (`audit.raw.acme.syslog.eu-west`, a test run's `audit.raw.acme.syslog.<run>`). The
tenant of a raw record is the one its topic names, and only that tenant's principal may write
there (one PREFIXED write ACL on `audit.raw.<tenant>.`), so no producer can choose another
tenant with a key or header. Tenant ids therefore hold no dot (the prefix of tenant `a` would
otherwise cover tenant `a.b`'s topics) and are not a family name (`audit.raw.syslog.x`, a shared
topic of the old layout, must not read as tenant `syslog`). A raw topic that names no tenant
(`audit.raw.syslog`) is not tenant-bound: the normalize job dead-letters its records.

No imports of the project here: the parsers, the connectors and the jobs all read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RAW_PREFIX = "audit.raw."


def source_system(name: str) -> str:
    """The lineage.source_system of a family; an unknown name stands for itself."""
    return SOURCE_SYSTEMS.get(name, name)


TENANT_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}"  # credentials.principal allows the same


class TenantError(ValueError):
    pass


def check_tenant(tenant: str) -> str:
    """`tenant` if it can name raw topics (see the module doc), else TenantError saying why."""
    if not re.fullmatch(TENANT_PATTERN, tenant or ""):
        raise TenantError(f"tenant {tenant!r}: 1-63 letters, digits, '_' or '-' (no '.'), "
                          "starting with a letter or digit")
    if tenant in BY_NAME:
        raise TenantError(f"tenant {tenant!r}: a source family's name cannot be a tenant id")
    return tenant


def raw_topic(tenant: str, name: str, *more: str) -> str:
    """The raw topic of one tenant and family (the format need not be known):
    `audit.raw.<tenant>.<name>[.<more>...]`."""
    return ".".join((RAW_PREFIX + check_tenant(tenant), name, *more))


def tenant_prefix(tenant: str) -> str:
    """What all of a tenant's raw topics, and no other tenant's, start with."""
    return f"{RAW_PREFIX}{check_tenant(tenant)}."


def tenant_topics(tenant: str, *more: str) -> tuple[str, ...]:
    """A tenant's raw topic of every family (`more`: extra segments, e.g. a test run's id)."""
    return tuple(raw_topic(tenant, f.name, *more) for f in FAMILIES)


def tenant_write_acls(tenant: str) -> tuple[tuple[str, str], ...]:
    """The Kafka topic ACL patterns `ingest:<tenant>` needs WRITE (and DESCRIBE) on, as
    (pattern type, resource name): one PREFIXED pattern covering exactly its raw topics."""
    return (("PREFIXED", tenant_prefix(tenant)),)


def topic_tenant(topic: str) -> str | None:
    """The tenant a raw topic is bound to, None when it names none (not a raw topic, the old
    shared `audit.raw.<source>[.<more>]`, or a first segment that is no valid tenant id)."""
    if not topic.startswith(RAW_PREFIX):
        return None
    first, dot, rest = topic[len(RAW_PREFIX):].partition(".")
    if not dot or not rest.split(".")[0] or first in BY_NAME or not re.fullmatch(TENANT_PATTERN, first):
        return None
    return first


def raw_source(topic: str) -> str:
    """The source family of a raw topic: the segment after the tenant (`audit.raw.acme.syslog`,
    more segments may follow), or after `audit.raw.` on a topic that is not tenant-bound. Any
    other topic name is returned as it is."""
    if not topic.startswith(RAW_PREFIX):
        return topic
    segments = topic[len(RAW_PREFIX):].split(".")
    return segments[1] if topic_tenant(topic) else segments[0]


def raw_topic_pattern(*more: str) -> str:
    """The regular expression (Java syntax, for the Kafka source's `topic-pattern`) of every
    tenant's raw topics: `audit.raw.<tenant>.<source>`, followed exactly by `more` segments
    (a test run's own topics), so a tenant added later is subscribed to without a restart.
    Records of a matching topic that is not tenant-bound are dead-lettered, not dropped."""
    segment = r"[A-Za-z0-9_-]+"
    return r"\.".join([re.escape(RAW_PREFIX.rstrip(".")), segment, segment, *map(re.escape, more)])


@dataclass(frozen=True, slots=True)
class Family:
    name: str           # RawRecord.source, the raw topic suffix, the ingest format
    source_system: str  # lineage.source_system and DeadLetter.source (schemas/README.md)
    parser: str         # its parser, udfs/parse/<parser>.py (`parse(record) -> event dict`)
    framing: str        # how ingest cuts input into records: line | json | cloudtrail | auditd
    framing_what: str = ""  # json framing: what one line holds, for reject messages


FAMILIES: tuple[Family, ...] = (
    Family("syslog", "syslog", "syslog", "line"),
    Family("cloudtrail", "cloudtrail", "cloudtrail", "cloudtrail"),
    Family("k8s-audit", "k8s_audit", "k8s_audit", "json", "audit.k8s.io/v1 Event JSON object"),
    Family("auditd", "auditd", "auditd", "auditd"),
    Family("app", "app_json", "app", "json", "app event JSON object"),
    Family("debezium", "debezium", "debezium", "json", "debezium event JSON object"),
)
BY_NAME: dict[str, Family] = {f.name: f for f in FAMILIES}
NAMES: tuple[str, ...] = tuple(BY_NAME)
# name -> lineage.source_system
SOURCE_SYSTEMS: dict[str, str] = {f.name: f.source_system for f in FAMILIES}
