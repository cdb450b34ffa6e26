"""Who may log in to the local Trino and what each may do: its password file and the rules of
its file-based access control, both made from auditflow/roles.toml (`[roles.<role>.trino]`).

Each role's Trino user logs in with its secret (credentials.identity(cfg, role).at("trino"));
the password file holds only PBKDF2 hashes of them. The rules deny by default: a user without a
rule cannot see a catalog, a table or call a procedure. The archive schemas are trino.schema and
those matching trino.extra_schemas (the integration tests' own it_<run> schemas, locally).

A tenant auditor ("tenant-auditor:<tenant>") gets its user and rules on first use: locally its
secret is made then, and `ensure_tenant_auditor` adds it to both files, which Trino re-reads
every trino.refresh_s seconds (file.refresh-period, security.refresh-period).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any

from auditflow import credentials
from auditflow.config import Config
from auditflow.stack import tls

# Trino 476's file authenticator checks PBKDF2WithHmacSHA1 (EncryptionUtil; at least 1000
# iterations) with a key as long as the stored hash; our secrets are random, so this is plenty
PBKDF2_ITERATIONS = 65536
PASSWORD_FILE, RULES_FILE = "password.db", "rules.json"
TENANT_AUDITOR = "tenant-auditor"
ALL_TABLE_PRIVILEGES = ["SELECT", "INSERT", "DELETE", "UPDATE", "OWNERSHIP", "GRANT_SELECT"]


def password_line(user: str, secret: str, salt: bytes | None = None,
                  iterations: int = PBKDF2_ITERATIONS) -> str:
    """One line of Trino's password file: user:iterations:salt-hex:hash-hex."""
    if ":" in user or "\n" in user:
        raise ValueError(f"Trino user {user!r}: no ':' or newline")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha1", secret.encode(), salt, iterations, dklen=32)
    return f"{user}:{iterations}:{salt.hex()}:{digest.hex()}"


def trino_roles(tenants: list[str] = ()) -> list[str]:
    """Every role with a Trino section, each per-tenant one once per tenant given."""
    specs = credentials.roles()
    return [r for r in credentials.all_roles(sorted(set(tenants))) if "trino" in specs[r.partition(":")[0]]]


def archive_schemas(cfg: Config) -> str:
    """A Java regex (Trino matches it against the whole name) of the archive schemas."""
    parts = [re.escape(cfg.get("trino.schema"))]
    extra = cfg.get("trino.extra_schemas")
    return "|".join(parts + ([f"(?:{extra})"] if extra else []))


def rules(cfg: Config, users: dict[str, str]) -> dict[str, Any]:
    """The access-control rules (first match wins; no match is a denial) for `users`, role ->
    Trino user name."""
    catalog, schemas = cfg.get("trino.catalog"), archive_schemas(cfg)
    out: dict[str, list[dict[str, Any]]] = {
        "catalogs": [], "schemas": [], "tables": [], "procedures": [], "queries": [],
        "system_information": [],
    }
    for role, user in users.items():
        base, _, tenant = role.partition(":")
        spec = credentials.roles()[base]["trino"]
        who = {"user": re.escape(user)}
        if spec.get("superuser"):
            out["catalogs"].append({**who, "catalog": ".*", "allow": "all"})
            out["schemas"].append({**who, "schema": ".*", "owner": True})
            out["tables"].append({**who, "privileges": ALL_TABLE_PRIVILEGES})
            out["procedures"].append({**who, "privileges": ["EXECUTE", "GRANT_EXECUTE"]})
            out["queries"].append({**who, "allow": ["execute", "view", "kill"]})
            out["system_information"].append({**who, "allow": ["read", "write"]})
            continue
        where = {"catalog": re.escape(catalog), "schema": schemas}
        out["catalogs"].append({**who, "catalog": re.escape(catalog), "allow": spec.get("catalog", "none")})
        if spec.get("owner"):
            out["schemas"].append({**who, **where, "owner": True})
        privileges = [p.upper() for p in spec.get("tables", [])]
        table: dict[str, Any] = {**who, **where, "privileges": privileges}
        if spec.get("row_filter"):
            # on every table and view of the archive schemas: a view sees the filtered rows
            # (views are SECURITY INVOKER), and a view's own rows are filtered again
            table["filter"] = spec["row_filter"].format(tenant=tenant)
        out["tables"].append(table)
        if spec.get("procedures"):
            out["procedures"].append({**who, "catalog": re.escape(catalog), "schema": "system",
                                      "procedure": "|".join(map(re.escape, spec["procedures"])),
                                      "privileges": ["EXECUTE"]})
    # everyone else: nothing (no rule matches); any user may run queries and see only its own
    out["queries"].append({"allow": ["execute"]})
    return out


def etc_dir(cfg: Config) -> Path:
    """The local Trino's configuration directory (services.Trino writes it)."""
    return cfg.path("stack.data_dir") / "trino" / "etc"


def tenants_with_secrets(cfg: Config) -> list[str]:
    """Tenants whose tenant-auditor secret exists in the local credentials directory."""
    d = credentials.directory(cfg)
    prefix = f"{TENANT_AUDITOR}-"
    return sorted(p.stem[len(prefix):] for p in d.glob(f"{prefix}*.toml")) if d.is_dir() else []


def _replace(path: Path, data: bytes) -> None:
    """Write 0600 next to it and rename over it: Trino's reload never reads half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    tls.write_private(tmp, data)
    os.replace(tmp, path)


def write(cfg: Config, etc: Path, tenants: list[str] = ()) -> list[str]:
    """The password file and rules for every Trino role (tenant auditors: those given and those
    with a local secret). Returns the Trino users written."""
    users, lines = {}, []
    for role in trino_roles([*tenants, *tenants_with_secrets(cfg)]):
        user, secret = credentials.identity(cfg, role).at("trino")
        users[role] = user
        lines.append(password_line(user, secret))
    etc.mkdir(parents=True, exist_ok=True)
    _replace(etc / PASSWORD_FILE, ("\n".join(lines) + "\n").encode())
    _replace(etc / RULES_FILE, (json.dumps(rules(cfg, users), indent=2) + "\n").encode())
    return list(users.values())


def ensure_tenant_auditor(cfg: Config, role: str) -> None:
    """Locally, on first use of a tenant auditor: add its user and rules to the running stack's
    Trino and wait for Trino to re-read them. Elsewhere (a managed Trino) nothing is done here."""
    etc = etc_dir(cfg)
    if not cfg.get("credentials.generate") or not (etc / PASSWORD_FILE).exists():
        return
    user, _secret = credentials.identity(cfg, role).at("trino")
    known = {ln.split(":", 1)[0] for ln in (etc / PASSWORD_FILE).read_text().splitlines()}
    if user in known:
        return
    write(cfg, etc, [role.partition(":")[2]])
    # both files are polled every refresh_s; a modification is seen at the next poll
    time.sleep(2 * float(cfg.get("trino.refresh_s")) + 1)
