"""The registry's grants come from roles.toml, and the Keycloak realm made of them has only
confidential client-credentials clients, each holding exactly its role's registry role."""

from __future__ import annotations

from auditflow import config, registry
from auditflow.stack.services import REGISTRY_ROLES, keycloak_realm, registry_grants


def test_grants_follow_roles_toml():
    grants = registry_grants()
    assert grants["schema-admin"] == grants["admin"] == "sr-admin"
    assert grants["analyst"] == grants["auditor"] == "sr-readonly"
    # the jobs and producers read: only the admins register or change compatibility
    assert grants["normalize"] == grants["detect"] == grants["ingest"] == "sr-readonly"
    assert {r for r, g in grants.items() if g != "sr-readonly"} == {"admin", "schema-admin"}
    assert set(grants.values()) <= set(REGISTRY_ROLES.values())
    assert grants["witness"] == "sr-readonly"  # `verify --watch` looks the alert schema up
    for none in ("sealer", "tenant-auditor"):   # no [roles.<role>.registry]: no client
        assert none not in grants


def test_realm_clients_are_confidential_service_accounts():
    realm = keycloak_realm("r", {"analyst": ("s1", "sr-readonly"), "schema-admin": ("s2", "sr-admin")})
    assert realm["sslRequired"] == "all"
    for c in realm["clients"]:
        assert c["publicClient"] is False and c["serviceAccountsEnabled"] is True
        assert not (c["standardFlowEnabled"] or c["directAccessGrantsEnabled"] or c["implicitFlowEnabled"])
    roles = {u["serviceAccountClientId"]: u["realmRoles"] for u in realm["users"]}
    assert roles == {"analyst": ["sr-readonly"], "schema-admin": ["sr-admin"]}


def test_tenants_of_a_role_share_one_registry_client(tmp_path):
    cfg = config.load(overrides=[f"credentials.dir={tmp_path}"], environ={})
    acme, other = registry.identity(cfg, "ingest:acme"), registry.identity(cfg, "ingest:other")
    assert acme == other and acme[0] == "ingest"
    assert (tmp_path / "registry-ingest.toml").stat().st_mode & 0o077 == 0
    assert registry.identity(cfg, "analyst")[0] == "analyst"
