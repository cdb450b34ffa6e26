"""Schema governance against the real Apicurio registry and Kafka: `auditflow schemas` refuses
incompatible changes with reasons, accepts compatible ones, and an old consumer reads new data.
Every run uses its own subjects (a unique prefix) so runs never collide."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from auditflow import kafka, registry

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
EVENT = json.loads((SCHEMAS / "audit_event.avsc").read_text())


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "auditflow.cli", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def prefix(stack) -> str:
    p = f"it-{uuid.uuid4().hex[:8]}."
    out = cli("schemas", "register", "--prefix", p)
    assert out.returncode == 0, out.stderr + out.stdout
    return p


def _write(tmp_path: Path, schema: dict, name: str = "proposed.avsc") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(schema))
    return path


def test_register_sets_subjects_and_levels(prefix, cfg):
    url, reader = cfg.get("registry.url"), registry.requests_kwargs(cfg, "analyst")
    subjects = requests.get(f"{url}/subjects", timeout=10, **reader).json()
    for subject, level in [("audit.events-value", "FULL_TRANSITIVE"),
                           ("audit.alerts-value", "BACKWARD_TRANSITIVE"),
                           ("audit.dlq-value", "BACKWARD_TRANSITIVE")]:
        assert prefix + subject in subjects
        got = requests.get(f"{url}/config/{prefix}{subject}", timeout=10, **reader).json()
        assert got["compatibilityLevel"] == level
    again = cli("schemas", "register", "--prefix", prefix)        # idempotent: no new version
    assert again.returncode == 0, again.stderr
    assert registry.client(cfg, "schema-admin").get_versions(prefix + "audit.events-value") == [1]


def test_new_optional_field_with_default_is_accepted(prefix, tmp_path):
    new = copy.deepcopy(EVENT)
    new["fields"].append({"name": "risk_score", "type": ["null", "int"], "default": None})
    out = cli("schemas", "check", str(_write(tmp_path, new)), "--subject", prefix + "audit.events-value")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("compatible:")


def test_removed_required_field_is_refused_with_a_reason(prefix, tmp_path):
    new = copy.deepcopy(EVENT)
    new["fields"] = [f for f in new["fields"] if f["name"] != "tenant_id"]
    out = cli("schemas", "check", str(_write(tmp_path, new)), "--subject", prefix + "audit.events-value")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "INCOMPATIBLE" in out.stdout
    assert ("field 'tenant_id' was removed and has no default in the old schema: consumers still on "
            "the old schema cannot read data written with the new one") in out.stdout


def test_type_change_is_refused_with_a_reason(prefix, tmp_path):
    new = copy.deepcopy(EVENT)
    next(f for f in new["fields"] if f["name"] == "severity_id")["type"] = "string"
    out = cli("schemas", "check", str(_write(tmp_path, new)), "--subject", prefix + "audit.events-value")
    assert out.returncode == 1
    assert "field 'severity_id' changed type from int to string" in out.stdout


def test_diff_shows_the_change(prefix, tmp_path):
    new = copy.deepcopy(EVENT)
    new["fields"].append({"name": "risk_score", "type": ["null", "int"], "default": None})
    out = cli("schemas", "diff", str(_write(tmp_path, new)), "--subject", prefix + "audit.events-value")
    assert out.returncode == 0, out.stderr
    assert "1 change(s)" in out.stdout and "+ field 'risk_score': [null, int], default null" in out.stdout


def test_register_refuses_an_incompatible_version(cfg, stack, tmp_path):
    client = registry.client(cfg, "schema-admin")
    subject = f"it-{uuid.uuid4().hex[:8]}-value"
    v1 = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}
    client.register_schema(subject, Schema(json.dumps(v1), "AVRO"))
    client.set_compatibility(subject, "FULL_TRANSITIVE")
    v2 = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"},
                                                    {"name": "b", "type": "string"}]}
    out = cli("schemas", "check", str(_write(tmp_path, v2)), "--subject", subject)
    assert out.returncode == 1
    assert "field 'b' was added without a default" in out.stdout


def test_old_consumer_reads_data_written_with_the_new_schema(prefix, cfg, topics, tmp_path):
    """Producer on v2 (an added optional field), consumer with the v1 reader schema, through a
    real topic; the registry holds both versions under FULL_TRANSITIVE."""
    topic = topics.unique("schemas", 1)
    subject = f"{topic}-value"
    client = registry.client(cfg, "schema-admin")
    v1 = json.dumps(EVENT)
    new = copy.deepcopy(EVENT)
    new["fields"].append({"name": "risk_score", "type": ["null", "int"], "default": None})
    v2 = json.dumps(new)
    client.register_schema(subject, Schema(v1, "AVRO"))
    client.set_compatibility(subject, "FULL_TRANSITIVE")
    out = cli("schemas", "check", str(_write(tmp_path, new)), "--subject", subject)
    assert out.returncode == 0, out.stdout
    event = {
        "event_id": "e-1", "tenant_id": "acme", "time": 1736663401112, "class_uid": 3002,
        "category_uid": 3, "activity_id": 1, "type_uid": 300201, "severity_id": 1,
        "metadata": {"product": {"name": "sshd"}}, "risk_score": 87,
    }
    ser = AvroSerializer(client, v2, conf={"auto.register.schemas": True})
    producer = Producer(kafka.producer_conf(cfg, "admin"))
    producer.produce(topic, ser(event, SerializationContext(topic, MessageField.VALUE)), b"acme")
    assert producer.flush(30) == 0
    assert client.get_versions(subject) == [1, 2]

    old_reader = AvroDeserializer(client, v1)          # explicit reader schema: the old one
    consumer = Consumer(kafka.client_conf(cfg, "admin", **{"group.id": f"it-{uuid.uuid4().hex}",
                                                  "auto.offset.reset": "earliest"}))
    consumer.subscribe([topic])
    try:
        deadline, msg = time.monotonic() + 30, None
        while msg is None and time.monotonic() < deadline:
            m = consumer.poll(1)
            if m is not None and not m.error():
                msg = m
        assert msg is not None, f"nothing arrived on {topic}"
        got = old_reader(msg.value(), SerializationContext(topic, MessageField.VALUE))
    finally:
        consumer.close()
    assert got["event_id"] == "e-1" and got["severity_id"] == 1
    assert "risk_score" not in got                       # the old schema does not know it
    assert got["metadata"]["product"]["name"] == "sshd" and got["tenant_id"] == "acme"
