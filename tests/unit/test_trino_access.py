"""The local Trino's password file and access rules (auditflow/stack/trino_access.py), made from
auditflow/roles.toml; tests/integration/test_access_trino.py checks Trino enforces them."""

import hashlib
import json
import re
import stat

from auditflow import config, credentials
from auditflow.archive import query
from auditflow.stack import trino_access


def _cfg(tmp_path, *overrides):
    return config.load(overrides=[f"stack.data_dir={tmp_path}", *overrides], environ={}, cwd_file=False)


def _by_user(rules: dict, section: str, user: str) -> list[dict]:
    return [r for r in rules[section] if re.fullmatch(r.get("user", ".*"), user)]


def test_password_line_is_trinos_pbkdf2_format():
    line = trino_access.password_line("auditor", "s3cret", salt=b"\x01" * 16, iterations=1000)
    user, iterations, salt, digest = line.split(":")
    assert (user, iterations, salt) == ("auditor", "1000", "01" * 16)
    # what Trino 476's EncryptionUtil computes: PBKDF2WithHmacSHA1, key as long as the hash
    assert digest == hashlib.pbkdf2_hmac("sha1", b"s3cret", b"\x01" * 16, 1000, dklen=32).hex()
    assert trino_access.PBKDF2_ITERATIONS >= 1000  # Trino's minimum


def test_only_roles_with_a_trino_section_get_a_user(tmp_path):
    cfg = _cfg(tmp_path)
    etc = tmp_path / "trino" / "etc"
    users = trino_access.write(cfg, etc, ["acme"])
    assert users == ["admin", "sealer", "auditor", "tenant-auditor-acme"]
    lines = (etc / trino_access.PASSWORD_FILE).read_text().splitlines()
    assert [ln.split(":")[0] for ln in lines] == users
    for name in (trino_access.PASSWORD_FILE, trino_access.RULES_FILE):
        assert stat.S_IMODE((etc / name).stat().st_mode) == 0o600
    secret = credentials.identity(cfg, "auditor").at("trino")[1]
    assert secret not in (etc / trino_access.PASSWORD_FILE).read_text()


def test_a_tenant_auditor_with_a_local_secret_is_kept(tmp_path):
    cfg = _cfg(tmp_path)
    credentials.identity(cfg, "tenant-auditor:globex")  # first use made its secret
    assert trino_access.tenants_with_secrets(cfg) == ["globex"]
    assert "tenant-auditor-globex" in trino_access.write(cfg, tmp_path / "etc")


def test_rules_grant_each_role_only_its_part(tmp_path):
    cfg = _cfg(tmp_path)
    trino_access.write(cfg, tmp_path / "etc", ["acme"])
    rules = json.loads((tmp_path / "etc" / trino_access.RULES_FILE).read_text())
    schemas = rules["tables"][-1]["schema"]
    assert all(re.fullmatch(schemas, s) for s in ("audit", "it_e2e1234"))
    assert not any(re.fullmatch(schemas, s) for s in ("smoke", "default", "auditx", "it_x;drop"))

    auditor = _by_user(rules, "tables", "auditor")[0]
    assert auditor["privileges"] == ["SELECT"] and "filter" not in auditor
    assert _by_user(rules, "catalogs", "auditor")[0]["allow"] == "read-only"
    assert not _by_user(rules, "schemas", "auditor") and not _by_user(rules, "procedures", "auditor")

    tenant = _by_user(rules, "tables", "tenant-auditor-acme")[0]
    assert tenant["filter"] == "tenant_id = 'acme'" and tenant["privileges"] == ["SELECT"]
    assert tenant["user"] != "tenant-auditor-.*"  # one rule per tenant, its name only
    assert not _by_user(rules, "tables", "tenant-auditor-globex")

    sealer = _by_user(rules, "tables", "sealer")[0]
    assert set(sealer["privileges"]) == {"SELECT", "INSERT", "OWNERSHIP"}
    assert _by_user(rules, "procedures", "sealer")[0]["procedure"] == "register_partition"
    assert _by_user(rules, "schemas", "sealer")[0]["owner"] is True

    assert _by_user(rules, "system_information", "admin")
    assert not _by_user(rules, "system_information", "sealer")
    # no rule for a role without a Trino section: Trino denies what no rule grants
    assert not _by_user(rules, "catalogs", "operator") and not _by_user(rules, "tables", "operator")
    assert "impersonation" not in rules  # absent: nobody may act as another user


def test_elsewhere_only_the_archive_schema_is_granted(tmp_path):
    cfg = _cfg(tmp_path, "trino.extra_schemas=")
    assert trino_access.archive_schemas(cfg) == "audit"


def test_views_are_created_security_invoker():
    for name, sql in query.view_sql("trino"):
        assert f"CREATE OR REPLACE VIEW {name} SECURITY INVOKER AS" in query.invoker(sql)
