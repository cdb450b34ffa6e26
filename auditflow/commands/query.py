"""`auditflow query "SQL"`: auditor SQL on Trino, or embedded DuckDB over the same files."""

from __future__ import annotations

import click
import requests
import trino

from auditflow.archive import query, wiring
from auditflow.archive.store import LocalStore
from auditflow.archive.wiring import WORM_HELP


@click.command("query")
@click.argument("sql")
@click.option("--engine", type=click.Choice(["auto", "trino", "duckdb"]), default="auto", show_default=True,
              help="auto: Trino when stack.trino is on and it has the archive tables, else DuckDB.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.option("--worm", help="DuckDB only. " + WORM_HELP)
@click.option("--schema", help="Trino schema (default trino.schema).")
@click.option("--as", "role", default="auditor", show_default=True, metavar="ROLE",
              help="The Trino role to query as: auditor (every tenant), or tenant-auditor:<tenant> "
                   "(Trino's row filter shows only that tenant's rows, also through the views; "
                   "Trino only). Logs in with that role's secret (auditflow/credentials.py).")
@click.pass_obj
def command(obj, sql: str, engine: str, fmt: str, worm: str | None, schema: str | None, role: str) -> None:
    """Run SQL over tables `events` and `alerts` (partitions tenant, dt, hour) and the views
    user_activity, privileged_changes, failed_logins_per_day, record_access, alert_evidence.

    \b
    Examples:
      auditflow query "SELECT * FROM failed_logins_per_day ORDER BY day"
      auditflow query --engine duckdb --format csv \\
        "SELECT * FROM user_activity WHERE user_name = 'alice' AND \\"time\\" > now() - INTERVAL '30' DAY"
      auditflow query --as tenant-auditor:acme "SELECT count(*) FROM events"   # acme's rows only
    """
    cfg = obj.cfg
    if role != "auditor" and not role.startswith("tenant-auditor:"):
        raise click.BadParameter("auditor or tenant-auditor:<tenant>", param_hint="--as")
    if role != "auditor":  # only Trino enforces a tenant's row filter; DuckDB reads every file
        if engine == "duckdb" or worm is not None:
            raise click.UsageError(f"--as {role} queries Trino only (it enforces the row filter)")
        engine = "trino"
    if engine == "auto":
        use_trino = cfg.get("stack.trino") and worm is None and _trino_ready(cfg, schema)
        engine = "trino" if use_trino else "duckdb"
    if engine == "trino":
        try:
            res = query.run_trino(cfg, sql, schema, role)
        except trino.exceptions.TrinoUserError as exc:  # the auditor's SQL, or a schema not sealed yet
            raise click.ClickException(f"Trino: {exc.message}") from None
        except (trino.exceptions.Error, requests.RequestException) as exc:
            where = f"{cfg.get('trino.host')}:{cfg.get('trino.port')}"
            raise click.ClickException(
                f"Trino at {where} failed: {exc}; is `auditflow stack up` running?") from None
    else:
        store = wiring.worm_store(cfg, worm)
        if isinstance(store, LocalStore):
            con = query.duckdb_conn(cfg, "", "", local_root=str(store.root))
        else:
            con = query.duckdb_conn(cfg, store.bucket, store.prefix)
        try:
            res = query.run_duckdb(con, sql)
        finally:
            con.close()
    click.echo(query.render(res, fmt))


def _trino_ready(cfg, schema: str | None) -> bool:
    """Trino answers and already has the archive tables (`auditflow seal` creates them)."""
    try:
        query.run_trino(cfg, "SELECT 1 FROM events WHERE false", schema)
        return True
    except Exception:  # any failure to reach Trino means: use DuckDB
        return False
