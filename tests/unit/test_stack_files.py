"""The declarative files the stack is built from: poms, topics, client failure messages."""

import xml.etree.ElementTree as ET

from auditflow import kafka
from auditflow.stack import artifacts

NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def test_every_pom_pins_versions():
    assert set(artifacts.MAVEN_GROUPS) >= {
        "apicurio", "flink-connectors", "flink-parquet", "flink-s3", "kafka", "trino"
    }
    for group in artifacts.MAVEN_GROUPS:
        root = ET.parse(artifacts.MAVEN_DIR / f"{group}.pom.xml").getroot()
        deps = root.findall("m:dependencies/m:dependency", NS)
        assert deps, group
        for dep in deps:
            version = dep.findtext("m:version", namespaces=NS)
            assert version and "SNAPSHOT" not in version and "[" not in version, (group, version)


def test_design_card_versions():
    text = (artifacts.MAVEN_DIR / "flink-connectors.pom.xml").read_text()
    assert "<version>5.0.0-2.2</version>" in text
    assert "<version>476</version>" in (artifacts.MAVEN_DIR / "trino.pom.xml").read_text()
    assert "<version>4." in (artifacts.MAVEN_DIR / "kafka.pom.xml").read_text()


def test_topics_file_has_the_pipeline_topics():
    specs = {s.name: s for s in kafka.load_topics()}
    # raw input has no shared topic: each tenant has its own (`auditflow tenants add`)
    assert not [name for name in specs if name.startswith("audit.raw.")]
    for name in ("audit.events", "audit.dlq", "audit.filtered", "audit.alerts", "audit.users"):
        assert name in specs
    assert specs["audit.users"].config["cleanup.policy"] == "compact"
    assert all("min.insync.replicas" in s.config for s in specs.values())
    assert all("retention.ms" in s.config for s in specs.values())


def test_failure_reason_is_one_telling_line():
    mvn_out = (
        "[INFO] Scanning for projects...\n"
        "[ERROR] Failed to execute goal on project kafka: Could not resolve dependencies for "
        "project io.auditflow.stack:kafka:pom:1: Could not transfer artifact "
        "org.apache.kafka:kafka_2.13:jar:4.1.1 from/to central: Connect to repo:443 failed\n"
        "[ERROR] -> [Help 1]\n"
    )
    reason = artifacts._reason(mvn_out)
    assert reason.startswith("Could not resolve dependencies")
    assert "\n" not in reason
    go_out = "go: github.com/x/y@v1: Get \"https://proxy/x\": dial tcp: lookup proxy: no such host\n"
    assert "no such host" in artifacts._reason(go_out)


def test_every_subject_is_a_topic_and_a_schema_file():
    from auditflow import paths, registry

    topics = {s.name for s in kafka.load_topics()}
    for c in registry.contracts():
        assert c.topic in topics, c
        assert (paths.SCHEMAS / c.file).is_file(), c
        assert c.compatibility in {"BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
                                   "FULL", "FULL_TRANSITIVE", "NONE"}, c


def test_the_late_events_topic_is_declared():
    specs = {s.name: s for s in kafka.load_topics()}
    assert "audit.detect.late" in specs
