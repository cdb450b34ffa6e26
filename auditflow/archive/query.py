"""Auditor queries over the sealed archive: Trino (Hive connector) when configured, embedded
DuckDB over the same Parquet files otherwise. Both see tables `events` and `alerts`
(partition columns tenant, dt, hour), `archive_events` and `archive_alerts` (the same rows,
read from the compacted copy of each compacted tenant-day and from the hourly files for the
rest, never both: layout.query_files), and the views in sql/views/trino/, which read the
latter (DuckDB uses sql/views/duckdb/<view>.sql where its SQL differs).

In Trino, `events` keeps every hourly partition (the sealed files as sealed). Until `seal
compact` first runs in a schema, archive_events is `events`; from then on it is the union of
`events_open` (the same location, only the hourly partitions of days not compacted) and
`events_compacted` (one partition per tenant-day, located at its newest copy's directory), so
a 30-day query plans 300 partitions for 10 tenants instead of 7,200."""

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
    """Every view in creation order: archive_events and archive_alerts first (the views over
    them need them), as plain `<kind>`; Trino replaces them by the union once a day is
    compacted (sync_union), in DuckDB `<kind>` already reads the chosen files."""
    out = [(f"archive_{kind}", f"CREATE OR REPLACE VIEW archive_{kind} AS SELECT * FROM {kind}")
           for kind in layout.KINDS]
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
        _exec(cur, _table_ddl(cat, schema, kind, bucket, prefix))
    union = _has_union(cur, schema)
    for name, sql in view_sql("trino"):
        _exec(cur, invoker(_union_view(name.removeprefix("archive_")) if union and name.startswith("archive_")
                           else sql))


def _has_union(cur: Any, schema: str) -> bool:
    """Whether `seal compact` made the union's tables in this schema (only it creates them)."""
    return bool(_exec(cur, "SELECT 1 FROM information_schema.tables WHERE table_schema = "
                           f"'{schema}' AND table_name = 'events_compacted'"))


def _union_view(kind: str) -> str:
    cols = ", ".join(f'"{f.name}"' for f in layout.arrow_schema(kind))
    return f"""CREATE OR REPLACE VIEW archive_{kind} AS
SELECT * FROM {kind}_open
UNION ALL
SELECT {cols}, "tenant", "dt", "hour" FROM {kind}_compacted"""


def _table_ddl(cat: str, schema: str, table: str, bucket: str, prefix: str) -> str:
    """`<kind>` and `<kind>_open` over the hourly files, `<kind>_compacted` over the copies
    (`hour` is a column in them; each tenant-day partition is located at its copy's directory)."""
    kind, _, which = table.partition("_")
    if which == "compacted":
        where, cols, parts = f"{layout.COMPACTED}{kind}", '"hour" varchar, "tenant" varchar, "dt" varchar', \
            "'tenant', 'dt'"
    else:
        where, cols, parts = kind, '"tenant" varchar, "dt" varchar, "hour" varchar', "'tenant', 'dt', 'hour'"
    return f"""CREATE TABLE IF NOT EXISTS {cat}."{schema}".{table} (
    {layout.trino_columns(kind)},
    {cols}
) WITH (external_location = 's3://{bucket}/{prefix}{where}', format = 'PARQUET',
        partitioned_by = ARRAY[{parts}])"""


def register_partitions(cfg: Config, files: Iterable[dict], schema: str | None = None) -> int:
    """Add the partitions of newly sealed files (from a digest) to the metastore."""
    schema = schema or cfg.get("trino.schema")
    cur = trino_conn(cfg, schema, SEALER).cursor()
    added = 0
    compacted: dict[str, set[tuple[str, str]]] = {}
    union = _has_union(cur, schema)
    for kind, tenant, day, hour in sorted({(f["kind"], f["tenant"], f["dt"], f["hour"]) for f in files}):
        added += _register(cur, schema, kind, ["tenant", "dt", "hour"], [tenant, day, hour])
        if not union:
            continue
        if kind not in compacted:
            rows = _exec(cur, f'SELECT tenant, dt FROM "{kind}_compacted$partitions"')
            compacted[kind] = {tuple(r) for r in rows}
        # a late file of a compacted day stays out of the union until `seal compact` covers it:
        # its hour's other files are in the copy already
        if (tenant, day) not in compacted[kind]:
            _register(cur, schema, f"{kind}_open", ["tenant", "dt", "hour"], [tenant, day, hour])
    return added


def _sql_array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _register(cur: Any, schema: str, table: str, cols: list[str], vals: list[str],
              location: str | None = None) -> int:
    """1 when the partition was added, 0 when it was there already (a period earlier this hour)."""
    where = f", '{location}'" if location else ""
    try:
        _exec(cur, f"CALL system.register_partition('{schema}', '{table}', {_sql_array(cols)}, "
                   f"{_sql_array(vals)}{where})")
        return 1
    except Exception as exc:  # the trino client raises its own error types
        if getattr(exc, "error_name", None) != "ALREADY_EXISTS":
            raise
        return 0


def sync_union(cfg: Config, bucket: str, prefix: str, hourly: Iterable[str], copies: Iterable[str],
               moved: Iterable[tuple[str, str, str]] = (), schema: str | None = None) -> int:
    """Make the union read exactly these keys (layout.query_files' choice): `<kind>_open` the
    partitions of the hourly keys, `<kind>_compacted` one partition per copy, located at its
    directory; `moved` (kind, tenant, dt) names days whose copy was replaced by a newer one.
    A table that must lose partitions is dropped and created again (external: no data goes),
    because unregister_partition needs DELETE, which the sealer does not hold. Returns the
    partitions registered."""
    schema = schema or cfg.get("trino.schema")
    cat = cfg.get("trino.catalog")
    cur = trino_conn(cfg, schema, SEALER).cursor()
    moved = set(moved)
    added = 0
    for kind in layout.KINDS:
        for table in (f"{kind}_open", f"{kind}_compacted"):
            _exec(cur, _table_ddl(cat, schema, table, bucket, prefix))
        want_open = {p for k in hourly if k.startswith(f"{kind}/") and (p := layout.parse_partition(k))}
        want_copy = {(c[1], c[2]): f"s3://{bucket}/{prefix}{k.rsplit('/', 1)[0]}/"
                     for k in copies if (c := layout.parse_compacted(k)) and c[0] == kind}
        for table, want, cols in ((f"{kind}_open", dict.fromkeys(want_open), ["tenant", "dt", "hour"]),
                                  (f"{kind}_compacted", want_copy, ["tenant", "dt"])):
            have = {tuple(r) for r in _exec(cur, f'SELECT {", ".join(cols)} FROM "{table}$partitions"')}
            stale = have - set(want) or {p for p in have if (kind, *p) in moved}
            if stale:
                _exec(cur, f'DROP TABLE {cat}."{schema}".{table}')
                _exec(cur, _table_ddl(cat, schema, table, bucket, prefix))
                have = set()
            for vals in sorted(set(want) - have):
                added += _register(cur, schema, table, cols, list(vals), want[vals])
        _exec(cur, invoker(_union_view(kind)))
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
def duckdb_conn(cfg: Config, bucket: str, prefix: str, local_root: str | None = None,
                compacted: bool = True) -> Any:
    """`events`/`alerts` and `archive_events`/`archive_alerts` over the archive's files: the
    compacted copies where layout.query_files chooses them (`compacted=False`: hourly only)."""
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
    hive = ("tenant", "dt", "hour")
    part = ds.partitioning(pa.schema([(n, pa.string()) for n in hive]), flavor="hive")
    part_day = ds.partitioning(pa.schema([(n, pa.string()) for n in hive[:2]]), flavor="hive")

    def listed(where: str) -> list[str]:
        try:
            found = fs.get_file_info(pafs.FileSelector(base + where, recursive=True))
        except FileNotFoundError:
            return []
        return [f.path[len(base):] for f in found if f.is_file and f.path.endswith(".parquet")]

    for kind in layout.KINDS:
        keys = listed(kind) + (listed(layout.COMPACTED + kind) if compacted else [])
        hourly, copies = layout.query_files(keys, kind)
        schema = layout.arrow_schema(kind)
        for name in hive:
            schema = schema.append(pa.field(name, pa.string()))
        # explicit file lists: no listing surprises, and an empty archive is an empty table;
        # the copies hold `hour` as a column, tenant and dt in their path
        data = ds.dataset([base + k for k in hourly], schema=schema, filesystem=fs, format="parquet",
                          partitioning=part, partition_base_dir=base + kind)
        copy = ds.dataset([base + k for k in copies], schema=schema, filesystem=fs, format="parquet",
                          partitioning=part_day, partition_base_dir=base + layout.COMPACTED + kind)
        con.register(f"{kind}_hourly", data)
        con.register(f"{kind}_copies", copy)
        con.execute(f"CREATE OR REPLACE VIEW {kind} AS SELECT * FROM {kind}_hourly "
                    f"UNION ALL SELECT * FROM {kind}_copies")
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
