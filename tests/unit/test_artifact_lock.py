"""The artifact lock: every pinned file checked by its SHA-256, flat poms, the lock's own form."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET

import pytest

from auditflow.stack import artifacts
from auditflow.stack.process import StackError

NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def test_every_pom_is_locked_as_it_is_now():
    lock = artifacts.load_lock()
    assert sorted(lock) == artifacts.MAVEN_GROUPS
    for group in artifacts.MAVEN_GROUPS:
        # raises when a pom was edited without `stack fetch --update-lock`
        locked = artifacts._locked_group(group, lock)
        assert locked, group
        assert len({a.file for a in locked}) == len(locked), group
        for a in locked:
            assert len(a.sha256) == 64 and int(a.sha256, 16) >= 0, a
            g, art, _t, _c, version = a.parts()
            assert a.file.startswith(f"{art}-{version}"), a


def test_lock_holds_the_transitive_jars():
    files = {a.file for a in artifacts.load_lock()["kafka"]["artifacts"]}
    assert "kafka_2.13-4.1.1.jar" in files
    # kafka's own dependencies, listed explicitly so a missing POM cannot lose them
    assert any(f.startswith("kafka-clients-4.1.1") for f in files)
    assert any(f.startswith("scala-library-") for f in files)


def test_lock_round_trips(tmp_path):
    lock = artifacts.load_lock()
    out = tmp_path / "artifacts.lock"
    artifacts.write_lock(lock, out)
    assert artifacts.load_lock(out) == lock
    assert out.read_text() == artifacts.LOCK_FILE.read_text()


def test_a_changed_byte_is_refused_naming_artifact_and_both_hashes(tmp_path):
    jar = tmp_path / "x-1.jar"
    jar.write_bytes(b"the pinned bytes")
    good = hashlib.sha256(b"the pinned bytes").hexdigest()
    a = artifacts.Locked("org.example:x:jar:1", "x-1.jar", good)
    artifacts.check_file(jar, a)
    jar.write_bytes(b"the pinned bytez")
    with pytest.raises(StackError) as err:
        artifacts.check_file(jar, a)
    msg = str(err.value)
    bad = hashlib.sha256(b"the pinned bytez").hexdigest()
    assert msg.startswith("artifact org.example:x:jar:1 (")
    assert f"expected {good}, actual {bad}" in msg
    assert "\n" not in msg


def test_a_missing_file_is_refused(tmp_path):
    a = artifacts.Locked("org.example:x:jar:1", "x-1.jar", "0" * 64)
    with pytest.raises(StackError, match=r"^artifact org.example:x:jar:1: .*x-1.jar is missing"):
        artifacts.check_file(tmp_path / "x-1.jar", a)


def test_an_edited_pom_needs_update_lock(monkeypatch):
    lock = artifacts.load_lock()
    lock["kafka"] = {**lock["kafka"], "pom_sha256": "0" * 64}
    with pytest.raises(StackError, match="kafka.pom.xml changed since artifacts.lock was written"):
        artifacts._locked_group("kafka", lock)
    del lock["kafka"]
    with pytest.raises(StackError, match="kafka.pom.xml has no entry in artifacts.lock"):
        artifacts._locked_group("kafka", lock)


def test_flat_pom_asks_for_exactly_the_locked_files_without_transitives():
    locked = [
        artifacts.Locked("io.apicurio:apicurio-registry-app:tar.gz:all:3.3.3",
                         "apicurio-registry-app-3.3.3-all.tar.gz", "a" * 64),
        artifacts.Locked("org.apache.kafka:kafka_2.13:jar:4.1.1", "kafka_2.13-4.1.1.jar", "b" * 64),
    ]
    root = ET.fromstring(artifacts.flat_pom("g", locked))
    deps = root.findall("m:dependencies/m:dependency", NS)
    got = [(d.findtext("m:groupId", namespaces=NS), d.findtext("m:artifactId", namespaces=NS),
            d.findtext("m:type", namespaces=NS), d.findtext("m:classifier", namespaces=NS),
            d.findtext("m:version", namespaces=NS)) for d in deps]
    assert got == [("io.apicurio", "apicurio-registry-app", "tar.gz", "all", "3.3.3"),
                   ("org.apache.kafka", "kafka_2.13", "jar", None, "4.1.1")]
    for d in deps:
        ex = d.findall("m:exclusions/m:exclusion", NS)
        assert [(e.findtext("m:groupId", namespaces=NS), e.findtext("m:artifactId", namespaces=NS))
                for e in ex] == [("*", "*")]


def test_dependency_list_lines_parse_with_and_without_classifier():
    lines = [
        "   org.apache.kafka:kafka_2.13:jar:4.1.1:compile:/r/kafka_2.13-4.1.1.jar -- module kafka",
        "   io.apicurio:apicurio-registry-app:tar.gz:all:3.3.3:compile:/r/app-3.3.3-all.tar.gz",
        "   org.slf4j:slf4j-api:jar:2.0.17:runtime:/r/slf4j-api-2.0.17.jar",
        "The following files have been resolved:",
    ]
    got = [m.groups() if (m := artifacts._LISTED.match(line)) else None for line in lines]
    assert got == [
        ("org.apache.kafka", "kafka_2.13", "jar", None, "4.1.1", "/r/kafka_2.13-4.1.1.jar"),
        ("io.apicurio", "apicurio-registry-app", "tar.gz", "all", "3.3.3", "/r/app-3.3.3-all.tar.gz"),
        ("org.slf4j", "slf4j-api", "jar", None, "2.0.17", "/r/slf4j-api-2.0.17.jar"),
        None,
    ]
