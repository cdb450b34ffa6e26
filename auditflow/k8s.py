"""Kubernetes manifests of the pipeline, rendered from the code that runs it locally.

Each pipeline job gets a FlinkDeployment (Flink Kubernetes Operator, application mode) with the
job arguments and Flink options of `pipeline.submission`, the call `auditflow jobs start` makes
too. The alert router, the sealer loop, the witness and `verify --watch` get a Deployment
each. Settings come from the ConfigMap in k8s/flink/auditflow-config.yaml, read as the pods
read it (its AUDITFLOW_* variables over the built-in defaults), so the parallelism and buckets
written here are the ones the jobs see at run time. `auditflow k8s render` writes the files;
tests/unit/test_k8s_manifests.py fails when the committed ones are stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml

from auditflow import config, flink, pipeline, tenants
from auditflow.config import Config, ConfigError

IMAGE = "registry.example.com/auditflow:0.1.0"
CONFIG_MAP, SECRET = "auditflow-config", "auditflow-secrets"
# where k8s/Dockerfile puts the venv and the checkout
PYTHON = "/opt/venv/bin/python"
JOBS_DIR = "/opt/auditflow/jobs"

# Modest starting points per job (the rendered files say why); the operator makes each of them
# the pods' request and limit.
JOB_MANAGER = {"memory": "1600m", "cpu": 0.5}
TASK_MANAGER = {"memory": "2400m", "cpu": 1}
ROUTER_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
SEALER_RESOURCES = {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}


def config_map_env(path: Path) -> dict[str, str]:
    """The data of the auditflow ConfigMap in `path` (a multi-document YAML file)."""
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc.get("kind") == "ConfigMap" and doc["metadata"]["name"] == CONFIG_MAP:
            return {k: "" if v is None else str(v) for k, v in (doc.get("data") or {}).items()}
    raise ConfigError(f"{path} has no ConfigMap named {CONFIG_MAP}")


def pod_config(config_map: Path) -> Config:
    """The configuration a pod loads: built-in defaults + the ConfigMap's variables (no file)."""
    return config.load(environ=config_map_env(config_map), cwd_file=False)


def check(cfg: Config) -> None:
    """Refuse settings the pipeline would run badly with, naming the ConfigMap variable."""
    path = cfg.get("kafka.topics_file")
    raw_partitions = tenants.raw_template(Path(path) if path else None).partitions
    _job_args, options = pipeline.submission(cfg, "normalize", [])
    parallelism = int(options["parallelism.default"])
    # a raw partition is read by one subtask: beyond a tenant's partition count, its subtasks
    # idle (README); every tenant's raw topics have the [raw] partitions of the topics file
    if parallelism > raw_partitions:
        raise ConfigError(
            f"AUDITFLOW_FLINK__PARALLELISM={parallelism} exceeds the {raw_partitions} partitions "
            "of a tenant's raw topics ([raw] in schemas/topics.toml), which the normalize job "
            "reads: lower it, or add partitions first (k8s/README.md)")
    grace_s, interval_ms = int(cfg.get("archive.grace_s")), int(cfg.get("flink.checkpoint_interval_ms"))
    if grace_s * 1000 <= interval_ms:
        raise ConfigError(
            f"AUDITFLOW_ARCHIVE__GRACE_S={grace_s} must exceed AUDITFLOW_FLINK__CHECKPOINT_INTERVAL_MS="
            f"{interval_ms} plus a checkpoint's duration: the archive job commits its files on "
            "checkpoints, so the sealer would seal periods before their last files are there")


def _labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "auditflow", "app.kubernetes.io/component": component}


def _pod_env(*secrets: str) -> dict[str, Any]:
    """Every container reads the configuration from the ConfigMap and the Secret (and the extra
    Secrets, whose values win)."""
    return {"envFrom": [{"configMapRef": {"name": CONFIG_MAP}},
                        *({"secretRef": {"name": s}} for s in (SECRET, *secrets))]}


def _secret_env(name: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": SECRET, "key": key, "optional": True}}}


def flink_deployment(cfg: Config, job: str, image: str) -> dict[str, Any]:
    """The FlinkDeployment of pipeline job `job`: args and options from pipeline.submission."""
    job_args, options = pipeline.submission(cfg, job, [])
    flink_version = version("apache-flink")  # the image's Flink is the same release (tests check)
    state = f"s3://{cfg.get('s3.staging_bucket')}/flink/{job}"
    return {
        "apiVersion": "flink.apache.org/v1beta1",
        "kind": "FlinkDeployment",
        "metadata": {"name": f"auditflow-{job}", "labels": _labels(job)},
        "spec": {
            "image": image,
            "flinkVersion": "v" + "_".join(flink_version.split(".")[:2]),
            "serviceAccount": "flink",  # created by the operator's Helm chart
            "flinkConfiguration": {
                **options,
                "taskmanager.numberOfTaskSlots": str(cfg.get("flink.taskmanager_slots")),
                # checkpoints carry the Kafka positions and the job's state (normalize: the chains);
                # the interval and retention are the job's own (AUDITFLOW_* config)
                "execution.checkpointing.dir": f"{state}/checkpoints",
                "execution.checkpointing.savepoint-dir": f"{state}/savepoints",
                # a restarted JobManager resumes the job from its last checkpoint
                "high-availability.type": "kubernetes",
                "high-availability.storageDir": f"{state}/ha",
                "python.executable": PYTHON,
                "python.client.executable": PYTHON,
                **flink.s3_options(cfg),
            },
            "podTemplate": {"spec": {"containers": [{
                "name": "flink-main-container",
                **_pod_env(),
                # Flink's S3 filesystem reads its keys from the AWS variables (empty: the pod's role)
                "env": [_secret_env("AWS_ACCESS_KEY_ID", "AUDITFLOW_S3__ACCESS_KEY"),
                        _secret_env("AWS_SECRET_ACCESS_KEY", "AUDITFLOW_S3__SECRET_KEY")],
            }]}},
            "jobManager": {"resource": JOB_MANAGER},
            "taskManager": {"resource": TASK_MANAGER},
            "job": {
                "jarURI": f"local:///opt/flink/opt/flink-python-{flink_version}.jar",
                "entryClass": "org.apache.flink.client.python.PythonDriver",
                "args": ["-py", f"{JOBS_DIR}/{job}.py", *job_args],
                "parallelism": int(options["parallelism.default"]),
                # every pipeline job is stateful: an upgrade or restart resumes from the last
                # checkpoint, so Kafka positions, windows and the normalize job's chains continue
                "upgradeMode": "last-state",
                "state": "running",
            },
        },
    }


def deployment(name: str, command: list[str], image: str, resources: Mapping[str, Any],
               env: Mapping[str, str] | None = None, secrets: tuple[str, ...] = (),
               mounts: Mapping[str, tuple[str, dict[str, Any]]] | None = None) -> dict[str, Any]:
    """One replica of an auditflow command; Recreate, so two never run at once. `mounts`:
    volume name -> (mount path, volume source)."""
    labels = _labels(name)
    container: dict[str, Any] = {"name": name, "image": image, "command": command, **_pod_env(*secrets)}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    container["resources"] = dict(resources)
    pod: dict[str, Any] = {
        # SIGTERM: the router finishes or leaves uncommitted the alert in progress; a sealer
        # stopped mid-period seals it again on its next run
        "terminationGracePeriodSeconds": 60,
        "containers": [container],
    }
    if mounts:
        container["volumeMounts"] = [{"name": n, "mountPath": path, "readOnly": "configMap" in src}
                                     for n, (path, src) in mounts.items()]
        pod["volumes"] = [{"name": n, **src} for n, (_path, src) in mounts.items()]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"auditflow-{name}", "labels": labels},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


# the commands the Deployments run (tests check they parse with the real CLI)
ROUTER_COMMAND = ["auditflow", "alerts", "route"]
SEALER_COMMAND = ["auditflow", "seal", "--loop"]
TRUST_DIR = "/etc/auditflow/trust"  # the auditflow-trust ConfigMap (k8s/flink/auditflow-config.yaml)
WITNESS_SECRET, TRUST_CONFIG_MAP = "auditflow-witness-secrets", "auditflow-trust"
WITNESS_COMMAND = ["auditflow", "witness", "--loop", "--public-key", f"{TRUST_DIR}/archive-signing.pem"]
WATCH_COMMAND = ["auditflow", "verify", "--watch", "--public-key", f"{TRUST_DIR}/archive-signing.pem",
                 "--witness", f"{TRUST_DIR}/witness.pem", "--state", "/var/lib/auditflow/verify-watch.json"]
SMALL_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
GENERATED = ("# Generated by `auditflow k8s render` (auditflow/k8s.py) from\n"
             "# k8s/flink/auditflow-config.yaml; edit those and render again.\n")


def _header(*lines: str) -> str:
    return GENERATED + "".join(f"# {line}\n" for line in lines)


class _Dumper(yaml.SafeDumper):
    """Plain YAML: a dict used twice (labels) is written twice, not as an &anchor."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def manifests(cfg: Config, image: str = IMAGE) -> dict[str, str]:
    """File name -> YAML text of every manifest; `check`s the settings first."""
    check(cfg)
    docs: dict[str, tuple[str, dict[str, Any]]] = {}
    for job in pipeline.JOBS:
        docs[f"{job}.yaml"] = (_header(
            f"jobs/{job}.py in application mode. job.args and the Flink options are those",
            f"`auditflow jobs start {job}` submits with (auditflow.pipeline.submission).",
            f"Resources, modest: JobManager {JOB_MANAGER['memory']} / {JOB_MANAGER['cpu']} CPU (the Python "
            f"client runs once), TaskManagers {TASK_MANAGER['memory']} / {TASK_MANAGER['cpu']} CPU",
            "each (a Python worker per slot beside the JVM); raise them with the event rate.",
        ), flink_deployment(cfg, job, image))
    docs["alerts-router.yaml"] = (_header(
        "`auditflow alerts route`: alerts to the destinations in AUDITFLOW_ALERTS__DESTINATIONS.",
        "One replica with a fixed static-membership id (not the pod's random name), so a restart",
        "gets its partitions back at once. Resources, modest: it holds one alert at a time.",
    ), deployment("alerts-router", ROUTER_COMMAND, image, ROUTER_RESOURCES,
                  env={"AUDITFLOW_ALERTS__INSTANCE_ID": "auditflow-alerts-router"}))
    docs["sealer.yaml"] = (_header(
        "`auditflow seal --loop`: closed periods of the archive job's staging files into the",
        "signed WORM archive, every archive.loop_interval_s; one replica at a time. Memory: it",
        "decodes one period's events (archive.period_s) at once, so it grows with hourly volume.",
    ), deployment("sealer", SEALER_COMMAND, image, SEALER_RESOURCES))
    trust = {"trust": (TRUST_DIR, {"configMap": {"name": TRUST_CONFIG_MAP}})}
    docs["witness.yaml"] = (_header(
        "`auditflow witness --loop`: co-signs each new digest that extends the last one it saw,",
        "every witness.interval_s, with its own key and bucket (auditflow-witness-secrets, read",
        "last). Run it where the archive's operator cannot change it: another cluster or account.",
    ), deployment("witness", WITNESS_COMMAND, image, SMALL_RESOURCES, secrets=(WITNESS_SECRET,),
                  mounts=trust))
    docs["verify-watch.yaml"] = (_header(
        "`auditflow verify --watch`: verifies each new digest as it appears and raises INTEGRITY-001",
        "(critical) on watch.alerts_topic for a break, a gap, a missing cosignature, a changed",
        "sealed object or a digest that stops arriving. Its state is on an emptyDir: a new pod",
        "verifies the whole archive once, then continues incrementally.",
    ), deployment("verify-watch", WATCH_COMMAND, image, SEALER_RESOURCES,
                  mounts={**trust, "state": ("/var/lib/auditflow", {"emptyDir": {}})}))
    return {name: header + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=100)
            for name, (header, doc) in docs.items()}


def stale(out: Path, files: Mapping[str, str]) -> list[str]:
    """The files in `out` that differ from `files`, are missing, or are left over (*.yaml)."""
    present = {p.name for p in out.glob("*.yaml")} if out.is_dir() else set()
    return sorted(name for name in present | set(files)
                  if name not in files or name not in present or (out / name).read_text() != files[name])


def write(out: Path, files: Mapping[str, str]) -> list[str]:
    """Write `files` into `out`, removing manifests no longer rendered; the names changed."""
    changed = stale(out, files)
    out.mkdir(parents=True, exist_ok=True)
    for name in changed:
        if name in files:
            (out / name).write_text(files[name])
        else:
            (out / name).unlink()
    return changed
