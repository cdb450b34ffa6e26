"""Kafka's role matrix (auditflow/roles.toml, applied by `stack up`), asserted by the broker's own
error codes: no anonymous or plaintext client on the broker or controller port, no wrong
password, and each role only what its grants say. Nothing is left visible on the pipeline's
topics: writes that must succeed there go into a transaction that is aborted."""

from __future__ import annotations

import socket
import ssl
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource

from auditflow import kafka
from auditflow.stack import tls
from udfs import sources

WAIT_S = 8


def produce_error(cfg, role: str, topic: str, **conf) -> int | None:
    """The error code the broker gives `role` for one record to `topic` (None: written)."""
    errors: list[KafkaError] = []
    p = Producer(kafka.producer_conf(cfg, role, **{"enable.idempotence": False, "retries": 0,
                                                   "message.timeout.ms": WAIT_S * 1000, **conf}))
    p.produce(topic, b"acl-test", on_delivery=lambda err, _m: errors.append(err) if err else None)
    p.flush(WAIT_S + 5)
    return errors[0].code() if errors else None


def aborted_write_error(cfg, role: str, topic: str, transactional_id: str) -> int | None:
    """A write in a transaction that is then aborted: authorized or not, nothing stays readable."""
    p = Producer(kafka.producer_conf(cfg, role, **{"transactional.id": transactional_id}))
    try:
        p.init_transactions(WAIT_S)
    except KafkaException as exc:
        return exc.args[0].code()
    p.begin_transaction()
    errors: list[KafkaError] = []
    p.produce(topic, b"acl-test", on_delivery=lambda err, _m: errors.append(err) if err else None)
    p.flush(WAIT_S)
    p.abort_transaction(WAIT_S)
    return errors[0].code() if errors else None


def read_error(cfg, role: str, topic: str, group: str | None = None) -> int | None:
    """The error code a consumer of `role` gets subscribing to `topic` in `group` (default: one
    of its throwaway reader groups), None when it may read (an empty topic gives no record and
    no error). Subscribed, as the jobs are: librdkafka reports a refused topic only then."""
    c = Consumer(kafka.client_conf(cfg, role, **{
        "group.id": group or f"{kafka.reader_group(cfg, role)}{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    try:
        c.subscribe([topic])
        for _ in range(WAIT_S * 2):
            msg = c.poll(0.5)
            if msg is not None and msg.error() and msg.error().code() != KafkaError._PARTITION_EOF:
                return msg.error().code()
        return None
    finally:
        c.close()


# ---------------------------------------------------------------- who may connect at all
def test_a_plaintext_client_gets_nothing_from_the_broker_port(stack, cfg):
    admin = AdminClient({"bootstrap.servers": cfg.get("kafka.bootstrap_servers"),
                         "security.protocol": "PLAINTEXT", "socket.timeout.ms": 4000, "log_level": 0})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=6)


def test_the_controller_port_takes_neither_plaintext_nor_tls_without_a_client_certificate(stack, cfg):
    port = int(cfg.get("kafka.controller_port"))
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}", "security.protocol": "PLAINTEXT",
                         "socket.timeout.ms": 4000, "log_level": 0})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=6)
    # TLS trusting the CA but presenting no certificate: the handshake is refused (TLS 1.3 says so
    # at the first read)
    ctx = ssl.create_default_context(cafile=str(tls.ca_file(cfg)))
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        _talk_tls(ctx, port)


def _talk_tls(ctx: ssl.SSLContext, port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        s.sendall(b"\x00\x00\x00\x0a" + b"\x00" * 10)
        if not s.recv(1):
            raise ConnectionResetError("closed without an answer")


def test_a_wrong_password_fails_sasl_authentication(stack, cfg):
    errors: list[KafkaError] = []
    p = Producer(kafka.client_conf(cfg, "analyst", **{"sasl.password": "not-the-secret", "log_level": 0,
                                                      "error_cb": errors.append}))
    for _ in range(20):  # the broker's answer reaches the error callback, served by poll
        p.poll(0.5)
        if errors:
            break
    auth = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
    assert auth and "invalid credentials" in auth[0].str(), errors


def test_a_role_without_kafka_grants_sees_no_topic_and_writes_none(stack, cfg):
    assert not [t for t in AdminClient(kafka.client_conf(cfg, "sealer")).list_topics(timeout=10).topics
                if not t.startswith("__")]
    assert produce_error(cfg, "sealer", "audit.events") == KafkaError.TOPIC_AUTHORIZATION_FAILED


# ---------------------------------------------------------------- the pipeline's roles
def test_normalize_writes_its_outputs_only(stack, cfg, topics):
    run = uuid.uuid4().hex[:6]
    raw = sources.raw_topic("acme", "syslog", f"acl{run}")  # a tenant's raw topic: audit.raw.*
    topics.create(kafka.TopicSpec(raw, 1, 1))
    assert aborted_write_error(cfg, "normalize", "audit.events", f"auditflow-normalize-acl-{run}") is None
    assert produce_error(cfg, "normalize", "audit.alerts") == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert aborted_write_error(cfg, "normalize", "audit.events", f"other-{run}") \
        == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    assert read_error(cfg, "normalize", raw, group=f"auditflow-normalize-acl-{run}") is None
    assert read_error(cfg, "normalize", raw, group=f"someone-else-{run}") \
        == KafkaError.GROUP_AUTHORIZATION_FAILED
    assert read_error(cfg, "normalize", "audit.alerts") == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_detect_reads_events_and_writes_alerts_not_events(stack, cfg, topics):
    run = uuid.uuid4().hex[:6]
    raw = sources.raw_topic("acme", "syslog", f"acl{run}")
    topics.create(kafka.TopicSpec(raw, 1, 1))
    assert read_error(cfg, "detect", "audit.events") is None
    assert aborted_write_error(cfg, "detect", "audit.alerts", f"auditflow-detect-acl-{run}") is None
    assert produce_error(cfg, "detect", "audit.events") == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert read_error(cfg, "detect", raw) == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_archive_reads_events_and_alerts_and_writes_nothing(stack, cfg):
    assert read_error(cfg, "archive", "audit.events") is None
    assert read_error(cfg, "archive", "audit.alerts") is None
    assert produce_error(cfg, "archive", "audit.events") == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_router_reads_alerts_not_events(stack, cfg):
    assert read_error(cfg, "router", "audit.alerts") is None
    assert read_error(cfg, "router", "audit.events") == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert produce_error(cfg, "router", "audit.alerts") == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_analyst_reads_alerts_and_late_results_only(stack, cfg):
    assert read_error(cfg, "analyst", "audit.alerts") is None
    assert read_error(cfg, "analyst", "audit.detect.late.results") is None
    assert read_error(cfg, "analyst", "audit.events") == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert produce_error(cfg, "analyst", "audit.alerts") == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_operator_manages_topics_and_groups_but_cannot_read_a_record(stack, cfg):
    admin = kafka.admin(cfg, "operator")
    assert "audit.events" in admin.list_topics(timeout=10).topics
    res = ConfigResource(ConfigResource.Type.TOPIC, "audit.events")
    assert "retention.ms" in admin.describe_configs([res])[res].result()
    assert admin.list_consumer_groups(request_timeout=10).result() is not None
    topic = f"it.acl-{uuid.uuid4().hex[:6]}"
    assert kafka.apply_topics(cfg, [kafka.TopicSpec(topic, 1, 1)], role="operator") == [f"created {topic}"]
    admin.delete_topics([topic], operation_timeout=30)[topic].result()
    # no READ on any group either: its consumer is refused at the group before the topic
    assert read_error(cfg, "operator", "audit.events") in (KafkaError.GROUP_AUTHORIZATION_FAILED,
                                                           KafkaError.TOPIC_AUTHORIZATION_FAILED)
    assert produce_error(cfg, "operator", "audit.events") == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_an_ingest_tenant_writes_its_own_raw_input_and_no_other_tenants(stack, cfg, topics):
    run = uuid.uuid4().hex[:6]
    mine, theirs = f"t{run}a", f"t{run}b"
    own_topic, their_topic = (kafka.tenant_acls(t).write[0].rstrip("*") + "syslog" for t in (mine, theirs))
    topics.create(kafka.TopicSpec(own_topic, 1, 1), kafka.TopicSpec(their_topic, 1, 1))
    kafka.provision_tenant(cfg, f"{mine}")
    try:
        assert produce_error(cfg, f"ingest:{mine}", own_topic) is None
        assert produce_error(cfg, f"ingest:{mine}", their_topic) == KafkaError.TOPIC_AUTHORIZATION_FAILED
        assert produce_error(cfg, f"ingest:{mine}", "audit.events") == KafkaError.TOPIC_AUTHORIZATION_FAILED
        assert read_error(cfg, f"ingest:{mine}", own_topic) in (KafkaError.GROUP_AUTHORIZATION_FAILED,
                                                                KafkaError.TOPIC_AUTHORIZATION_FAILED)
    finally:
        topics.acls |= kafka.role_grants(f"ingest:{mine}").bindings(f"ingest-{mine}")


def test_stack_up_reapplies_acls_idempotently_and_prunes_a_stale_one(stack, cfg, topics):
    kafka.grant(cfg, "analyst", read=["audit.events"])
    assert read_error(cfg, "analyst", "audit.events") is None
    # a grant on a name of an isolated run's own (a test's) is no stale grant: a broker restart
    # (stack up again) keeps it, or a running test's job would lose its topics
    own = topics.unique("acl-own", 1)
    topics.grant("analyst", read=[own])
    changed = kafka.apply_acls(cfg)
    assert changed.startswith("0 created") and "0 deleted" not in changed
    assert kafka.apply_acls(cfg) == ""
    assert read_error(cfg, "analyst", "audit.events") == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert read_error(cfg, "analyst", own) is None
