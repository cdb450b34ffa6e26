"""`auditflow seal`: turn closed periods of staging files into the signed WORM archive."""

from __future__ import annotations

import sys
import time

import click

from auditflow.archive import query, wiring
from auditflow.archive.seal import SealError
from auditflow.archive.store import S3Store
from auditflow.archive.wiring import WORM_HELP


def _say(msg: str) -> None:
    click.echo(msg, err=True)


@click.group("seal", invoke_without_command=True)
@click.option("--once", "mode", flag_value="once", default=True, help="Seal what is closed now, then exit.")
@click.option("--loop", "mode", flag_value="loop", help="Keep sealing every archive.loop_interval_s.")
@click.option("--staging", "staging_prefix",
              help="Prefix in s3.staging_bucket (default: archive.staging_prefix).")
@click.option("--worm", "worm", help=WORM_HELP)
@click.option("--trino-schema", help="Hive schema for the new partitions (default trino.schema).")
@click.pass_obj
def command(obj, mode: str, staging_prefix: str | None, worm: str | None, trino_schema: str | None) -> None:
    """Compact each closed period into sorted Parquet in the WORM bucket with a signed digest.

    \b
    A period (archive.period_s, default 1 h) is closed archive.grace_s after its end. Per period:
    decode, sort by chain and sequence, recompute every event's hash and link and check each
    chain's continuity with the previous digest, quarantine what fails (an undecodable record, a
    wrong hash or link, a gap) under quarantine/<period>/ while every other record seals on,
    upload with COMPLIANCE retention (archive.retention, refused when shorter than the bucket's
    default retention) and checksums, read back, write the Ed25519-signed digest (it lists the
    quarantined records), register the partitions in Trino, and only then clear the staging
    files. Safe to re-run after a crash at any step. Exit code 1 when a record was quarantined
    (`auditflow verify` reports it too).

    \b
    Examples:
      auditflow seal
      auditflow --set archive.period_s=300 --set archive.grace_s=20 seal --loop
      auditflow --config prod.toml --profile prod seal   # any non-local profile: retention 7y
    """
    if click.get_current_context().invoked_subcommand:  # `seal compact`
        return
    cfg = obj.cfg
    staging = wiring.staging_store(cfg, staging_prefix)
    store = wiring.worm_store(cfg, worm, "sealer")
    sealer = wiring.sealer(cfg, staging, store, _say)
    use_trino = bool(cfg.get("stack.trino")) and isinstance(store, S3Store)
    tables_ready = False
    breaks = 0
    while True:
        try:
            results = sealer.seal_closed()
        except SealError as exc:  # e.g. a key no rotation introduces: refused before anything is written
            raise click.ClickException(str(exc)) from exc
        for r in results:
            if r.already:
                _say(f"{r.period}: already sealed; staging cleaned up")
                continue
            _say(f"sealed {r.period}: {r.events} events, {r.alerts} alerts, {len(r.files)} files, "
                 f"{r.staged} staging files cleared -> {store.url}{r.digest_key}")
            breaks += len(r.breaks)
            if use_trino and r.digest.get("files"):
                if not tables_ready:
                    query.ensure_tables(cfg, store.bucket, store.prefix, trino_schema)
                    tables_ready = True
                n = query.register_partitions(cfg, r.digest["files"], trino_schema)
                _say(f"  trino: {n} new partition(s)")
        if mode != "loop":
            break
        time.sleep(int(cfg.get("archive.loop_interval_s")))
    if breaks:
        _say(f"{breaks} record(s) quarantined (under quarantine/ in the archive, listed in the digest); "
             "run `auditflow verify` for details")
        sys.exit(1)


# ------------------------------------------------------------------ seal compact
@command.command("compact")
@click.option("--loop", is_flag=True, help="Keep compacting every archive.loop_interval_s.")
@click.option("--worm", "worm", help=WORM_HELP)
@click.option("--settle", "settle_s", type=int, default=None, metavar="SECONDS",
              help="A day is compacted once the last digest ends this long after it "
                   "(default: 2 x archive.period_s + archive.grace_s).")
@click.option("--trino-schema", help="Hive schema whose union tables to sync (default trino.schema).")
@click.pass_obj
def compact_command(obj, loop: bool, worm: str | None, settle_s: int | None,
                    trino_schema: str | None) -> None:
    """Write one sorted, signed query copy per closed day, kind and tenant (compacted/ in WORM).

    \b
    The hourly sealed files and their digests stay the integrity unit; each copy holds exactly
    the rows of that day's sealed files, sorted by user then time, under COMPLIANCE retention
    like sealed data, with a compaction manifest signed by the sealing key that names its
    SHA-256 and its sources. A day a late file reaches after its copy gets a newer copy.
    Then Trino's archive_events/archive_alerts read each compacted day from its copy and the
    other days from the hourly files; `auditflow verify` checks every copy against its sources.

    \b
    Examples:
      auditflow seal compact
      auditflow seal compact --loop
    """
    from auditflow.archive import compact

    cfg = obj.cfg
    store = wiring.worm_store(cfg, worm, "sealer")
    comp = wiring.compactor(cfg, store, _say, settle_s)
    use_trino = bool(cfg.get("stack.trino")) and isinstance(store, S3Store)
    while True:
        before = {(d["kind"], d["tenant"], d["dt"]) for _k, d in compact.manifests(store) if d}
        try:
            docs = comp.run()
        except ValueError as exc:  # a source that is not what its digest signs: nothing is written
            raise click.ClickException(str(exc)) from exc
        _say(f"compacted {len(docs)} day(s)")
        if use_trino:
            query.ensure_tables(cfg, store.bucket, store.prefix, trino_schema)
            hourly, copies = compact.query_keys(store)
            moved = {(d["kind"], d["tenant"], d["dt"]) for d in docs} & before
            n = query.sync_union(cfg, store.bucket, store.prefix, hourly, copies, moved, trino_schema)
            _say(f"  trino: {n} partition(s) registered in the archive_* union")
        if not loop:
            break
        time.sleep(int(cfg.get("archive.loop_interval_s")))
