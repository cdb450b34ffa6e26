"""Auditor queries over the sealed archive: Trino (Hive connector) when configured, embedded
DuckDB over the same Parquet files otherwise. Both see tables `events` and `alerts`
(partition columns tenant, dt, hour) and the views in sql/views/trino/ (DuckDB uses
sql/views/duckdb/<view>.sql where its SQL differs)."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from auditflow import paths, s3
from auditflow.archive import layout
from auditflow.config import Config

VIEWS = paths.TRINO_VIEWS


@dataclass
class Result:
    columns: list[str]
    rows: list[tuple]
    engine: str


def view_sql(engine: str) -> list[tuple[str, str]]:
    out = []
    for p in sorted(VIEWS.glob("*.sql")):
        alt = paths.DUCKDB_VIEWS / p.name
        out.append((p.stem, (alt if engine == "duckdb" and alt.exists() else p).read_text()))
    return out


# ------------------------------------------------------------------ Trino
AUDITOR, SEALER = "auditor", "sealer"


def trino_conn(cfg: Config, schema: str | None = None, role: str = AUDITOR) -> Any:
    """A connection as `role` (auditor, tenant-auditor:<tenant>, sealer, admin): HTTPS trusting
    tls.ca_file, logged in with the role's Trino password; Trino's access rules decide the rest."""
    import requests
    import trino

    from auditflow import credentials
    from auditflow.stack import tls, trino_access

    t = cfg.section("trino")
    if role.startswith(f"{trino_access.TENANT_AUDITOR}:"):
        trino_access.ensure_tenant_auditor(cfg, role)
    user, secret = credentials.identity(cfg, role).at("trino")
    session = requests.Session()
    session.verify = str(tls.ca_file(cfg))
    # requests would let REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment replace the
    # session's CA (its verify is only a default): trust tls.ca_file and nothing else
    session.trust_env = False
    return trino.dbapi.connect(
        host=t["host"], port=int(t["port"]), user=user, http_scheme=t["http_scheme"],
        auth=trino.auth.BasicAuthentication(user, secret), http_session=session,
        catalog=t["catalog"], schema=schema or t["schema"], request_timeout=300)


def _exec(cur: Any, sql: str) -> list[tuple]:
    cur.execute(sql)
    return cur.fetchall()


def ensure_tables(cfg: Config, bucket: str, prefix: str, schema: str | None = None) -> None:
    """External, partitioned tables over the WORM files (Trino never writes there), and the views."""
    schema = schema or cfg.get("trino.schema")
    cat = cfg.get("trino.catalog")
    cur = trino_conn(cfg, schema, SEALER).cursor()
    _exec(cur, f'CREATE SCHEMA IF NOT EXISTS {cat}."{schema}"')
    for kind in layout.KINDS:
        _exec(cur, f"""CREATE TABLE IF NOT EXISTS {cat}."{schema}".{kind} (
    {layout.trino_columns(kind)},
    "tenant" varchar, "dt" varchar, "hour" varchar
) WITH (external_location = 's3://{bucket}/{prefix}{kind}', format = 'PARQUET',
        partitioned_by = ARRAY['tenant', 'dt', 'hour'])""")
    for _name, sql in view_sql("trino"):
        _exec(cur, invoker(sql))


def register_partitions(cfg: Config, files: Iterable[dict], schema: str | None = None) -> int:
    """Add the partitions of newly sealed files (from a digest) to the metastore."""
    schema = schema or cfg.get("trino.schema")
    cur = trino_conn(cfg, schema, SEALER).cursor()
    added = 0
    for kind, tenant, day, hour in sorted({(f["kind"], f["tenant"], f["dt"], f["hour"]) for f in files}):
        vals = ", ".join("'" + v.replace("'", "''") + "'" for v in (tenant, day, hour))
        try:
            _exec(cur, f"CALL system.register_partition('{schema}', '{kind}', "
                       f"ARRAY['tenant', 'dt', 'hour'], ARRAY[{vals}])")
            added += 1
        except Exception as exc:  # the trino client raises its own error types
            if getattr(exc, "error_name", None) != "ALREADY_EXISTS":  # a period earlier this hour
                raise
    return added


def invoker(view_ddl: str) -> str:
    """A view's DDL run with the querying user's rights (SECURITY INVOKER): Trino's default,
    DEFINER, reads the tables as the view's owner (the sealer), which has no row filter, so a
    tenant auditor would see every tenant's rows through the views."""
    out, n = re.subn(r"^(CREATE OR REPLACE VIEW\s+\S+)\s+AS\b", r"\1 SECURITY INVOKER AS", view_ddl,
                     count=1, flags=re.MULTILINE | re.IGNORECASE)
    if n != 1:
        raise ValueError(f"not a CREATE OR REPLACE VIEW <name> AS statement: {view_ddl[:80]!r}")
    return out


def run_trino(cfg: Config, sql: str, schema: str | None = None, role: str = AUDITOR) -> Result:
    cur = trino_conn(cfg, schema, role).cursor()
    rows = _exec(cur, sql)
    return Result([d[0] for d in cur.description or []], [tuple(r) for r in rows], "trino")


# ------------------------------------------------------------------ DuckDB
def duckdb_conn(cfg: Config, bucket: str, prefix: str, local_root: str | None = None) -> Any:
    import duckdb
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    if local_root:
        fs, base = pafs.LocalFileSystem(), local_root.rstrip("/") + "/"
    else:
        fs = s3.arrow_fs(cfg, "auditor")
        base = f"{bucket}/{prefix}"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    part = ds.partitioning(pa.schema([("tenant", pa.string()), ("dt", pa.string()), ("hour", pa.string())]),
                           flavor="hive")
    for kind in layout.KINDS:
        try:
            files = [f.path for f in fs.get_file_info(pafs.FileSelector(base + kind, recursive=True))
                     if f.is_file and f.path.endswith(".parquet")]
        except FileNotFoundError:
            files = []
        schema = layout.arrow_schema(kind)
        for name in ("tenant", "dt", "hour"):
            schema = schema.append(pa.field(name, pa.string()))
        # an explicit file list: no listing surprises, and an empty archive is an empty table
        data = ds.dataset(files, schema=schema, filesystem=fs, format="parquet", partitioning=part,
                          partition_base_dir=base + kind)
        con.register(f"{kind}_data", data)
        con.execute(f"CREATE OR REPLACE VIEW {kind} AS SELECT * FROM {kind}_data")
    for _name, sql in view_sql("duckdb"):
        con.execute(sql)
    return con


def run_duckdb(con: Any, sql: str) -> Result:
    cur = con.execute(sql)
    return Result([d[0] for d in cur.description or []], [tuple(r) for r in cur.fetchall()], "duckdb")


# ------------------------------------------------------------------ output
def _cell(v: Any) -> Any:
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dict):
        return {k: _cell(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_cell(x) for x in v]
    return v


def render(res: Result, fmt: str) -> str:
    rows = [[_cell(v) for v in r] for r in res.rows]
    if fmt == "json":
        return "\n".join(json.dumps(dict(zip(res.columns, r, strict=True)), ensure_ascii=False) for r in rows)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(res.columns)
        w.writerows([json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v for v in r]
                    for r in rows)
        return buf.getvalue().rstrip("\n")
    def show(v: Any) -> str:
        if v is None:
            return ""
        return json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else str(v)

    text = [[show(v) for v in r] for r in rows]
    widths = [max([len(c)] + [min(len(r[i]), 60) for r in text]) for i, c in enumerate(res.columns)]
    line = lambda cells: " | ".join(c[:60].ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    out = [line(res.columns), "-+-".join("-" * w for w in widths), *(line(r) for r in text)]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''}, {res.engine})")
    return "\n".join(out)
