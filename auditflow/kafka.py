"""Thin layer over confluent-kafka: client settings from the config, and declarative topics."""

from __future__ import annotations

import time
import tomllib
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from auditflow import credentials, paths
from auditflow.config import Config
from auditflow.stack import tls

DEFAULT_TOPICS_FILE = paths.TOPICS_FILE


def client_conf(cfg: Config, role: str, **extra: Any) -> dict[str, Any]:
    """librdkafka settings of a client acting as `role` (auditflow/roles.toml): SASL
    SCRAM-SHA-512 with the role's Kafka credentials over TLS trusting ``tls.ca_file``;
    ``kafka.client`` adds or overrides settings (a managed cluster's own)."""
    kafka = cfg.section("kafka")
    user, secret = credentials.identity(cfg, role).at("kafka")
    return {"bootstrap.servers": kafka["bootstrap_servers"], "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": user, "sasl.password": secret,
            "ssl.ca.location": str(tls.ca_file(cfg)), **kafka.get("client", {}), **extra}


SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
# flink-sql-connector-kafka shades the Kafka client, and with it the login module's class name
FLINK_SCRAM_MODULE = "org.apache.flink.kafka.shaded." + SCRAM_MODULE


def _jaas(cfg: Config, role: str, module: str) -> str:
    user, secret = credentials.identity(cfg, role).at("kafka")
    return f'{module} required username="{user}" password="{secret}";'


def flink_options(cfg: Config, role: str) -> dict[str, str]:
    """The security settings as Flink Kafka connector options (``properties.*``) of a table
    acting as `role` (the bootstrap servers are set beside them). The JAAS line holds the
    secret, so these go only into DDL executed in the job's client process, never argv."""
    return {"properties.security.protocol": "SASL_SSL", "properties.sasl.mechanism": "SCRAM-SHA-512",
            "properties.sasl.jaas.config": _jaas(cfg, role, FLINK_SCRAM_MODULE),
            "properties.ssl.truststore.type": "PEM",
            "properties.ssl.truststore.location": str(tls.ca_file(cfg))}


def java_properties(cfg: Config, role: str) -> dict[str, str]:
    """The same settings for a plain Java client (Kafka Connect's worker, producer, consumer)."""
    return {"bootstrap.servers": cfg.get("kafka.bootstrap_servers"), "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512", "sasl.jaas.config": _jaas(cfg, role, SCRAM_MODULE),
            "ssl.truststore.type": "PEM", "ssl.truststore.location": str(tls.ca_file(cfg))}


def sql_options(options: dict[str, str]) -> str:
    """Connector options as lines of a CREATE TABLE ... WITH (...), quotes escaped."""
    return ",\n    ".join(f"'{k}' = '{v.replace(chr(39), chr(39) * 2)}'" for k, v in options.items())


def flink_sql(cfg: Config, role: str) -> str:
    """`flink_options` for the ``${kafka_security}`` placeholder of the sql/ddl templates."""
    return sql_options(flink_options(cfg, role))


def producer_conf(cfg: Config, role: str, **extra: Any) -> dict[str, Any]:
    """Producers never lose or duplicate on retry: acks=all plus idempotence; requests as large
    as the largest record the topics accept (kafka.max_record_bytes)."""
    return client_conf(
        cfg, role, **{"acks": "all", "enable.idempotence": True, "compression.type": "zstd",
                      "message.max.bytes": int(cfg.get("kafka.max_record_bytes")), **extra}
    )


def admin(cfg: Config, role: str = "admin", timeout_s: float = 10) -> AdminClient:
    return AdminClient(client_conf(cfg, role, **{"socket.timeout.ms": int(timeout_s * 1000)}))


def reachable(cfg: Config, role: str = "admin", timeout_s: float = 3) -> bool:
    try:
        admin(cfg, role, timeout_s).list_topics(timeout=timeout_s)
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


def apply_topics(cfg: Config, specs: list[TopicSpec], timeout_s: float = 30,
                 role: str = "admin") -> list[str]:
    """Create missing topics, grow partitions, set configs (as `role`: the admin, or the
    operator). Returns what changed, in words."""
    client = admin(cfg, role)
    existing = client.list_topics(timeout=timeout_s).topics
    # one record size limit for every topic unless a topic sets its own
    limit = {"max.message.bytes": str(cfg.get("kafka.max_record_bytes"))}
    specs = [replace(s, config={**limit, **s.config}) for s in specs]
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


class TopicMissing(KafkaException):
    """The topic does not exist (yet)."""


def read_spans(consumer: Consumer, topic: str, last: int | None = None) -> dict[int, tuple[int, int]]:
    """Per partition of `topic`, where a read of it starts (the beginning, or `last` offsets
    before the end) and the end it must reach. Raises if the topic does not exist."""
    meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
    if meta is None or meta.error is not None or not meta.partitions:
        raise TopicMissing(f"topic {topic!r} does not exist; create it with `auditflow topics apply`")
    spans = {}
    for p in meta.partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        spans[p] = (low if last is None else max(low, high - last), high)
    return spans


def drop_caught_up(consumer: Consumer, topic: str, ends: dict[int, int]) -> None:
    """Remove from `ends` the partitions whose position has reached their end. The position, not
    the last record's offset: it also steps over transaction markers, which are never delivered."""
    for tp in consumer.position([TopicPartition(topic, p) for p in list(ends)]):
        if tp.offset >= ends[tp.partition]:
            del ends[tp.partition]


def reached_end(consumer: Consumer, topic: str, partitions: set[int], reset: str) -> set[int]:
    """Those of a subscribed consumer's `partitions` whose next read starts at or past the
    partition's current end: from its position once it has read something, else from the
    group's committed offset, else from where auto.offset.reset (`reset`) starts. A check that
    does not rely on partition-EOF events arriving."""
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    position = {tp.partition: tp.offset for tp in consumer.position(tps)}
    committed = {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=10)}
    done = set()
    for p in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        start = low if reset in ("earliest", "smallest", "beginning") else high
        nxt = position[p] if position[p] >= 0 else committed[p] if committed[p] >= 0 else start
        if nxt >= high:
            done.add(p)
    return done


def reader(cfg: Config, role: str, group_id: str | None = None) -> Consumer:
    """A read_committed consumer that commits nothing by itself, in a throwaway group unless
    `group_id` names one (whose committed offsets the caller commits)."""
    return Consumer(client_conf(cfg, role, **{
        "group.id": group_id or f"{reader_group(cfg, role)}{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "isolation.level": "read_committed", "auto.offset.reset": "earliest",
        "enable.partition.eof": False}))


def read_topic(cfg: Config, topic: str, idle_s: float = 5.0, say=None, last: int | None = None, *,
               role: str, strict: bool = False, follow: bool = False,
               on_end: Callable[[], None] | None = None, stop: Callable[[], bool] = lambda: False,
               timeout_s: float | None = None,
               ) -> Iterator[Message]:
    """Every committed record of `topic` from the beginning (or the `last` offsets of each
    partition) to its current end, then stop; with `follow`, go on with new records until
    `stop()` (or `timeout_s`). `on_end()` is called once the end is reached.

    read_committed, so aborted transactions never show, and the end of a partition is its last
    stable offset (a transaction still open is not waited for): a partition is done when the
    consumer's position reaches it, which also steps over transaction markers. A partition that
    makes no progress towards its end for `idle_s` is reported through `say` and not waited on,
    or, `strict`, raises: a caller that must have every record (the router's delivered log)."""
    consumer = reader(cfg, role)
    try:
        spans = read_spans(consumer, topic, last)
        ends = {p: high for p, (start, high) in spans.items() if high > start}
        consumer.assign([TopicPartition(topic, p, start) for p, (start, _) in spans.items()])
        t0 = last_progress = time.monotonic()
        reading_to_end = True
        while not stop() and (timeout_s is None or time.monotonic() - t0 <= timeout_s):
            if reading_to_end:
                drop_caught_up(consumer, topic, ends)
                if ends and time.monotonic() - last_progress > idle_s:
                    stalled = f"{topic}: partitions {sorted(ends)} stop short of their end " \
                              f"(no progress for {idle_s:.0f}s)"
                    if strict:
                        raise KafkaException(f"could not read {stalled}")
                    if say:
                        say(f"{stalled}; read what was there")
                    ends.clear()
                if not ends:
                    reading_to_end = False
                    if on_end:
                        on_end()
                    if not follow:
                        break
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().fatal() or not follow:
                    raise KafkaException(msg.error())
                continue  # librdkafka recovers from the others by itself while following
            last_progress = time.monotonic()
            yield msg
    finally:
        consumer.close()


def key_counts(cfg: Config, topic: str, role: str, timeout_s: float = 10) -> Counter:
    """Records per key on `topic` (read_committed, from the beginning to now); none if it is missing."""
    counts: Counter = Counter()
    try:
        for msg in read_topic(cfg, topic, idle_s=timeout_s, role=role):
            counts[(msg.key() or b"?").decode()] += 1
    except TopicMissing:
        pass
    return counts


def event_producer(cfg: Config, topic: str, schema: str = "audit_event", *, role: str):
    """(produce(record dict, key bytes), flush() -> undelivered) of `schema` records (AuditEvent by
    default; "alert" for Alert) to `topic`, serialized by the registry's AvroSerializer
    (schemas/<schema>.avsc)."""
    from confluent_kafka import Producer
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    from auditflow import registry

    # a role looks its schema's id up (registry.schema_id); the stack's admin, producing to a
    # check's or test's own topic, registers it
    serializer = AvroSerializer(registry.client(cfg, role), registry.load_schema(schema).schema_str,
                                conf={"auto.register.schemas": role == "admin", "use.latest.version": False})
    prod = Producer(producer_conf(cfg, role, **{"linger.ms": 5}))
    ctx = SerializationContext(topic, MessageField.VALUE)
    errors: list[str] = []

    def on_delivery(err, _msg) -> None:
        if err is not None:
            errors.append(str(err))

    def produce(event: dict[str, Any], key: bytes) -> None:
        prod.produce(topic, key=key, value=serializer(event, ctx), on_delivery=on_delivery)
        prod.poll(0)

    def flush(timeout_s: float = 60) -> int:
        left = prod.flush(timeout_s)
        if errors:
            raise RuntimeError(f"produce to {topic} failed: {errors[:3]}")
        return left

    return produce, flush


# ---------------------------------------------------------------- users and ACLs (roles.toml)
def _principal(cfg: Config, role: str) -> str:
    return credentials.identity(cfg, role).at("kafka")[0]


def reader_group(cfg: Config, role: str) -> str:
    """The group prefix of a role's throwaway readers (`reader`), which its grants cover."""
    return f"auditflow-reader-{_principal(cfg, role)}-"


@dataclass(frozen=True)
class Grants:
    """What one role may do at Kafka. A name ending in ``*`` is a prefix (PREFIXED pattern),
    ``*`` alone every name; any other a literal name."""

    read: tuple[str, ...] = ()         # topics it consumes (READ, DESCRIBE)
    write: tuple[str, ...] = ()        # topics it produces to (WRITE, DESCRIBE)
    groups: tuple[str, ...] = ()       # consumer groups it joins and commits in (READ, DESCRIBE)
    transactional_ids: tuple[str, ...] = ()  # WRITE, DESCRIBE
    manage_topics: tuple[str, ...] = ()  # DESCRIBE, CREATE, DELETE, ALTER, DESCRIBE/ALTER_CONFIGS
    manage_groups: tuple[str, ...] = ()  # DESCRIBE, DELETE
    idempotent_write: bool = False

    @classmethod
    def of(cls, spec: dict[str, Any]) -> Grants:
        lists = {k: tuple(spec.get(k, ())) for k in
                 ("read", "write", "groups", "transactional_ids", "manage_topics", "manage_groups")}
        return cls(**lists, idempotent_write=bool(spec.get("idempotent_write", False)))

    def bindings(self, principal: str) -> set[AclBinding]:
        def pattern(name: str) -> tuple[str, ResourcePatternType]:
            if name != "*" and name.endswith("*"):
                return name[:-1], ResourcePatternType.PREFIXED
            return name, ResourcePatternType.LITERAL

        out = set()
        ops = AclOperation
        for kind, names, operations in [
            (ResourceType.TOPIC, self.read, [ops.READ, ops.DESCRIBE]),
            (ResourceType.TOPIC, self.write, [ops.WRITE, ops.DESCRIBE]),
            (ResourceType.GROUP, self.groups, [ops.READ, ops.DESCRIBE]),
            (ResourceType.TRANSACTIONAL_ID, self.transactional_ids, [ops.WRITE, ops.DESCRIBE]),
            (ResourceType.TOPIC, self.manage_topics, [ops.DESCRIBE, ops.CREATE, ops.DELETE, ops.ALTER,
                                                      ops.DESCRIBE_CONFIGS, ops.ALTER_CONFIGS]),
            (ResourceType.GROUP, self.manage_groups, [ops.DESCRIBE, ops.DELETE]),
            (ResourceType.BROKER, ("kafka-cluster",) if self.idempotent_write else (),
             [ops.IDEMPOTENT_WRITE]),
        ]:
            for name in names:
                n, pt = pattern(name)
                for op in operations:
                    out.add(AclBinding(kind, n, pt, f"User:{principal}", "*", op, AclPermissionType.ALLOW))
        return out


def role_grants(role: str) -> Grants:
    """The Kafka grants of a role in auditflow/roles.toml (none without a ``kafka`` table)."""
    base, _, tenant = role.partition(":")
    if base == "ingest":
        return tenant_acls(tenant)
    return Grants.of(credentials.roles()[base].get("kafka", {}))


def tenant_acls(tenant: str) -> Grants:
    """An ingest tenant writes only its own raw input, the topics named for it (the tenant is
    bound by the topic name: ``audit.raw.<tenant>.<source>``, branch tenant-topics'
    ``udfs.sources.tenant_prefix``), one PREFIXED grant, plus roles.toml's ``[roles.ingest.kafka]``
    (the shared dead-letter topic)."""
    from udfs import sources

    spec = Grants.of(credentials.roles()["ingest"].get("kafka", {}))
    # sources.check_tenant (no '.': the prefix of tenant "a" would cover "a.b"'s topics)
    own = tuple(name + "*" for _kind, name in sources.tenant_write_acls(tenant))
    return replace(spec, write=(*own, *spec.write))


def _pipeline_roles(cfg: Config, tenants: tuple[str, ...] = ()) -> list[str]:
    return [r for r in credentials.all_roles(list(tenants)) if r != "admin"]


def apply_users(cfg: Config, roles: list[str] | None = None) -> list[str]:
    """SCRAM-SHA-512 credentials of every role but admin (bootstrapped at storage format) from
    its secret (credentials.identity(...).at("kafka")): set again on every call, so a rotated
    secret takes. Returns the users set."""
    client = admin(cfg)
    upserts = []
    for role in roles if roles is not None else _pipeline_roles(cfg):
        user, secret = credentials.identity(cfg, role).at("kafka")
        upserts.append(UserScramCredentialUpsertion(
            user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), secret.encode()))
    for _user, fut in client.alter_user_scram_credentials(upserts).items():
        fut.result()
    _settle(lambda: all(f.result() for f in client.describe_user_scram_credentials(
        [u.user for u in upserts]).values()) if upserts else True)
    return [u.user for u in upserts]


def _settle(done: Callable[[], bool], timeout_s: float = 15) -> None:
    """Wait until the broker applies a metadata change (users, ACLs go through the metadata
    log first), so the next client of the change is not refused by a broker yet to see it."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if done():
                return
        except KafkaException:
            pass
        if time.monotonic() > deadline:
            raise KafkaException(f"the broker did not apply the change within {timeout_s:.0f}s")
        time.sleep(0.2)


def _all_acls(client: AdminClient) -> set[AclBinding]:
    f = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                         AclOperation.ANY, AclPermissionType.ANY)
    return set(client.describe_acls(f, request_timeout=30).result())


def desired_acls(cfg: Config, tenants: tuple[str, ...] = ()) -> set[AclBinding]:
    out: set[AclBinding] = set()
    for role in _pipeline_roles(cfg, tenants):
        grants = role_grants(role)
        if grants != Grants() and (grants.read or grants.groups):
            grants = replace(grants, groups=(*grants.groups, reader_group(cfg, role) + "*"))
        out |= grants.bindings(_principal(cfg, role))
    return out


def apply_acls(cfg: Config, tenants: tuple[str, ...] = (), extra: set[AclBinding] = frozenset(),
               prune: bool = True) -> str:
    """Make the broker's ACLs those of roles.toml (plus `extra`): create the missing ones and,
    with `prune`, delete the pipeline principals' other ACLs on the resources roles.toml names
    (a role that lost a grant). Idempotent. Returns a summary, empty when nothing changed."""
    client = admin(cfg)
    want = desired_acls(cfg, tenants) | set(extra)
    have = _all_acls(client)
    missing = want - have
    principals = {f"User:{_principal(cfg, r)}" for r in _pipeline_roles(cfg, tenants)}
    # a tenant's principal is kept: its ACLs are made by provision_tenant, not listed here. Only
    # ACLs on the resources roles.toml names are pruned: an isolated run's grants on names of its
    # own (grant_run: a test's, a demo run's) outlive a broker restart, which runs this again
    named = {(b.restype, b.name, b.resource_pattern_type) for b in want}
    stale = {b for b in have - want if b.principal in principals
             and (b.restype, b.name, b.resource_pattern_type) in named} if prune else set()
    if missing:
        for fut in client.create_acls(list(missing), request_timeout=30).values():
            fut.result()
    for b in stale:
        for fut in client.delete_acls([AclBindingFilter(
                b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation,
                b.permission_type)], request_timeout=30).values():
            fut.result()
    if missing or stale:
        _settle(lambda: (now := _all_acls(client)) >= missing and not (now & stale))
    return f"{len(missing)} created, {len(stale)} deleted" if missing or stale else ""


def renamed_grants(names: dict[str, list[str]], group: str,
                   tenants: dict[str, list[str]] | None = None) -> dict[str, dict[str, list[str]]]:
    """roles.toml's Kafka grants for an isolated pipeline (a test's, a demo run's) whose topics
    have names of their own: `names` maps a standard name of roles.toml (``audit.events``,
    ``audit.raw.*``) to the run's topics standing for it, and every role's groups and
    transactional ids become the run's `group` prefix. `tenants`: each ingest tenant's raw topics
    of the run. A name the run has no topic for is left out, and a role left with no topic too."""
    out: dict[str, dict[str, list[str]]] = {}

    def renamed(spec: tuple[str, ...]) -> list[str]:
        return [topic for name in spec for topic in names.get(name, ())]

    for role, spec in credentials.roles().items():
        if spec.get("per_tenant"):
            continue
        g = Grants.of(spec.get("kafka", {}))
        entry = {"read": renamed(g.read), "write": renamed(g.write)}
        if not entry["read"] and not entry["write"]:
            continue
        entry |= {"groups": [f"{group}*"]} if g.groups else {}
        entry |= {"transactional_ids": [f"{group}*"]} if g.transactional_ids else {}
        out[role] = {k: v for k, v in entry.items() if v}
    ingest = Grants.of(credentials.roles()["ingest"].get("kafka", {}))
    for tenant, raw in (tenants or {}).items():
        out[f"ingest:{tenant}"] = {"write": [*raw, *renamed(ingest.write)]}
    return out


def grant_run(cfg: Config, names: dict[str, list[str]], group: str,
              tenants: dict[str, list[str]] | None = None) -> set[AclBinding]:
    """Grant every role `renamed_grants` on an isolated run's topics (as admin). Returns the
    bindings, for `revoke`."""
    bindings: set[AclBinding] = set()
    for role, grants in renamed_grants(names, group, tenants).items():
        if role.startswith("ingest:"):
            apply_users(cfg, [role])
        bindings |= grant(cfg, role, **grants)
    return bindings


def grant(cfg: Config, role: str, **grants: Any) -> set[AclBinding]:
    """Add grants to one role (e.g. a test's or demo's own topic names, which roles.toml cannot
    know): ``grant(cfg, "normalize", read=[...], write=[...], groups=["run-*"])``. Returns the
    bindings, for `revoke`."""
    bindings = Grants.of(grants).bindings(_principal(cfg, role))
    client = admin(cfg)
    for fut in client.create_acls(list(bindings), request_timeout=30).values():
        fut.result()
    _settle(lambda: bindings <= _all_acls(client))
    return bindings


def revoke(cfg: Config, bindings: set[AclBinding]) -> None:
    if not bindings:
        return
    filters = [AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal, b.host,
                                b.operation, b.permission_type) for b in bindings]
    client = admin(cfg)  # held until every future is done: a dropped client fails them (_DESTROY)
    for fut in client.delete_acls(filters, request_timeout=30).values():
        fut.result()


def provision_tenant(cfg: Config, tenant: str) -> None:
    """An ingest tenant's Kafka user and ACLs (as admin): what onboarding a tenant means here."""
    role = f"ingest:{tenant}"
    apply_users(cfg, [role])
    grant(cfg, role, **{k: list(v) if isinstance(v, tuple) else v
                        for k, v in vars(tenant_acls(tenant)).items()})
