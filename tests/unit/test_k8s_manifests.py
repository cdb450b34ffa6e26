"""k8s/generated/ is what `auditflow k8s render` writes now, and each FlinkDeployment runs its job
with what `auditflow jobs start JOB` passes to `flink run`. No argument or option is listed here:
both sides come from the code (auditflow.pipeline.submission), so the test follows its changes."""

from __future__ import annotations

import os
import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from auditflow import cli, config, flink, k8s, paths, pipeline, tenants
from auditflow.config import ConfigError

REPO = Path(__file__).resolve().parents[2]
CONFIG_MAP = REPO / "k8s" / "flink" / "auditflow-config.yaml"
GENERATED = REPO / "k8s" / "generated"
DEPLOYMENTS = ("alerts-router.yaml", "sealer.yaml", "witness.yaml", "verify-watch.yaml")


def manifest(name: str) -> dict[str, Any]:
    return yaml.safe_load((GENERATED / name).read_text())


def test_committed_manifests_are_what_render_writes() -> None:
    files = k8s.manifests(k8s.pod_config(CONFIG_MAP))
    assert k8s.stale(GENERATED, files) == [], "stale: run `auditflow k8s render` and commit k8s/generated"


@pytest.fixture
def pod_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The CLI configured as a pod is: the ConfigMap's variables only, no auditflow.toml."""
    for name in [n for n in os.environ if n.startswith("AUDITFLOW_")]:
        monkeypatch.delenv(name)
    for name, value in k8s.config_map_env(CONFIG_MAP).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("job", pipeline.JOBS)
def test_flink_deployment_runs_what_jobs_start_submits(
        job: str, pod_environment: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`auditflow jobs start JOB` down to its `flink run` command line, with the cluster faked."""
    commands: list[list[str]] = []

    def flink_run(cfg, cmd, job_path, timeout_s, waiting_for, say=print) -> str:
        commands.append(cmd)
        return "Job has been submitted with JobID " + "0" * 32

    monkeypatch.setattr(flink, "_flink_run", flink_run)
    monkeypatch.setattr(flink, "job_files", lambda cfg: tmp_path)
    monkeypatch.setattr(flink, "running_job", lambda cfg, name: None)
    monkeypatch.setattr(flink, "resumable_checkpoint", lambda cfg, name, args: None)
    monkeypatch.setattr(flink, "record_submission", lambda *args: None)
    monkeypatch.setattr(flink, "wait_for_status", lambda *args, **kwargs: "RUNNING")
    result = CliRunner().invoke(cli.cli, ["jobs", "start", job])
    assert result.exit_code == 0, result.output
    (cmd,) = commands

    options = dict(a[2:].split("=", 1) for a in cmd if a.startswith("-D"))
    for session_only in ("rest.address", "rest.port"):  # where the local session cluster is
        options.pop(session_only)
    job_args = cmd[cmd.index("-pyfs") + 2:]
    spec = manifest(f"{job}.yaml")["spec"]
    assert spec["job"]["args"] == ["-py", f"{k8s.JOBS_DIR}/{Path(cmd[cmd.index('-py') + 1]).name}", *job_args]
    assert options and options.items() <= spec["flinkConfiguration"].items()
    assert spec["job"]["parallelism"] == int(options["parallelism.default"])
    assert spec["job"]["upgradeMode"] == "last-state"  # stateful: chains and Kafka positions continue


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_deployment_commands_parse(name: str) -> None:
    (container,) = manifest(name)["spec"]["template"]["spec"]["containers"]
    program, *args = container["command"]
    assert program == "auditflow"
    result = CliRunner().invoke(cli.cli, [*args, "--help"])  # an unknown command or option exits 2
    assert result.exit_code == 0, result.output


def test_no_secret_outside_the_secret() -> None:
    """Containers take secrets from the Secret by reference, never on a command line or inline."""
    secret = next(d for d in yaml.safe_load_all(CONFIG_MAP.read_text()) if d["kind"] == "Secret")
    keys = set(secret["stringData"])
    for path in GENERATED.glob("*.yaml"):
        text = path.read_text()
        doc = yaml.safe_load(text)
        spec = doc["spec"]
        pod = spec["podTemplate"]["spec"] if doc["kind"] == "FlinkDeployment" else spec["template"]["spec"]
        for container in pod["containers"]:
            for env in container.get("env", []):
                assert env["name"] not in keys or "valueFrom" in env, (path.name, env["name"])
            assert {"secretRef": {"name": k8s.SECRET}} in container["envFrom"]
        words = [*spec.get("job", {}).get("args", [])] + [
            w for c in pod["containers"] for w in c.get("command", []) + c.get("args", [])]
        assert not [w for w in words if any(k in w for k in keys)], path.name


def raw_partitions() -> int:
    return tenants.raw_template().partitions


def test_render_refuses_parallelism_above_the_raw_partitions() -> None:
    limit = raw_partitions()
    k8s.check(config.load(environ={"AUDITFLOW_FLINK__PARALLELISM": str(limit)}, cwd_file=False))
    too_many = config.load(environ={"AUDITFLOW_FLINK__PARALLELISM": str(limit + 1)}, cwd_file=False)
    with pytest.raises(ConfigError, match="AUDITFLOW_FLINK__PARALLELISM"):
        k8s.check(too_many)


def test_render_refuses_a_grace_within_the_checkpoint_interval() -> None:
    cfg = config.load(environ={"AUDITFLOW_ARCHIVE__GRACE_S": "60",
                               "AUDITFLOW_FLINK__CHECKPOINT_INTERVAL_MS": "60000"}, cwd_file=False)
    with pytest.raises(ConfigError, match="AUDITFLOW_ARCHIVE__GRACE_S"):
        k8s.check(cfg)


def test_image_has_the_client_flink_and_what_the_workers_import() -> None:
    dockerfile = (REPO / "k8s" / "Dockerfile").read_text()
    # PyFlink's client and the image's Flink must be one release (jarURI names it too)
    assert re.search(r"^FROM flink:(\d+\.\d+\.\d+)-", dockerfile, re.M)[1] == version("apache-flink")
    for folder in paths.PYFS:  # what `flink run -pyfs` ships locally
        assert f"COPY {folder}/ {folder}/" in dockerfile, folder


def test_witness_and_watch_pin_keys_from_the_trust_config_map() -> None:
    (w,) = manifest("witness.yaml")["spec"]["template"]["spec"]["containers"]
    # the witness's own Secret comes last, so its key (and its own S3 identity) win
    assert w["envFrom"][-2:] == [{"secretRef": {"name": k8s.SECRET}},
                                 {"secretRef": {"name": "auditflow-witness-secrets"}}]
    (v,) = manifest("verify-watch.yaml")["spec"]["template"]["spec"]["containers"]
    assert v["command"][:3] == ["auditflow", "verify", "--watch"]
    for c in (w, v):
        pinned = c["command"][c["command"].index("--public-key") + 1]
        assert pinned == "/etc/auditflow/trust/archive-signing.pem"
        assert {"name": "trust", "mountPath": "/etc/auditflow/trust", "readOnly": True} in c["volumeMounts"]
    docs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(CONFIG_MAP.read_text())}
    assert set(docs["auditflow-trust"]["data"]) == {"archive-signing.pem", "witness.pem"}
    assert docs["auditflow-config"]["data"]["AUDITFLOW_WITNESS__GENERATE_KEY"] == "false"


def test_the_witness_pod_holds_neither_the_signing_key_nor_the_sealers_s3_keys() -> None:
    docs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(CONFIG_MAP.read_text())}
    own = docs["auditflow-witness-secrets"]["stringData"]
    # read last, these blanks win over auditflow-secrets in the witness pod's environment
    assert {k: own[k] for k in ("AUDITFLOW_SIGNING_KEY", "AUDITFLOW_S3__ACCESS_KEY",
                                "AUDITFLOW_S3__SECRET_KEY")} == dict.fromkeys(
        ("AUDITFLOW_SIGNING_KEY", "AUDITFLOW_S3__ACCESS_KEY", "AUDITFLOW_S3__SECRET_KEY"), "")
    assert set(own) <= set(docs["auditflow-secrets"]["stringData"]) | {"AUDITFLOW_WITNESS_KEY"}
