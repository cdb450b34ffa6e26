"""Who may do what at the schema registry (auditflow/roles.toml, [roles.<role>.registry]), as the
real Apicurio registry enforces it with tokens of the local Keycloak realm: nothing anonymous or
over plain HTTP, readers read, only an admin-level role registers globally or changes the global
compatibility, and a wrong secret is refused. Each run uses subjects of its own."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlparse

import pytest
import requests
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError

from auditflow import registry
from auditflow.stack import tls

SR_JSON = {"Content-Type": "application/vnd.schemaregistry.v1+json"}
READERS = ["analyst", "normalize", "auditor", "router", "archive"]


def _schema(name: str) -> str:
    return json.dumps({"type": "record", "name": name, "fields": [{"name": "a", "type": "string"}]})


@pytest.fixture(scope="module")
def subject(stack, cfg) -> str:
    """A subject schema-admin registered, for the readers to read."""
    s = f"it-access-{uuid.uuid4().hex[:8]}-value"
    registry.client(cfg, "schema-admin").register_schema(s, Schema(_schema("R0"), "AVRO"))
    return s


def _call(cfg, method: str, path: str, role: str | None = None, auth=None, **kw) -> requests.Response:
    ca = str(tls.ca_file(cfg))
    if role is not None:
        auth = registry.identity(cfg, role)
    return requests.request(method, cfg.get("registry.url") + path, auth=auth, verify=ca, timeout=30, **kw)


@pytest.mark.parametrize("method,path,body", [
    ("GET", "/subjects", None),
    ("GET", "/config", None),
    ("POST", "/subjects/it-anon-value/versions", {"schema": _schema("A")}),
    ("PUT", "/config", {"compatibility": "NONE"}),
])
def test_anonymous_calls_are_refused(stack, cfg, method, path, body):
    r = _call(cfg, method, path, json=body, headers=SR_JSON)
    assert r.status_code == 401, r.text


def test_a_wrong_secret_is_refused(stack, cfg):
    user, _secret = registry.identity(cfg, "schema-admin")
    r = _call(cfg, "GET", "/subjects", auth=(user, "not-the-secret"))
    assert r.status_code == 401, r.text
    r = _call(cfg, "POST", "/subjects/it-wrong-value/versions", auth=(user, "not-the-secret"),
              json={"schema": _schema("W")}, headers=SR_JSON)
    assert r.status_code == 401, r.text


def test_a_role_without_registry_access_is_refused(stack, cfg):
    # the sealer has no [roles.sealer.registry]: it has no client in the realm at all
    with pytest.raises(SchemaRegistryError) as err:
        registry.client(cfg, "sealer").get_subjects()
    assert err.value.http_status_code == 401


def test_plain_http_is_refused(stack, cfg):
    u = urlparse(cfg.get("registry.url"))
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{u.netloc}{u.path}/subjects", auth=registry.identity(cfg, "schema-admin"),
                     timeout=10)


@pytest.mark.parametrize("role", READERS)
def test_readers_read_subjects_schemas_and_config(cfg, subject, role):
    client = registry.client(cfg, role)
    assert subject in client.get_subjects()
    latest = client.get_latest_version(subject)
    assert json.loads(client.get_schema(latest.schema_id).schema_str)["name"] == "R0"
    assert _call(cfg, "GET", "/config", role).status_code == 200
    # looking a schema up by its content is a read too (what a job does with a registered schema)
    assert client.lookup_schema(subject, Schema(_schema("R0"), "AVRO")).schema_id == latest.schema_id


# the jobs and producers too: they look their schemas up (registry.schema_id); only
# schema-admin registers
@pytest.mark.parametrize("role", ["analyst", "auditor", "router", "archive", "operator", "normalize",
                                  "detect", "ingest:acme"])
def test_readonly_roles_may_not_register_or_change_compatibility(cfg, subject, role):
    with pytest.raises(SchemaRegistryError) as err:
        registry.client(cfg, role).register_schema(subject, Schema(_schema("R1"), "AVRO"))
    assert err.value.http_status_code == 403
    r = _call(cfg, "PUT", f"/config/{subject}", role, json={"compatibility": "NONE"}, headers=SR_JSON)
    assert r.status_code == 403, r.text


@pytest.mark.parametrize("role", ["analyst", "normalize", "detect", "router", "archive", "operator"])
def test_only_admins_change_the_global_compatibility(cfg, stack, role):
    r = _call(cfg, "PUT", "/config", role, json={"compatibility": "NONE"}, headers=SR_JSON)
    assert r.status_code == 403, r.text
    level = _call(cfg, "GET", "/config", "analyst").json()["compatibilityLevel"]
    assert level == cfg.get("registry.compatibility")


def test_schema_admin_registers_and_changes_compatibility(cfg, subject):
    admin = registry.client(cfg, "schema-admin")
    s = f"it-access-{uuid.uuid4().hex[:8]}-value"
    first = admin.register_schema(s, Schema(_schema("S"), "AVRO"))
    assert admin.register_schema(s, Schema(_schema("S"), "AVRO")) == first      # idempotent
    assert admin.set_compatibility(s, "FULL_TRANSITIVE")["compatibility"] == "FULL_TRANSITIVE"
    assert admin.get_compatibility(s) == "FULL_TRANSITIVE"
    level = cfg.get("registry.compatibility")
    r = _call(cfg, "PUT", "/config", "schema-admin", json={"compatibility": level}, headers=SR_JSON)
    assert r.status_code == 200, r.text
