"""A Kafka Connect worker on this machine: Apache Kafka's connect-runtime (kafka-connect.pom.xml)
with connector plugins each in their own plugin.path folder (e.g. debezium-postgres.pom.xml).

Used by the Debezium integration test and usable by hand; in production, run your own Connect
cluster and POST the configs in connectors/ to its REST API.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import requests

from auditflow import paths
from auditflow.stack.process import StackError
from auditflow.stack.tls import write_private

CONNECTORS_DIR = paths.CONNECTORS
PLUGINS = ("debezium-postgres",)


def worker_properties(bootstrap: str, rest_host: str, rest_port: int, plugin_path: Path,
                      offsets_file: Path, client: dict[str, Any] | None = None) -> str:
    """A standalone worker's properties. Records are plain JSON (schemas.enable=false), the
    shape the Python ingest path writes to audit.raw.<tenant>.* too. `client`: the Java client settings
    (auditflow.kafka.java_properties(cfg, role): SASL_SSL, the role's JAAS line, the CA) for the
    worker and its producers, consumers and admin clients alike."""
    props = {
        "bootstrap.servers": bootstrap,
        "listeners": f"http://{rest_host}:{rest_port}",
        "plugin.path": str(plugin_path),
        "offset.storage.file.filename": str(offsets_file),
        "offset.flush.interval.ms": "1000",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "false",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        # producers of source connectors: same guarantees as `auditflow ingest`
        "producer.acks": "all",
        "producer.enable.idempotence": "true",
        "producer.compression.type": "zstd",
        **{k: str(v) for k, v in (client or {}).items()},
        **{f"{c}.{k}": str(v) for c in ("producer", "consumer", "admin") for k, v in (client or {}).items()},
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def log4j2_properties(log_file: Path) -> str:
    return (
        "status = warn\n"
        "appender.file.type = File\nappender.file.name = file\n"
        f"appender.file.fileName = {log_file}\n"
        "appender.file.layout.type = PatternLayout\n"
        "appender.file.layout.pattern = %d{ISO8601} %-5p [%t] %c{1}: %m%n\n"
        "rootLogger.level = info\nrootLogger.appenderRef.file.ref = file\n"
        "logger.reflections.name = org.reflections\nlogger.reflections.level = error\n"
    )


def plugin_folder(cache_dir: Path, dest: Path, plugins: tuple[str, ...] = PLUGINS) -> Path:
    """A plugin.path directory holding one folder per plugin (links to the Maven cache)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in plugins:
        src = cache_dir / "maven" / name
        if not (src / ".complete").exists():
            raise StackError(f"connector plugin {name} is not fetched ({src}); run `auditflow stack fetch`")
        link = dest / name
        if not link.exists():
            link.symlink_to(src, target_is_directory=True)
    return dest


def start_standalone(cache_dir: Path, workdir: Path, bootstrap: str, rest_port: int,
                     rest_host: str = "127.0.0.1", client: dict[str, Any] | None = None,
                     java: str = "java") -> subprocess.Popen:
    runtime = cache_dir / "maven" / "kafka-connect"
    if not (runtime / ".complete").exists():
        raise StackError(f"Kafka Connect runtime is not fetched ({runtime}); run `auditflow stack fetch`")
    workdir.mkdir(parents=True, exist_ok=True)
    props = workdir / "worker.properties"
    # 0600: the client settings hold the role's secret (never on the command line)
    write_private(props, worker_properties(bootstrap, rest_host, rest_port,
                                       plugin_folder(cache_dir, workdir / "plugins"),
                                       workdir / "offsets.dat", client).encode())
    (workdir / "log4j2.properties").write_text(log4j2_properties(workdir / "connect.log"))
    cmd = [java, "-Xms128m", "-Xmx512m",
           f"-Dlog4j2.configurationFile={workdir / 'log4j2.properties'}",
           "-cp", f"{runtime}/*", "org.apache.kafka.connect.cli.ConnectStandalone", str(props)]
    out = (workdir / "connect.stdout").open("wb")
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=workdir,
                            start_new_session=True, env={**os.environ})


def wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"Kafka Connect exited with {proc.returncode}; see {log}:\n{_tail(log)}")
        try:
            if requests.get(f"{url}/connector-plugins", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise StackError(
        f"Kafka Connect REST at {url} not ready after {timeout_s:.0f}s; see {log}:\n{_tail(log)}")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def load_connector(name: str, overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """A connector definition from connectors/<name>.json ({"name", "config"}), with overrides."""
    doc = json.loads((CONNECTORS_DIR / f"{name}.json").read_text())
    doc["config"] = {k: v for k, v in doc["config"].items() if not k.startswith("_")}
    doc["config"].update(overrides or {})
    return doc


def create_connector(url: str, connector: dict[str, Any]) -> None:
    r = requests.post(f"{url}/connectors", json=connector, timeout=30)
    if not r.ok:
        raise StackError(f"Kafka Connect refused connector {connector['name']}: {r.status_code} {r.text}")


def connector_state(url: str, name: str) -> tuple[str, list[str]]:
    """(connector state, task states + traces), e.g. ('RUNNING', ['RUNNING'])."""
    r = requests.get(f"{url}/connectors/{name}/status", timeout=10)
    if not r.ok:
        return "UNKNOWN", [r.text]
    st = r.json()
    tasks = [t["state"] + (": " + t["trace"][:2000] if t.get("trace") else "") for t in st.get("tasks", [])]
    return st["connector"]["state"], tasks
