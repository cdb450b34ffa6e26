"""A package registry that cannot be reached gives one clear line naming artifact and client.

These use the real clients (mvn, go) pointed at a closed port on this machine.
"""

from __future__ import annotations

import pytest

from auditflow.stack import artifacts
from auditflow.stack.process import StackError

DEAD = "http://127.0.0.1:9"


def test_maven_unreachable(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".m2").mkdir(parents=True)
    (home / ".m2" / "settings.xml").write_text(
        "<settings><mirrors><mirror><id>dead</id><mirrorOf>*</mirrorOf>"
        f"<url>{DEAD}/maven2</url></mirror></mirrors></settings>"
    )
    monkeypatch.setenv("MAVEN_OPTS", f"-Duser.home={home}")
    with pytest.raises(StackError) as err:
        artifacts.fetch_maven("flink-s3", tmp_path / "cache", lambda _m: None)
    message = str(err.value)
    assert message.startswith("Maven artifacts of flink-s3 (flink-s3.pom.xml): mvn failed:")
    assert "\n" not in message
    assert not (tmp_path / "cache" / "maven" / "flink-s3" / ".complete").exists()


def test_go_proxy_unreachable(tmp_path, monkeypatch):
    monkeypatch.setenv("GOPROXY", DEAD)
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "gomod"))
    monkeypatch.setenv("GOFLAGS", "-modcacherw")
    with pytest.raises(StackError) as err:
        artifacts.fetch_seaweedfs(tmp_path / "cache", lambda _m: None)
    message = str(err.value)
    assert message.startswith(f"SeaweedFS {artifacts.SEAWEEDFS_MODULE}@")
    assert "go failed:" in message and "127.0.0.1:9" in message
    assert "\n" not in message
