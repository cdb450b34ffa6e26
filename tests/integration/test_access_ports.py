"""Every port the stack listens on refuses an anonymous plaintext client (issue #14): each
service's ports as `stack up` checks them free (Kafka's broker and controller, the registry and
its management port, S3 and SeaweedFS's master, volume and filer with their gRPC ports, Flink's
REST and RPC, Trino). The per-service access tests (test_access_<service>.py) check who may do
what once connected; this one checks that nobody gets in without TLS."""

from __future__ import annotations

import re
import socket

import pytest

from auditflow.stack import services

# what a TLS-only server may answer to plaintext: Go's servers (SeaweedFS) say so in a 400, Flink's
# REST endpoint sends an empty redirect to its https:// address (Netty's RedirectingSslHandler,
# not configurable), others close the connection or send a TLS alert (bytes that are not HTTP)
GO_REFUSAL = b"Client sent an HTTP request to an HTTPS server"
HTTPS_REDIRECT = re.compile(
    rb"HTTP/1\.1 30[1278] .*\r\nlocation: https://[^\r]*\r\ncontent-length: 0\r\n\r\n$", re.I | re.S)


def plaintext_answer(port: int) -> bytes:
    """The first bytes a port answers to a plaintext HTTP request (b"" if it closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        chunks = []
        try:
            while len(b"".join(chunks)) < 512:
                chunk = s.recv(512)
                if not chunk:
                    break
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
        return b"".join(chunks)


def stack_ports(stack) -> list[tuple[str, int]]:
    return [(svc.name, p) for svc in services.all_services(stack.cfg) for p in svc.ports(stack)]


def test_every_port_is_listed(stack):
    names = {name for name, _ in stack_ports(stack)}
    assert {"kafka", "registry", "s3", "flink-jobmanager", "trino"} <= names
    assert len(stack_ports(stack)) >= 14


def test_no_port_answers_plaintext(stack):
    answers = {}
    for name, port in stack_ports(stack):
        try:
            answer = plaintext_answer(port)
        except ConnectionRefusedError:
            continue  # nothing listens (e.g. a gRPC port SeaweedFS opens only when needed)
        if answer.startswith(b"HTTP/") and GO_REFUSAL not in answer and not HTTPS_REDIRECT.match(answer):
            answers[f"{name}:{port}"] = answer.split(b"\r\n", 1)[0].decode("latin-1")
    assert answers == {}


def test_a_plaintext_kafka_client_is_refused(stack):
    """A real Kafka client speaking PLAINTEXT to the broker gets no metadata (librdkafka reports the
    broker down: it cannot even parse the TLS answer)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": stack.cfg.get("kafka.bootstrap_servers"),
                         "security.protocol": "PLAINTEXT", "socket.timeout.ms": 5000})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=8)
