"""Kafka Connect for real: a standalone worker (Apache Kafka connect-runtime 4.1.1) runs the
Debezium PostgreSQL connector (connectors/debezium-postgres.json) against a throwaway PostgreSQL
cluster (Debian package, wal_level=logical); an insert, an update and a delete of one row arrive
as exactly three JSON change events (c, u, d) in audit.raw.acme.debezium. The worker runs as the
tenant's own ingest principal (`ingest:acme`, made by `tenants.add`), not as the stack's admin:
the broker lets it write only that tenant's raw topics, as for `auditflow ingest`.

Every process the test starts is stopped at the end, also on failure."""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from auditflow import connect, kafka, tenants
from udfs import sources

TOPIC = sources.raw_topic("acme", "debezium")  # connectors/debezium-postgres.json routes there


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    path = found[-1] if found else shutil.which(name)
    if not path:
        pytest.fail(f"PostgreSQL's {name} is not installed: apt-get install -y postgresql "
                    "(scripts/setup does it on Debian/Ubuntu)")
    return path


class Postgres:
    """A PostgreSQL cluster in a temporary directory on 127.0.0.1:<free port>. As root it runs as
    the 'postgres' user (PostgreSQL refuses to run as root)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="auditflow-pg-"))
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups"]

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*self.as_user, *cmd], capture_output=True, text=True, check=check,
                              timeout=120, cwd=self.dir)

    def start(self) -> None:
        data = self.dir / "data"
        self.run(pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.proc = subprocess.Popen(
            [*self.as_user, pg_bin("postgres"), "-D", str(data), "-c", f"port={self.port}",
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.dir}",
             "-c", "wal_level=logical", "-c", "max_replication_slots=4", "-c", "max_wal_senders=4",
             "-c", "fsync=off"],
            stdout=(self.dir / "postgres.log").open("wb"), stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + 60
        while self.run(pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), check=False).returncode:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"PostgreSQL did not start: {(self.dir / 'postgres.log').read_text()[-2000:]}")
            time.sleep(0.3)

    def sql(self, statement: str, db: str = "app") -> str:
        out = self.run(pg_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                       "-d", db, "-v", "ON_ERROR_STOP=1", "-Atc", statement, check=False)
        if out.returncode:
            raise AssertionError(f"psql failed on {statement!r}: {out.stderr}")
        return out.stdout.strip()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)          # fast shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    pg = Postgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()


@pytest.fixture
def connect_worker(stack, cfg, tmp_path) -> Iterator[str]:
    port = free_port()
    work = tmp_path / "connect"
    tenants.add(cfg, "acme")  # `auditflow tenants add acme`: its raw topics, user and write ACLs
    proc = connect.start_standalone(cfg.path("stack.cache_dir"), work, cfg.get("kafka.bootstrap_servers"),
                                    port, client=kafka.java_properties(cfg, "ingest:acme"))
    url = f"http://127.0.0.1:{port}"
    try:
        connect.wait_ready(url, proc, work / "connect.log")
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def end_offsets(cfg) -> list[TopicPartition]:
    c = Consumer(kafka.client_conf(cfg, "admin", **{"group.id": "it-offsets"}))
    try:
        parts = c.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions
        return [TopicPartition(TOPIC, p, c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)[1])
                for p in parts]
    finally:
        c.close()


# PostgreSQL (60 s) and the Connect worker (120 s) start, the slot activates (120 s), changes
# arrive (90 s), both stop (30 s each)
@pytest.mark.timeout(600)
def test_debezium_postgres_insert_update_delete_arrive_as_three_change_events(
        cfg, stack, postgres, connect_worker, tmp_path):
    run = uuid.uuid4().hex[:8]
    postgres.sql("CREATE DATABASE app", db="postgres")
    postgres.sql("CREATE TABLE public.users (id int PRIMARY KEY, email text NOT NULL, role text)")
    postgres.sql("ALTER TABLE public.users REPLICA IDENTITY FULL")   # 'before' on update/delete
    start = end_offsets(cfg)

    name = f"it-debezium-{run}"
    connector = connect.load_connector("debezium-postgres", {
        "database.hostname": "127.0.0.1", "database.port": str(postgres.port),
        "database.user": "postgres", "database.password": "unused-trust-auth",
        "database.dbname": "app", "table.include.list": "public.users",
        "topic.prefix": f"it_{run}", "slot.name": f"it_{run}", "publication.name": f"it_{run}",
    })
    connector["name"] = name
    connect.create_connector(connect_worker, connector)

    # stream only once the replication slot is active, so the three changes are streamed, not missed
    deadline = time.monotonic() + 120
    while postgres.sql(f"SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'it_{run}' AND active",
                       db="postgres") != "1":
        state, tasks = connect.connector_state(connect_worker, name)
        assert "FAILED" not in [state, *[t.split(":")[0] for t in tasks]], f"connector failed: {tasks}"
        assert time.monotonic() < deadline, f"replication slot never became active: {state} {tasks}"
        time.sleep(0.5)

    postgres.sql("INSERT INTO public.users VALUES (1, 'alice@example.com', 'analyst')")
    postgres.sql("UPDATE public.users SET role = 'admin' WHERE id = 1")
    postgres.sql("DELETE FROM public.users WHERE id = 1")

    consumer = Consumer(kafka.client_conf(cfg,
                                          "admin", **{"group.id": f"it-{run}", "enable.auto.commit": False}))
    consumer.assign(start)
    events, headers, keys = [], [], []
    try:
        deadline, quiet_until = time.monotonic() + 90, None
        while time.monotonic() < deadline and (quiet_until is None or time.monotonic() < quiet_until):
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            value = json.loads(msg.value())
            if value.get("source", {}).get("name") != f"it_{run}":
                continue                      # another test's or a person's records on the shared topic
            events.append(value)
            headers.append(dict(msg.headers() or []))
            keys.append(json.loads(msg.key()))
            if len(events) == 3:
                quiet_until = time.monotonic() + 5   # and nothing more after them
    finally:
        consumer.close()
        state, tasks = connect.connector_state(connect_worker, name)

    assert [e["op"] for e in events] == ["c", "u", "d"], f"events {events}; connector {state} {tasks}"
    c, u, d = events
    assert c["before"] is None and c["after"] == {"id": 1, "email": "alice@example.com", "role": "analyst"}
    assert u["before"]["role"] == "analyst" and u["after"]["role"] == "admin"
    assert d["before"]["id"] == 1 and d["after"] is None
    assert all(e["source"]["table"] == "users" and e["source"]["db"] == "app" for e in events)
    assert keys == [{"id": 1}] * 3           # the row's primary key: one row's changes stay in order
    # InsertHeader transform of connectors/debezium-postgres.json (Debezium adds its own context
    # headers); the tenant is the topic's, no header claims one
    assert all(h["source"] == b"debezium" and "tenant" not in h for h in headers), headers
