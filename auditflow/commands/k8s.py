"""`auditflow k8s`: the pipeline's Kubernetes manifests, rendered from the code (auditflow/k8s.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from auditflow import k8s
from auditflow.config import ConfigError


@click.group("k8s")
def command() -> None:
    """Kubernetes manifests of the pipeline (Flink Kubernetes Operator), generated from this code.

    See k8s/README.md for the image build, the operator install and the kubectl apply order.
    """


@command.command("render")
@click.option("--config-map", default="k8s/flink/auditflow-config.yaml", show_default=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="File with the auditflow-config ConfigMap the pods read.")
@click.option("--out", default="k8s/generated", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder to write the manifests to.")
@click.option("--image", default=k8s.IMAGE, show_default=True, help="Job image (k8s/Dockerfile).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if --out is not what would be written.")
def render(config_map: Path, out: Path, image: str, check: bool) -> None:
    """Write a FlinkDeployment per pipeline job (normalize, detect, archive) and a Deployment
    each for the alert router (`auditflow alerts route`), the sealer (`auditflow seal --loop`),
    the witness (`auditflow witness --loop`) and continuous verification (`verify --watch`).

    \b
    Each FlinkDeployment carries the job arguments and Flink options that `auditflow jobs start
    JOB` submits with (auditflow.pipeline.submission), so the two cannot drift apart. Settings
    come from the ConfigMap file, read as the pods read it: its AUDITFLOW_* variables over the
    built-in defaults. Your auditflow.toml, --profile and --set do not count: the pods never see
    them. Settings the pipeline would run badly with are refused (e.g. a parallelism above a raw
    topic's partition count).

    \b
    Change a setting: edit the ConfigMap (e.g. AUDITFLOW_FLINK__PARALLELISM), render, review the
    diff, then apply both (k8s/README.md).

    \b
    Examples (from the repository root):
      auditflow k8s render
      auditflow k8s render --check              # CI: exit 1 when k8s/generated is stale
      auditflow k8s render --image ghcr.io/acme/auditflow:1.4.0 --out /tmp/manifests
    """
    try:
        files = k8s.manifests(k8s.pod_config(config_map), image)
    except ConfigError as exc:
        raise click.ClickException(f"{config_map}: {exc}") from exc
    if check:
        if stale := k8s.stale(out, files):
            click.echo(f"{out} is stale: {', '.join(stale)}; run `auditflow k8s render`", err=True)
            sys.exit(1)
        click.echo(f"{out}: up to date ({len(files)} files)")
        return
    changed = k8s.write(out, files)
    done = f"changed {', '.join(changed)}" if changed else f"up to date ({len(files)} files)"
    click.echo(f"{out}: {done}")
