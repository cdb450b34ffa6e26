"""Bring the local stack up and down, report its status. Idempotent; stops only what it started."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from auditflow import credentials
from auditflow.config import Config
from auditflow.stack import artifacts, tls
from auditflow.stack.process import (
    StackError,
    port_holder,
    port_open,
    read_pid,
    rss_mb,
    spawn,
    stop,
    wait_until,
)
from auditflow.stack.services import Context, Service, all_services


def context(cfg: Config, say: artifacts.Say) -> Context:
    data_dir = cfg.path("stack.data_dir")
    cache_dir = cfg.path("stack.cache_dir")
    for d in (data_dir / "run", data_dir / "logs", cache_dir):
        d.mkdir(parents=True, exist_ok=True)
    return Context(cfg=cfg, data_dir=data_dir, cache_dir=cache_dir, say=say)


def pid_file(ctx: Context, svc: Service) -> Path:
    return ctx.data_dir / "run" / f"{svc.name}.pid"


def log_file(ctx: Context, svc: Service) -> Path:
    return ctx.data_dir / "logs" / f"{svc.name}.log"


def fetch(ctx: Context) -> None:
    ctx.paths.update(artifacts.fetch_all(ctx.cache_dir, ctx.say, trino=ctx.cfg.get("stack.trino")))


def up(ctx: Context, only: list[str] | None = None) -> dict[str, float]:
    """Start every service that is not running; returns seconds spent per service."""
    fetch(ctx)
    # the CA and every role's secret exist before any service is configured with them
    tls.local_pki(ctx.cfg)
    for role in credentials.all_roles():
        credentials.identity(ctx.cfg, role)
    timings: dict[str, float] = {}
    timeout = float(ctx.cfg.get("stack.start_timeout_s"))
    for svc in all_services(ctx.cfg):
        if only and svc.name not in only:
            continue
        t0 = time.monotonic()
        pid = read_pid(pid_file(ctx, svc))
        if pid is None:
            for port in svc.ports(ctx):
                if port_open(ctx.host, port):
                    raise StackError(
                        f"{svc.name}: port {port} on {ctx.host} is already in use by "
                        f"{port_holder(port)}. Stop it, or change the port in your config."
                    )
            svc.prepare(ctx)
            cmd, env = svc.command(ctx)
            ctx.say(f"starting {svc.name}: {svc.description}")
            log = log_file(ctx, svc)
            log.write_text(f"--- started {time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(cmd)}\n")
            pid = spawn(cmd, log, pid_file(ctx, svc), env=env, cwd=ctx.service_dir(svc.name))
        else:
            ctx.say(f"{svc.name} already running (pid {pid})")
        wait_until(
            lambda s=svc: s.healthy(ctx), timeout, f"{svc.name} (pid {pid})",
            alive=lambda s=svc: read_pid(pid_file(ctx, s)) is not None,
            log_file=log_file(ctx, svc),
        )
        svc.after_start(ctx)
        timings[svc.name] = time.monotonic() - t0
        ctx.say(f"{svc.name} healthy after {timings[svc.name]:.1f}s")
    return timings


def down(ctx: Context, only: list[str] | None = None) -> list[str]:
    stopped = []
    for svc in reversed(all_services(ctx.cfg)):
        if only and svc.name not in only:
            continue
        pf = pid_file(ctx, svc)
        pid = read_pid(pf)
        if pid is not None:
            ctx.say(f"stopping {svc.name} (pid {pid})")
            stop(pid)
            stopped.append(svc.name)
        pf.unlink(missing_ok=True)
    return stopped


@dataclass
class Status:
    name: str
    ports: list[int]
    healthy: bool
    pid: int | None
    rss_mb: float


def status(ctx: Context) -> list[Status]:
    rows = []
    for svc in all_services(ctx.cfg):
        pid = read_pid(pid_file(ctx, svc))
        rows.append(Status(
            name=svc.name, ports=svc.ports(ctx)[:1], healthy=svc.healthy(ctx), pid=pid,
            rss_mb=rss_mb(pid) if pid else 0.0,
        ))
    return rows


def service_names(cfg: Config) -> list[str]:
    return [s.name for s in all_services(cfg)]
