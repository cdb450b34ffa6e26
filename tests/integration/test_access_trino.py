"""Trino's side of the RBAC matrix (issue #14): HTTPS only, password logins, and the file-based
access rules made from auditflow/roles.toml, each denial Trino's own.

Two tenants' events and alerts are written as sealed Parquet into the worm bucket under a
prefix of this module's own; the sealer creates the archive tables and views over them and
registers the partitions (query.ensure_tables / register_partitions, as `seal` does)."""

from __future__ import annotations

import datetime as dt
import json
import stat
import time
import uuid

import pytest
import requests
import trino
from click.testing import CliRunner

from auditflow import credentials, s3
from auditflow.archive import layout, query, sample
from auditflow.archive.store import S3Store
from auditflow.cli import cli
from auditflow.stack import tls, trino_access

N = {"a": 12, "b": 7}  # events per tenant: different, so a leaked row changes a count


def _alert(tenant: str, run: str, events: list[dict], start_ms: int) -> dict:
    return {
        "alert_id": f"alert-{tenant}", "rule_id": "IT-001", "title": "integration", "severity": "high",
        "severity_id": 4, "tenant_id": tenant, "entity_type": "user", "entity_value": "alice",
        "window_start": start_ms, "window_end": start_ms + 60000, "event_count": 1,
        "evidence": [{"event_id": e["event_id"], "chain_id": e["chain"]["chain_id"],
                      "sequence": e["chain"]["sequence"], "event_hash": e["chain"]["event_hash"]}
                     for e in events[:1]],
        "first_seen": start_ms, "last_seen": start_ms, "mitre": ["T1110"], "compliance": None,
        "dedup_key": f"IT-001|{tenant}|{run}", "created_at": start_ms + 1,
    }


@pytest.fixture(scope="module")
def archive(stack, cfg):
    run = uuid.uuid4().hex[:8]
    schema, prefix = f"it_access{run}", f"it/access-{run}/"
    tenants = {k: f"{name}-{run}" for k, name in (("a", "acme"), ("b", "globex"))}
    bucket = cfg.get("s3.worm_bucket")
    worm = S3Store(s3.client(cfg, "sealer"), bucket, prefix, mode=cfg.get("s3.retention_mode"))
    now = dt.datetime.now(dt.UTC)
    hour, start_ms = now.replace(minute=0, second=0, microsecond=0), int(now.timestamp() * 1000) - 60000
    lock = now + dt.timedelta(minutes=3)  # the worm bucket's objects are locked; keep ours short
    files = []
    for key, tenant in tenants.items():
        events = list(sample.chained(tenant, N[key], start_ms, step_ms=100, seed=3))
        for kind, records in (("events", events), ("alerts", [_alert(tenant, run, events, start_ms)])):
            part = layout.partition_path(tenant, hour)
            data = layout.parquet_bytes(layout.to_table(records, kind))
            worm.put(f"{kind}/{part}part-0.parquet", data, lock)
            files.append({"kind": kind, "tenant": tenant, "dt": f"{hour:%Y-%m-%d}", "hour": f"{hour:%H}"})
    try:
        query.ensure_tables(cfg, bucket, prefix, schema)  # as the sealer
        assert query.register_partitions(cfg, files, schema) == len(files)
        query.run_trino(cfg, f'CREATE SCHEMA hive."{schema}_empty"', schema, role="sealer")
        yield {"schema": schema, "tenants": tenants, "run": run}
    finally:
        for kind in layout.KINDS:
            query.run_trino(cfg, f"DROP TABLE IF EXISTS {kind}", schema, role="admin")
        for view, _sql in query.view_sql("trino"):
            query.run_trino(cfg, f"DROP VIEW IF EXISTS {view}", schema, role="admin")
        for name in (schema, f"{schema}_empty"):
            query.run_trino(cfg, f'DROP SCHEMA IF EXISTS "{name}"', schema, role="admin")


def _raw(cfg, user: str, password: str | None = None, scheme: str = "https", login: str | None = None):
    """A client outside query.trino_conn: any user name, any password (or none), logged in as
    `login` (default: the user)."""
    session = requests.Session()
    session.verify, session.trust_env = str(tls.ca_file(cfg)), False
    auth = trino.auth.BasicAuthentication(login or user, password) if password is not None else None
    return trino.dbapi.connect(host=cfg.get("trino.host"), port=int(cfg.get("trino.port")), user=user,
                               http_scheme=scheme, auth=auth, http_session=session,
                               catalog=cfg.get("trino.catalog"), schema=cfg.get("trino.schema"))


def run(cfg, sql: str, schema: str, role: str) -> list[tuple]:
    return query.run_trino(cfg, sql, schema, role=role).rows


def denied(cfg, sql: str, schema: str, role: str) -> str:
    with pytest.raises(trino.exceptions.TrinoUserError) as exc:
        run(cfg, sql, schema, role)
    assert exc.value.error_name == "PERMISSION_DENIED", exc.value
    assert "Access Denied" in exc.value.message, exc.value.message
    return exc.value.message


# ------------------------------------------------------------------ authentication, transport
def test_anonymous_is_refused(stack, cfg):
    with pytest.raises(trino.exceptions.HttpError, match="401"):
        _raw(cfg, "auditor").cursor().execute("SELECT 1")


def test_wrong_password_is_refused(stack, cfg):
    with pytest.raises(trino.exceptions.HttpError, match="401.*Invalid credentials"):
        _raw(cfg, "auditor", "not-the-secret").cursor().execute("SELECT 1")


def test_role_without_a_trino_section_cannot_log_in(stack, cfg):
    user, secret = credentials.identity(cfg, "operator").at("trino")
    with pytest.raises(trino.exceptions.HttpError, match="401"):
        _raw(cfg, user, secret).cursor().execute("SELECT 1")


def test_plain_http_is_refused(stack, cfg):
    # the port speaks TLS only: an HTTP request gets a TLS alert, not an HTTP answer
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{cfg.get('trino.host')}:{cfg.get('trino.port')}/v1/info", timeout=5)
    # (the trino client itself refuses to send a password over http; without one the server refuses)
    with pytest.raises(trino.exceptions.TrinoConnectionError):
        _raw(cfg, "auditor", scheme="http").cursor().execute("SELECT 1")


def test_a_logged_in_user_cannot_act_as_another(stack, cfg):
    user, secret = credentials.identity(cfg, "auditor").at("trino")
    conn = _raw(cfg, "sealer", secret, login=user)  # X-Trino-User: sealer, logged in as the auditor
    with pytest.raises(trino.exceptions.TrinoUserError, match="Access Denied"):
        conn.cursor().execute("SELECT 1")


def test_secrets_are_in_files_only_their_owner_reads(stack, cfg):
    etc = trino_access.etc_dir(cfg)
    for path in (etc / "config.properties", etc / trino_access.PASSWORD_FILE, etc.parent / "shared-secret"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    secret = credentials.identity(cfg, "auditor").at("trino")[1]
    assert secret not in (etc / trino_access.PASSWORD_FILE).read_text()  # hashes only


# ------------------------------------------------------------------ auditor
def test_auditor_reads_every_tenant(archive, cfg):
    rows = dict(run(cfg, "SELECT tenant_id, count(*) FROM events GROUP BY tenant_id", archive["schema"],
                    "auditor"))
    assert rows == {archive["tenants"][k]: n for k, n in N.items()}
    assert len(run(cfg, "SELECT * FROM user_activity", archive["schema"], "auditor")) == sum(N.values())


@pytest.mark.parametrize("sql", [
    'CREATE SCHEMA hive."{schema}_x"',
    "CREATE TABLE t (x varchar) WITH (external_location = 's3://worm/it/x', format = 'PARQUET')",
    "CREATE OR REPLACE VIEW v SECURITY INVOKER AS SELECT 1 AS x",
    "DROP TABLE events",
    "DROP VIEW user_activity",
    'DROP SCHEMA "{schema}_empty"',  # an empty one: a non-empty schema is refused before access is checked
    "ALTER TABLE events RENAME TO events2",
    "INSERT INTO events SELECT * FROM events WHERE false",
    "DELETE FROM events WHERE false",
    "CALL system.register_partition('{schema}', 'events', ARRAY['tenant', 'dt', 'hour'], "
    "ARRAY['x', '2026-01-01', '00'])",
    "CALL system.sync_partition_metadata('{schema}', 'events', 'ADD')",
])
@pytest.mark.parametrize("role", ["auditor", "tenant-auditor:a"])
def test_auditors_cannot_change_anything(archive, cfg, sql, role):
    role = role.replace(":a", f":{archive['tenants']['a']}")
    denied(cfg, sql.format(schema=archive["schema"]), archive["schema"], role)


def test_auditor_sees_nothing_outside_the_archive_schemas(archive, cfg):
    other = f"other_{archive['run']}"
    run(cfg, f'CREATE SCHEMA hive."{other}"', archive["schema"], "admin")
    try:
        run(cfg, f'CREATE VIEW hive."{other}".v SECURITY INVOKER AS SELECT 1 AS x', archive["schema"],
            "admin")
        for role in ("auditor", "sealer", f"tenant-auditor:{archive['tenants']['a']}"):
            denied(cfg, f'SELECT * FROM hive."{other}".v', archive["schema"], role)
    finally:
        run(cfg, f'DROP VIEW IF EXISTS hive."{other}".v', archive["schema"], "admin")
        run(cfg, f'DROP SCHEMA IF EXISTS hive."{other}"', archive["schema"], "admin")


# ------------------------------------------------------------------ sealer
def test_sealer_makes_schemas_tables_and_views_but_writes_no_rows(archive, cfg):
    schema = archive["schema"]
    run(cfg, "CREATE OR REPLACE VIEW it_probe SECURITY INVOKER AS SELECT event_id FROM events", schema,
        "sealer")
    assert len(run(cfg, "SELECT * FROM it_probe", schema, "auditor")) == sum(N.values())
    run(cfg, "DROP VIEW it_probe", schema, "sealer")
    other = f"{schema}_s"
    run(cfg, f'CREATE SCHEMA hive."{other}"', schema, "sealer")
    run(cfg, f'DROP SCHEMA hive."{other}"', schema, "sealer")
    # register_partition needs INSERT on the table (Trino's check); the Hive connector still
    # refuses any row written to an external table (hive.non-managed-table-writes-enabled=false)
    with pytest.raises(trino.exceptions.TrinoUserError, match="non-managed Hive table"):
        run(cfg, "INSERT INTO events SELECT * FROM events WHERE false", schema, "sealer")
    denied(cfg, "DELETE FROM events WHERE false", schema, "sealer")
    denied(cfg, 'CREATE SCHEMA hive."not_the_archive"', schema, "sealer")
    denied(cfg, f"CALL system.sync_partition_metadata('{schema}', 'events', 'ADD')", schema, "sealer")


# ------------------------------------------------------------------ tenant auditors
RELATIONS = ["events", "alerts"] + [name for name, _sql in query.view_sql("trino")]


def test_archive_views_run_as_the_invoker(archive, cfg):
    for name, _sql in query.view_sql("trino"):
        ddl = run(cfg, f"SHOW CREATE VIEW {name}", archive["schema"], "sealer")[0][0]
        assert "SECURITY INVOKER" in ddl, ddl


@pytest.mark.parametrize("relation", RELATIONS)
def test_tenant_auditor_sees_exactly_its_own_rows(archive, cfg, relation):
    schema, tenants = archive["schema"], archive["tenants"]
    everyone = dict(run(cfg, f"SELECT tenant_id, count(*) FROM {relation} GROUP BY tenant_id", schema,
                        "auditor"))
    assert set(everyone) == set(tenants.values()) or relation == "failed_logins_per_day", everyone
    for key, tenant in tenants.items():
        other = tenants["b" if key == "a" else "a"]
        role = f"tenant-auditor:{tenant}"
        mine = dict(run(cfg, f"SELECT tenant_id, count(*) FROM {relation} GROUP BY tenant_id", schema, role))
        assert mine == {t: n for t, n in everyone.items() if t == tenant}
        leaked = run(cfg, f"SELECT count(*) FROM {relation} WHERE tenant_id = '{other}'", schema, role)
        assert leaked == [(0,)]


def test_tenant_auditor_through_the_query_command(archive, cfg):
    tenant = archive["tenants"]["b"]
    res = CliRunner().invoke(cli, ["query", "--as", f"tenant-auditor:{tenant}", "--schema", archive["schema"],
                                   "--format", "json", "SELECT count(*) AS n FROM events"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {"n": N["b"]}
    res = CliRunner().invoke(cli, ["query", "--as", f"tenant-auditor:{tenant}", "--engine", "duckdb",
                                   "SELECT 1"])
    assert res.exit_code != 0 and "Trino only" in res.output


def test_a_definer_view_does_not_leak_other_tenants(archive, cfg):
    """Trino's default view mode, DEFINER, reads the tables as the view's owner, without the
    tenant's row filter. A sealer's definer view cannot be read at all (its owner lacks
    GRANT_SELECT), and the rules filter a view's own rows too, so even the admin's definer view
    shows a tenant only its rows."""
    schema, tenant = archive["schema"], archive["tenants"]["a"]
    definer = "CREATE OR REPLACE VIEW it_definer SECURITY DEFINER AS SELECT tenant_id FROM events"
    count = "SELECT tenant_id, count(*) FROM it_definer GROUP BY 1"
    try:
        run(cfg, definer, schema, "sealer")
        for role in ("auditor", f"tenant-auditor:{tenant}"):
            assert "View owner" in denied(cfg, count, schema, role)
        run(cfg, definer, schema, "admin")
        assert run(cfg, count, schema, f"tenant-auditor:{tenant}") == [(tenant, N["a"])]
    finally:
        run(cfg, "DROP VIEW IF EXISTS it_definer", schema, "admin")


def test_a_new_tenant_auditor_is_usable_at_once(archive, cfg):
    fresh = f"fresh-{uuid.uuid4().hex[:6]}"
    t0 = time.monotonic()
    assert run(cfg, "SELECT count(*) FROM events", archive["schema"], f"tenant-auditor:{fresh}") == [(0,)]
    assert time.monotonic() - t0 < 30
