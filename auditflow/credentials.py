"""Who a process is at each service: the role it acts as, its principal and its secret.

Roles are listed once, in auditflow/roles.toml. A role's secret comes from, in order:
- the environment, ``AUDITFLOW_SECRET_<PRINCIPAL>`` (upper case, ``-`` and ``:`` as ``_``), for a
  pod that gets it from a Kubernetes Secret;
- the file ``<credentials.dir>/<principal>.toml`` (mode 0600, refused when group- or
  world-readable): ``user`` and ``secret``, and optionally a table per service
  (``[kafka]``, ``[s3]``, ``[trino]``, ``[registry]``) with its own ``user`` and ``secret``
  where a managed service issues its own (a Confluent API key, AWS access keys);
- locally only (``credentials.generate``), a new random secret written to that file: `stack up`
  makes every role's, so the local services and clients agree.

A secret is never put on a command line, in a log line or in ``config show``.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from auditflow import paths
from auditflow.config import Config, ConfigError

ROLES_FILE = paths.PACKAGE / "roles.toml"
SERVICES = ("kafka", "s3", "trino", "registry")


@cache
def roles() -> dict[str, dict[str, Any]]:
    return tomllib.loads(ROLES_FILE.read_text())["roles"]


def principal(role: str) -> str:
    """``sealer`` -> ``sealer``; ``ingest:acme`` -> ``ingest-acme``."""
    base, _, tenant = role.partition(":")
    spec = roles().get(base)
    if spec is None:
        raise ConfigError(f"unknown role {base!r}; the roles are {', '.join(roles())} ({ROLES_FILE})")
    if spec.get("per_tenant") and not tenant:
        raise ConfigError(f"role {base!r} is per tenant: name it {base}:<tenant>")
    if tenant and not spec.get("per_tenant"):
        raise ConfigError(f"role {base!r} is not per tenant: name it {base}")
    if tenant and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}", tenant):
        # no '.': a tenant's raw topics are audit.raw.<tenant>.<source> (udfs/sources.py)
        raise ConfigError(f"tenant {tenant!r}: letters, digits, '_' and '-' only")
    return f"{base}-{tenant}" if tenant else base


@dataclass(frozen=True)
class Identity:
    role: str
    principal: str
    user: str
    secret: str
    per_service: dict[str, dict[str, str]]

    def at(self, service: str) -> tuple[str, str]:
        """(user, secret) at one service: its own table in the credentials file, else the role's."""
        own = self.per_service.get(service, {})
        return own.get("user", self.user), own.get("secret", self.secret)

    def __repr__(self) -> str:  # never the secret
        return f"Identity(role={self.role!r}, principal={self.principal!r})"


def directory(cfg: Config) -> Path:
    configured = cfg.get("credentials.dir")
    return Path(os.path.expanduser(configured)) if configured else cfg.path("stack.data_dir") / "secrets"


def _env_name(p: str) -> str:
    return "AUDITFLOW_SECRET_" + re.sub(r"[^A-Za-z0-9]", "_", p).upper()


def _read(path: Path) -> dict[str, Any]:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path} is readable by others (mode {stat.S_IMODE(mode):o}): chmod 600 {path}")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"credentials file {path} is not valid TOML: {exc}") from exc


def identity(cfg: Config, role: str, environ: dict[str, str] | None = None) -> Identity:
    env = os.environ if environ is None else environ
    p = principal(role)
    secret_env = env.get(_env_name(p))
    if secret_env:
        return Identity(role, p, p, secret_env, {})
    path = directory(cfg) / f"{p}.toml"
    if not path.exists():
        if not cfg.get("credentials.generate"):
            raise ConfigError(f"no credentials for role {role!r}: set {_env_name(p)} or write {path} "
                              "(user, secret; mode 0600)")
        from auditflow.stack.tls import write_private

        write_private(path, f'user = "{p}"\nsecret = "{secrets.token_urlsafe(24)}"\n'.encode())
    data = _read(path)
    if "secret" not in data:
        raise ConfigError(f"credentials file {path} has no 'secret'")
    per_service = {s: {k: str(v) for k, v in data[s].items()}
                   for s in SERVICES if isinstance(data.get(s), dict)}
    return Identity(role, p, str(data.get("user", p)), str(data["secret"]), per_service)


def all_roles(tenants: list[str] = ()) -> list[str]:
    """Every role name, each per-tenant role once per tenant given."""
    out = []
    for name, spec in roles().items():
        out.extend(f"{name}:{t}" for t in tenants) if spec.get("per_tenant") else out.append(name)
    return out
