"""Each service works, checked with a client nobody here wrote where one exists."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import confluent_kafka
import pytest
import requests
from botocore.exceptions import ClientError

from auditflow import config, flink, kafka, registry, s3
from auditflow.archive import query
from auditflow.stack import lifecycle, tls
from auditflow.stack.process import StackError


def test_every_service_is_healthy_with_pid_and_memory(stack):
    rows = lifecycle.status(stack)
    assert {r.name for r in rows} >= {
        "kafka", "registry", "s3", "flink-jobmanager", "flink-taskmanager", "trino"
    }
    for r in rows:
        assert r.healthy, r.name
        assert r.pid, r.name
        assert r.rss_mb > 10, r.name


def test_up_again_is_idempotent(stack):
    before = {r.name: r.pid for r in lifecycle.status(stack)}
    lifecycle.up(stack)
    assert {r.name: r.pid for r in lifecycle.status(stack)} == before


def test_kcat_lists_the_pipeline_topics(stack, cfg, tmp_path):
    # as the operator, its SASL settings in a 0600 file (-F), never on kcat's command line
    conf = tmp_path / "kcat.conf"
    settings = kafka.client_conf(cfg, "operator")
    tls.write_private(conf, "".join(f"{k}={v}\n" for k, v in settings.items()).encode())
    # Debian's kcat links librdkafka 2.0, whose SCRAM Kafka 4 refuses (librdkafka < 2.6.1 sends a
    # doubled nonce: edenhill/kcat#462); run it on the librdkafka confluent-kafka ships
    libs = tmp_path / "lib"
    libs.mkdir()
    wheel_libs = Path(confluent_kafka.__file__).parent.parent / "confluent_kafka.libs"
    [bundled] = wheel_libs.glob("librdkafka*.so*")
    (libs / "librdkafka.so.1").symlink_to(bundled)
    proc = subprocess.run(["kcat", "-F", str(conf), "-L", "-J"], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "LD_LIBRARY_PATH": str(libs)})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    topics = {t["topic"]: t for t in json.loads(out)["topics"]}
    for name in ("audit.events", "audit.dlq", "audit.alerts", "audit.users"):
        assert name in topics
    assert "audit.raw.syslog" not in topics  # no shared raw topic: each tenant has its own
    assert len(topics["audit.events"]["partitions"]) == 3


def test_registry_answers_ccompat_with_backward_or_stricter(stack, cfg):
    url, reader = cfg.get("registry.url"), registry.requests_kwargs(cfg, "analyst")
    assert requests.get(f"{url}/subjects", timeout=10, **reader).status_code == 200
    level = requests.get(f"{url}/config", timeout=10, **reader).json()["compatibilityLevel"]
    assert level in ("BACKWARD", "BACKWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE")


def test_worm_bucket_refuses_delete_and_shortening(stack, cfg):
    client = s3.client(cfg, "admin")
    bucket = cfg.get("s3.worm_bucket")
    lock = client.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    assert lock["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    version = client.put_object(Bucket=bucket, Key="tests/locked.txt", Body=b"evidence")["VersionId"]
    # the bucket default applied COMPLIANCE retention without asking
    retention = client.get_object_retention(Bucket=bucket, Key="tests/locked.txt", VersionId=version)
    assert retention["Retention"]["Mode"] == "COMPLIANCE"
    with pytest.raises(ClientError):
        client.delete_object(Bucket=bucket, Key="tests/locked.txt", VersionId=version)
    with pytest.raises(ClientError):
        client.put_object_retention(
            Bucket=bucket, Key="tests/locked.txt", VersionId=version,
            Retention={"Mode": "COMPLIANCE",
                       "RetainUntilDate": dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)},
        )
    assert client.get_object(Bucket=bucket, Key="tests/locked.txt", VersionId=version)[
        "Body"].read() == b"evidence"


def test_staging_bucket_is_versioned(stack, cfg):
    client = s3.client(cfg, "admin")
    assert client.get_bucket_versioning(Bucket=cfg.get("s3.staging_bucket"))["Status"] == "Enabled"


def test_flink_list_answers(stack, cfg):
    rest = urlparse(cfg.get("flink.rest_url"))  # the configured port (scripts/test moves every port)
    cmd = [str(flink.PYFLINK_HOME / "bin" / "flink"), "list",
           f"-Drest.address={rest.hostname}", f"-Drest.port={rest.port}"]
    proc = subprocess.run(cmd, env=flink.cli_env(cfg), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Waiting for response" in proc.stdout or "No running jobs" in proc.stdout


def test_trino_runs_select_1(stack, cfg):
    cur = query.trino_conn(cfg).cursor()  # the auditor, over HTTPS with its password
    cur.execute("SELECT 1")
    assert cur.fetchall() == [[1]]
    cur.execute("SHOW CATALOGS")
    assert ["hive"] in cur.fetchall()


def test_busy_port_names_the_port_and_its_holder(stack, tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        cfg = config.load(overrides=[
            f"stack.data_dir={tmp_path}", f"kafka.bootstrap_servers=127.0.0.1:{port}",
            f"kafka.controller_port={port + 1 if port < 65535 else port - 1}",
        ])
        ctx = lifecycle.context(cfg, print)
        with pytest.raises(StackError) as err:
            lifecycle.up(ctx, only=["kafka"])
        assert f"port {port}" in str(err.value)
        assert "python" in str(err.value)
    finally:
        holder.close()
