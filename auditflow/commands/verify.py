"""Verification and proofs: `auditflow verify` recomputes every chain from the WORM archive and
checks the signed digests, `verify-stream` the chains on the events topic; `prove` writes an
inclusion proof for one archived event and `verify-proof` checks one offline."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import click
from botocore.exceptions import BotoCoreError, ClientError
from confluent_kafka import KafkaException
from rich.console import Console

from auditflow import kafka, registry
from auditflow.archive import digest as dg
from auditflow.archive import proof, trust, wiring, witness
from auditflow.archive import watch as watch_mod
from auditflow.archive.store import LocalStore
from auditflow.archive.verify import Checkpoint, Problem, Report, Verifier, summary
from auditflow.archive.wiring import WORM_HELP
from udfs import chain

console = Console(stderr=True)
out = Console()


# the keys an auditor trusts, pinned outside the archive (auditflow/archive/trust.py)
pin_option = click.option(
    "--public-key", "public_keys", multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Pin signing key(s): a trust file of PEM public keys; repeatable. Also pinned: "
         "archive.trusted_keys, and in the local profile the signing key's public half.")


def _when(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


@click.command("verify")
@click.option("--tenant", help="Only this tenant's chain and files (digests are always all checked).")
@click.option("--from", "start", help="Only periods ending after this UTC time (ISO 8601).")
@click.option("--to", "end", help="Only periods starting before this UTC time (ISO 8601).")
@click.option("--worm", help=WORM_HELP)
@pin_option
@click.option("--witness", "witnesses", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Require a cosignature of every digest by this witness (its public key PEM, from "
                   "`auditflow witness --print-key`); repeatable.")
@click.option("--watch", is_flag=True, help="Keep verifying each new digest as it appears; alert on "
              "watch.alerts_topic (rule INTEGRITY-001, critical) instead of exiting.")
@click.option("--interval", type=int, help="With --watch: seconds between rounds (default watch.interval_s).")
@click.option("--since", "since", type=click.Choice(["LAST"]),
              help="Incremental: verify only the digests after the last verified point recorded in the "
                   "state file (whose digest must still have the SHA-256 recorded), then record the new one.")
@click.option("--state", "state_path", type=click.Path(dir_okay=False, path_type=Path),
              help="With --watch or --since: the state file (default under watch.state_dir, one per "
                   "archive and mode).")
@click.option("--workers", type=click.IntRange(1, 64), default=min(2, os.cpu_count() or 1), show_default=True,
              help="Processes that recompute event hashes (1: all in this one; the answer is the same).")
@click.pass_obj
def command(obj, tenant: str | None, start: str | None, end: str | None, worm: str | None,
            public_keys: tuple[Path, ...], witnesses: tuple[Path, ...], watch: bool, interval: int | None,
            since: str | None, state_path: Path | None, workers: int) -> None:
    """Check that nothing in the archive was altered, removed, reordered or added.

    \b
    Prints OK with counts (and how many checked objects are under a legal hold), or the first
    broken point: which chain, which sequence and what kind (modified, missing, reordered,
    extra, duplicate, wrong_prev_hash, misplaced, overwritten, digest mismatch, bad signature,
    untrusted key, unwitnessed). Records the sealer quarantined (listed in a signed digest) are
    reported as QUARANTINED, one line each, once everything else verifies. Exit code 1 when
    broken or quarantined.

    \b
    Only pinned keys are trusted, never keys/ in the archive: a digest must be signed by a
    pinned key or by a key a signed rotation record from it introduced (`auditflow keys
    rotate`); any other key fails as "untrusted key", naming its key id.

    \b
    --witness W.pem also requires each digest's cosignature by that witness
    (`auditflow witness`): a history rewritten and re-signed with the real key has none.
    --watch verifies continuously from the last verified digest (kept in a state file, so a
    restart resumes) and raises an INTEGRITY-001 alert for a break, a gap, a missing
    cosignature, a sealed object changed or deleted, or a digest that stops arriving.

    \b
    --since LAST verifies only what was sealed after the last point a run verified: the state
    file (--state, default under watch.state_dir) records that digest's key and SHA-256; the
    digest must still hash to it (a replaced digest is BROKEN), its heads start the chains,
    and every later digest, file, event and cosignature is checked in full, the key chain
    followed from the pinned keys. The new last verified digest is recorded. With no state
    yet it verifies the whole archive and records the point. Files in no digest are left to
    a full `auditflow verify`.

    \b
    Examples:
      auditflow verify
      auditflow verify --tenant acme --from 2026-11-01 --to 2026-12-01
      auditflow verify --worm ./worm-copy --public-key auditflow-signing.pub
      auditflow -p prod verify --public-key auditor-trust.pem   # or archive.trusted_keys
      auditflow verify --witness witness-a.pem --witness witness-b.pem
      auditflow verify --watch --witness witness-a.pem --interval 60
      auditflow verify --since LAST --witness witness-a.pem     # a daily check
    """
    store = wiring.worm_store(obj.cfg, worm)
    if isinstance(store, LocalStore) and not Path(store.root).is_dir():
        raise click.ClickException(f"{worm}: no such directory (an archive copy to verify)")
    try:
        wkeys = witness.load_trust_files(witnesses)
    except witness.WitnessError as exc:
        raise click.ClickException(str(exc)) from exc
    verifier = Verifier(store, _pinned(obj.cfg, public_keys), witnesses=wkeys, workers=workers)
    if watch:
        if tenant or start or end or since:
            raise click.ClickException("--watch verifies the whole archive; drop "
                                       "--tenant/--from/--to/--since")
        _watch(obj.cfg, store, verifier, interval, state_path)
        return
    if since:
        if tenant or start or end:
            raise click.ClickException("--since verifies every digest after the last point; drop "
                                       "--tenant/--from/--to")
        path = state_path or since_state_file(obj.cfg.section("watch")["state_dir"], store.url)
        rep = verify_since(verifier, store, path)
    else:
        rep = verifier.run(tenant, _when(start), _when(end))
    if rep.ok:
        witnessed = f"; every digest cosigned by witness {', '.join(dg.key_id(k) for k in wkeys)}"
        click.echo(summary(rep) + (f" (tenant {tenant})" if tenant else "") + (witnessed if wkeys else ""))
        return
    p = rep.problem
    if p.kind == "quarantined":  # everything else verified: the signed holes are the finding
        click.echo(f"QUARANTINED: {len(rep.quarantined)} record(s) the sealer held back (listed in the "
                   f"signed digests, kept under quarantine/); the rest verifies: {summary(rep)[4:]}")
        for q in rep.quarantined:
            seq = q.get("sequence") if q.get("sequence") is not None else "-"
            click.echo(f"  period {q['period']}: kind {q['kind']}; chain {q.get('chain_id') or '-'}; "
                       f"sequence {seq}; {q.get('key') or 'no record'}: {q['reason']}")
        sys.exit(1)
    click.echo(f"BROKEN: {p.message}")
    click.echo(f"  kind: {p.kind}; tenant/chain: {p.tenant or '-'}; sequence: "
               f"{p.sequence if p.sequence is not None else '-'}; period: {p.period or '-'}")
    click.echo(f"  checked before the break: {rep.digests} digests, {rep.periods_checked} periods, "
               f"{rep.events} events")
    sys.exit(1)


def since_state_file(state_dir: str | Path, archive_url: str) -> Path:
    name = f"verify-since-{dg.sha256(archive_url.encode())[:12]}.json"
    return Path(os.path.expanduser(str(state_dir))) / name


def verify_since(verifier: Verifier, store, path: Path) -> Report:
    """`verify --since LAST`: resume from the point recorded in ``path`` once its digest still has
    the recorded SHA-256; record the last verified digest of this run."""
    point = None
    if path.exists():
        try:
            last = json.loads(path.read_text())["last"]
            key, sha = last["key"], last["sha256"]
        except (ValueError, KeyError, TypeError) as exc:
            raise click.ClickException(f"{path}: not a verify state file ({exc!r}); remove it to verify "
                                       "the whole archive again") from None
        if not store.exists(key):
            return Report(problem=Problem("missing", f"missing: {key}, the last verified digest recorded in "
                                          f"{path}, is gone from the archive", period=_pid(key)))
        raw = store.get(key)
        if dg.sha256(raw) != sha:
            msg = (f"digest mismatch: {key} now hashes to {dg.sha256(raw)[:16]}..., verified as "
                   f"{sha[:16]}... (recorded in {path}): it was replaced after it was verified")
            return Report(problem=Problem("digest mismatch", msg, period=_pid(key)))
        point = Checkpoint(key, raw)
        click.echo(f"verifying the digests after {key} (last verified point, from {path})", err=True)
    else:
        click.echo(f"no verified point in {path} yet: verifying the whole archive", err=True)
    rep = verifier.run(resume=point)
    if rep.last is not None and rep.last != point:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"archive": store.url, "last": {"key": rep.last.key,
                                                                 "sha256": dg.sha256(rep.last.raw)}}) + "\n")
        tmp.replace(path)
        click.echo(f"recorded {rep.last.key} as the last verified point in {path}", err=True)
    return rep


def _pid(key: str) -> str:
    return key.rsplit("/", 1)[-1].removesuffix(".json")


def _pinned(cfg, files: tuple[Path, ...]) -> dict:
    try:
        return trust.pinned_keys(files, cfg)
    except trust.TrustError as exc:
        raise click.ClickException(str(exc)) from exc


def _watch(cfg, store, verifier: Verifier, interval: int | None, state_path: Path | None) -> None:
    topic = cfg.get("watch.alerts_topic")
    produce, flush = kafka.event_producer(cfg, topic, schema="alert", role="witness")

    def emit(alert: dict) -> None:
        click.echo(f"ALERT {alert['rule_id']} {alert['severity']}: {alert['entity_value']}", err=True)
        produce(alert, alert["dedup_key"].encode())
        if flush(30):
            raise click.ClickException(f"an {alert['rule_id']} alert was not delivered to {topic} in 30 s")

    arch, conf = cfg.section("archive"), cfg.section("watch")
    settings = watch_mod.Settings(int(arch["period_s"]), int(arch["grace_s"]), int(conf["slack_s"]),
                                  int(conf["witness_wait_s"]))
    path = state_path or watch_mod.state_file(conf["state_dir"], store.url)
    w = watch_mod.Watch(store, verifier, path, settings, emit, lambda m: click.echo(m, err=True))
    click.echo(f"watching {store.url} every {interval or conf['interval_s']} s; state {path}; "
               f"alerts to {topic}", err=True)
    while True:
        try:
            w.step()
        except (BotoCoreError, ClientError) as exc:  # S3 away for a while: the next round retries
            click.echo(f"error: reading {store.url}: {exc}; retrying next round", err=True)
        time.sleep(interval or int(conf["interval_s"]))


@click.command("verify-stream")
@click.option("--topic", default="audit.events", show_default=True)
@click.option("--tenant", help="Check only this tenant's chains.")
@click.pass_obj
def verify_stream(obj, topic: str, tenant: str | None) -> None:
    """Recompute every SHA-256 chain from the events topic (schemas/CHAIN.md): one per tenant,
    raw topic and raw partition, or per tenant for chains linked before CHAIN.md version 2.

    Each chain is read in its stored order (a chain's events share one partition) and must
    run gap-free from sequence 1 with every hash recomputing and its chain_id bound to the
    event's tenant and raw partition. Prints OK with counts, or the first break in words;
    exits 1 on a break.
    """
    cfg = obj.cfg
    decode = registry.Decoder(cfg, "audit_event", "auditor")
    chains: dict[str, list[dict]] = defaultdict(list)
    try:
        for m in kafka.read_topic(cfg, topic, say=console.print, role="auditor"):
            e = decode(m.value())
            if tenant is None or e.get("tenant_id") == tenant:
                chains[(e.get("chain") or {}).get("chain_id") or "(unchained)"].append(e)
    except KafkaException as exc:
        raise click.ClickException(f"Kafka: {exc}; is `auditflow stack up` running?") from exc
    if not chains:
        raise click.ClickException(f"no events in {topic}" + (f" for tenant {tenant}" if tenant else ""))
    broken = False
    for cid in sorted(chains):
        events = chains[cid]
        found = chain.verify_chain(events)
        if found is None:
            last = events[-1]["chain"]
            out.print(f"[green]OK[/] chain {cid}: {len(events)} events, sequence 1..{last['sequence']}, "
                      f"head {last['event_hash'][:16]}…")
        else:
            broken = True
            out.print(f"[red]BROKEN[/] chain {cid}: {found}")
    if broken:
        raise SystemExit(1)


@click.command("prove")
@click.argument("event_id")
@click.option("--tenant", help="Search only this tenant's files (faster).")
@click.option("--worm", help=WORM_HELP)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the proof to this file.")
@click.pass_obj
def prove(obj, event_id: str, tenant: str | None, worm: str | None, output: str | None) -> None:
    """Print a JSON inclusion proof: the event, its Merkle audit path to the period's root,
    and the signed digest with its public key (format: schemas/CHAIN.md section 9).

    \b
    Example:
      auditflow prove 7c9e6679-7425-40de-944b-e07fc1f90ae7 -o proof.json
      auditflow verify-proof proof.json
    """
    try:
        p = proof.prove(wiring.worm_store(obj.cfg, worm), event_id, tenant)
    except proof.ProofError as exc:
        raise click.ClickException(str(exc)) from exc
    text = json.dumps(p, indent=1, ensure_ascii=False)
    if output:
        with open(output, "w") as fh:
            fh.write(text + "\n")
        click.echo(f"proof for {event_id} (period {p['period']}, leaf {p['leaf_index']} of "
                   f"{p['tree_size']}) written to {output}", err=True)
    else:
        click.echo(text)


@click.command("verify-proof")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pin_option
@click.pass_obj
def verify_proof(obj, file: Path, public_keys: tuple[Path, ...]) -> None:
    """Check a proof from `auditflow prove` without the archive: the event hashes to its
    event_hash, the audit path leads to the root, and the digest signing that root verifies
    with a pinned key (or a key the proof's signed `rotations` lead to from one). The key
    embedded in the proof is never trusted.

    \b
    Exit code 1 when any check fails (each failure on a line of
    its own) or when the file is not a proof (one line saying
    which member is missing or malformed).

    \b
    Example:
      auditflow verify-proof proof.json --public-key auditflow-signing.pub
    """
    pinned = _pinned(obj.cfg, public_keys)
    try:
        p = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"{file}: not a JSON proof ({exc})") from None
    try:
        problems = proof.verify_proof(p, pinned)
    except proof.MalformedProof as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    if problems:
        for m in problems:
            click.echo(f"FAILED: {m}")
        sys.exit(1)
    kid = p["digest"]["key_id"]
    how = "pinned" if kid in pinned else "introduced by a signed rotation from a pinned key"
    click.echo(f"OK: event {p['event_id']} (chain {p['chain_id']!r} sequence {p['sequence']}) is leaf "
               f"{p['leaf_index']} of {p['tree_size']} in period {p['period']}, whose digest is signed by "
               f"key {kid} ({how})")


commands = [command, verify_stream, prove, verify_proof]
