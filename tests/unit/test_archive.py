"""Sealer, verifier and proofs on local directories (no services): a real seal of staged
Confluent-wire Avro, then tampered copies, each of which must be caught with its kind."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditflow.archive import digest as dg
from auditflow.archive import layout, proof
from auditflow.archive.seal import AvroDecoder, Sealer, SealError
from auditflow.archive.store import LocalStore
from auditflow.archive.verify import Verifier
from udfs import chain, wire

VECTORS = json.loads((layout.SCHEMAS / "chain_vectors.json").read_text())
EVENT_SCHEMA = layout.load_avsc("events")
T0 = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC)


SHARDS = ["globex/audit.raw.app/0", "globex/audit.raw.app/1"]


def make_events(tenant: str, n: int, partitions: int = 0) -> list[dict]:
    """Linked events built from the chain vectors (nulls, maps, arrays, doubles, non-BMP text):
    one version-1 chain (chain_id = tenant), or with ``partitions`` one chain per raw partition
    of audit.raw.app (CHAIN.md version 2), event i on partition i % partitions."""
    base = [e["event"] for e in VECTORS["events"]]
    out, prev = [], {}
    for i in range(n):
        e = copy.deepcopy(base[i % len(base)])
        e.pop("chain", None)
        e["event_id"], e["tenant_id"] = f"{tenant}-{i:05d}", tenant
        e["time"] = int(T0.timestamp() * 1000) + i
        e["unmapped"] = {"k": f"v{i}", "emoji": "😀"} if i % 3 == 0 else None
        if partitions:
            e["lineage"] = {"source_system": "app_json", **(e.get("lineage") or {}),
                            "raw_topic": "audit.raw.app", "raw_partition": i % partitions,
                            "raw_offset": i // partitions}
        cid = chain.chain_id_of(e) if partitions else tenant
        linked = chain.link(e, prev.get(cid), chain_id=cid)
        prev[cid] = chain.ChainState.of(linked)
        out.append(linked)
    return out


def stage(root: Path, kind: str, tenant: str, hour: dt.datetime, name: str, values: list[bytes],
          committed: dt.datetime) -> None:
    p = root / kind / layout.partition_path(tenant, hour) / name
    p.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"value": pa.array(values, pa.binary())}), p)
    os.utime(p, (committed.timestamp(), committed.timestamp()))


def encode(events: list[dict]) -> list[bytes]:
    parsed = wire.plain_schema(EVENT_SCHEMA)
    return [wire.encode(7, parsed, e) for e in events]


def decoder() -> AvroDecoder:
    schemas = {7: json.dumps(EVENT_SCHEMA), 8: (layout.SCHEMAS / "alert.avsc").read_text()}
    return AvroDecoder(schemas.__getitem__)


@pytest.fixture()
def sealed(tmp_path):
    """Two tenants over three one-hour periods (the middle one empty for globex): acme one
    version-1 chain, globex sharded over two raw partitions (SHARDS)."""
    staging, worm = tmp_path / "staging", tmp_path / "worm"
    key = Ed25519PrivateKey.generate()
    acme, globex = make_events("acme", 30), make_events("globex", 12, partitions=2)
    stage(staging, "events", "acme", T0, "part-1", encode(acme[:10]), T0 + dt.timedelta(minutes=5))
    stage(staging, "events", "acme", T0, "part-2", encode(acme[10:20]), T0 + dt.timedelta(minutes=59))
    stage(staging, "events", "globex", T0, "part-1", encode(globex[:12]), T0 + dt.timedelta(minutes=30))
    stage(staging, "events", "acme", T0 + dt.timedelta(hours=1), "part-3", encode(acme[20:]),
          T0 + dt.timedelta(hours=2, minutes=1))
    alert = {"alert_id": "a1", "rule_id": "R1", "title": "t", "severity": "high", "severity_id": 4,
             "tenant_id": "acme", "entity_type": "user", "entity_value": "bob",
             "window_start": 1, "window_end": 2, "event_count": 1,
             "evidence": [{"event_id": acme[3]["event_id"], "chain_id": "acme", "sequence": 4,
                           "event_hash": acme[3]["chain"]["event_hash"]}],
             "first_seen": 1, "last_seen": 1, "mitre": ["T1110"], "compliance": None,
             "dedup_key": "R1|acme|bob", "created_at": 3}
    parsed = wire.plain_schema(json.loads((layout.SCHEMAS / "alert.avsc").read_text()))
    stage(staging, "alerts", "acme", T0, "part-1", [wire.encode(8, parsed, alert)],
          T0 + dt.timedelta(minutes=9))
    (staging / "events" / layout.partition_path("acme", T0) / ".part-9.inprogress").write_bytes(b"x")
    sealer = Sealer(LocalStore(staging), LocalStore(worm), key, decoder(), period_s=3600, grace_s=60)
    results = sealer.seal_closed(now=T0 + dt.timedelta(hours=3, minutes=5))
    return {"worm": worm, "staging": staging, "key": key, "results": results, "acme": acme,
            "globex": globex, "tmp": tmp_path, "sealer": sealer}


def verify(worm: Path, key, **kw):
    return Verifier(LocalStore(worm), key.public_key()).run(**kw)


def pub_file(sealed) -> str:
    """The sealing key's public half as a trust file (what an auditor pins)."""
    f = sealed["tmp"] / "trust.pem"
    f.write_bytes(dg.public_pem(sealed["key"].public_key()))
    return str(f)


def run_cli(*args: str):
    """`auditflow ARGS` in-process; verify, verify-proof and verify-stream need no service here.
    The local profile pins its own signing key: point it at none, so only the keys a test passes
    are pinned, whatever key this machine holds."""
    from click.testing import CliRunner

    from auditflow.cli import cli

    env = {"AUDITFLOW_ARCHIVE__SIGNING_KEY_FILE": "/nonexistent/auditflow-unit-test/signing-key.pem",
           "AUDITFLOW_SIGNING_KEY": None}
    return CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)


def test_seal_writes_digests_for_every_period_and_clears_staging(sealed):
    res = sealed["results"]
    assert [r.period for r in res] == ["20261128T100000Z", "20261128T110000Z", "20261128T120000Z"]
    assert [r.events for r in res] == [32, 0, 10]  # part-3 was committed at 12:01
    assert res[1].digest["events"]["merkle_root"] == dg.sha256(b"")  # an empty period is proved empty
    assert res[0].alerts == 1 and not any(r.breaks for r in res)
    left = [p.name for p in sealed["staging"].rglob("*") if p.is_file()]
    assert left == [".part-9.inprogress"]
    rep = verify(sealed["worm"], sealed["key"])
    assert rep.ok, rep.problem
    assert (rep.events, rep.alerts, rep.digests, rep.chains) == (42, 1, 3, {"acme", *SHARDS})
    assert set(res[0].digest["heads"]) == {"acme", *SHARDS}


def test_sealed_rows_recompute_to_the_original_hashes(sealed):
    worm = LocalStore(sealed["worm"])
    f = next(f for f in sealed["results"][0].digest["files"]
             if f["tenant"] == "acme" and f["kind"] == "events")
    rows = layout.to_records(layout.read_parquet(worm.get(f["key"])))
    assert [r["chain"]["sequence"] for r in rows] == list(range(1, 21))
    for row, orig in zip(rows, sealed["acme"], strict=False):
        assert chain.canonical_bytes(row) == chain.canonical_bytes(orig)


def test_resealing_is_idempotent(sealed):
    before = sorted(p.relative_to(sealed["worm"]) for p in sealed["worm"].rglob("*"))
    again = sealed["sealer"].seal_closed(now=T0 + dt.timedelta(hours=3, minutes=5))
    assert again == []
    r = sealed["sealer"].seal(T0, T0 + dt.timedelta(hours=1))
    assert r.already
    assert sorted(p.relative_to(sealed["worm"]) for p in sealed["worm"].rglob("*")) == before


def _copy(sealed) -> Path:
    dst = sealed["tmp"] / "tampered"
    shutil.copytree(sealed["worm"], dst)
    return dst


def _events_file(root: Path, period: str, tenant: str = "acme") -> Path:
    return next(root.glob(f"events/tenant={tenant}/*/*/{period}.parquet"))


def _rewrite(path: Path, fn) -> None:
    rows = layout.to_records(pq.read_table(path))
    pq.write_table(layout.to_table(fn(rows), "events"), path, compression="zstd")


def test_changed_field_is_modified(sealed):
    root = _copy(sealed)
    def change(rows):
        rows[4]["message"] = "nothing happened"
        return rows
    _rewrite(_events_file(root, "20261128T100000Z"), change)
    p = verify(root, sealed["key"]).problem
    assert (p.kind, p.tenant, p.sequence) == ("modified", "acme", 5), p


def test_deleted_row_is_missing(sealed):
    root = _copy(sealed)
    _rewrite(_events_file(root, "20261128T100000Z"), lambda rows: rows[:7] + rows[8:])
    p = verify(root, sealed["key"]).problem
    assert (p.kind, p.tenant, p.sequence) == ("missing", "acme", 8), p


def test_swapped_rows_are_reordered(sealed):
    root = _copy(sealed)
    _rewrite(_events_file(root, "20261128T100000Z"), lambda rows: rows[:2] + [rows[3], rows[2]] + rows[4:])
    p = verify(root, sealed["key"]).problem
    assert (p.kind, p.tenant, p.sequence) == ("reordered", "acme", 4), p


def test_removed_file_is_missing(sealed):
    root = _copy(sealed)
    _events_file(root, "20261128T120000Z").unlink()
    p = verify(root, sealed["key"]).problem
    assert p.kind == "missing" and p.tenant == "acme" and "absent" in p.message, p


def test_removed_digest_is_missing(sealed):
    root = _copy(sealed)
    (root / "digests" / "20261128T110000Z.json").unlink()
    p = verify(root, sealed["key"]).problem
    assert p.kind == "missing" and "no digest for 2026-11-28T11:00:00Z" in p.message, p
    root2 = sealed["tmp"] / "t2"
    shutil.copytree(sealed["worm"], root2)
    (root2 / "digests" / "20261128T100000Z.json").unlink()
    assert verify(root2, sealed["key"]).problem.kind == "missing"


def test_forged_digest_is_bad_signature(sealed):
    root = _copy(sealed)
    d = root / "digests" / "20261128T100000Z.json"
    doc = json.loads(d.read_text())
    doc["chains"][0]["last_sequence"] += 1
    d.write_bytes(dg.encode(doc))
    assert verify(root, sealed["key"]).problem.kind == "bad signature"
    # re-signed with the forger's own key, even with that key published beside the data
    forger = Ed25519PrivateKey.generate()
    d.write_bytes(dg.encode(dg.sign(doc, forger)))
    (root / "keys" / f"{dg.key_id(forger.public_key())}.pem").write_bytes(dg.public_pem(forger.public_key()))
    p = verify(root, sealed["key"]).problem  # keys/ is never trusted: only the pinned key
    assert (p.kind, p.period) == ("untrusted key", "20261128T100000Z"), p
    assert f"signed with key {dg.key_id(forger.public_key())}, which is not pinned" in p.message, p


def test_extra_file_and_tenant_filter(sealed):
    root = _copy(sealed)
    src = _events_file(root, "20261128T100000Z", "globex")
    shutil.copy(src, src.with_name("extra.parquet"))
    assert verify(root, sealed["key"]).problem.kind == "extra"
    rep = verify(root, sealed["key"], tenant="acme")
    assert rep.ok and rep.events == 30 and rep.chains == {"acme"}
    rep = verify(sealed["worm"], sealed["key"], tenant="globex")
    assert rep.ok and rep.events == 12 and rep.chains == set(SHARDS)


def test_event_relabelled_into_the_other_shard_is_misplaced(sealed):
    root = _copy(sealed)
    def relabel(rows):
        assert rows[9]["chain"]["chain_id"] == SHARDS[1] and rows[9]["chain"]["sequence"] == 4
        rows[9]["chain"]["chain_id"] = SHARDS[0]
        return rows
    _rewrite(_events_file(root, "20261128T100000Z", "globex"), relabel)
    for tenant in (None, "globex"):
        p = verify(root, sealed["key"], tenant=tenant).problem
        assert (p.kind, p.tenant, p.sequence) == ("misplaced", SHARDS[0], 4), p
        assert f"assign chain {SHARDS[1]!r}" in p.message
    res = run_cli("verify", "--worm", str(root), "--public-key", pub_file(sealed))
    assert res.exit_code == 1 and f"kind: misplaced; tenant/chain: {SHARDS[0]}; sequence: 4" in res.stdout, \
        res.stdout


def test_event_moved_and_rehashed_into_the_other_shard_breaks_both(sealed):
    root = _copy(sealed)
    def move(rows):
        e = rows.pop(8)  # shard 1's sequence 3
        e["lineage"]["raw_partition"] = 0
        rows.insert(6, chain.link(e, chain.ChainState.of(rows[5])))  # shard 0's sequence 7, after its 6
        return rows
    _rewrite(_events_file(root, "20261128T100000Z", "globex"), move)
    p = verify(root, sealed["key"]).problem
    assert (p.kind, p.tenant, p.sequence) == ("missing", SHARDS[1], 3), p
    # the target shard's signed last sequence (6) catches it there too
    doc = json.loads((root / "digests" / "20261128T100000Z.json").read_text())
    signed = next(c for c in doc["chains"] if c["chain_id"] == SHARDS[0])
    rows = [r for r in layout.to_records(pq.read_table(_events_file(root, "20261128T100000Z", "globex")))
            if r["chain"]["chain_id"] == SHARDS[0]]
    head = chain.ChainState(SHARDS[0], signed["last_sequence"], signed["last_hash"])
    assert chain.verify_chain(rows) is None
    brk = chain.verify_chain(rows, end={SHARDS[0]: head})
    assert (brk.kind, brk.sequence) == ("extra", 7)


def test_a_shard_cut_from_a_tenant_file_is_missing_with_the_tenant_filter(sealed):
    root = _copy(sealed)
    _rewrite(_events_file(root, "20261128T100000Z", "globex"),
             lambda rows: [r for r in rows if r["chain"]["chain_id"] != SHARDS[1]])
    p = verify(root, sealed["key"], tenant="globex").problem
    assert (p.kind, p.tenant) == ("missing", SHARDS[1]) and "ends at sequence 0" in p.message, p


def test_proof_verifies_offline_and_fails_when_altered(sealed):
    worm = LocalStore(sealed["worm"])
    target = sealed["acme"][13]
    p = proof.prove(worm, target["event_id"])
    assert p["event_hash"] == target["chain"]["event_hash"] and p["tree_size"] == 32
    pub = sealed["key"].public_key()
    assert proof.verify_proof(json.loads(json.dumps(p)), pub) == []
    bad = copy.deepcopy(p)
    bad["event"]["message"] = "edited"
    assert any("modified" in m for m in proof.verify_proof(bad, pub))
    bad = copy.deepcopy(p)
    bad["proof"][0] = "00" * 32
    assert proof.verify_proof(bad, pub)
    with pytest.raises(proof.ProofError):
        proof.prove(worm, "no-such-event")


def test_proof_of_an_event_relabelled_into_another_shard_fails(sealed, tmp_path):
    target = sealed["globex"][5]
    assert target["chain"]["chain_id"] == SHARDS[1]
    p = proof.prove(LocalStore(sealed["worm"]), target["event_id"])
    pub = sealed["key"].public_key()
    assert p["chain_id"] == SHARDS[1] and proof.verify_proof(p, pub) == []
    p["chain_id"] = p["event"]["chain"]["chain_id"] = SHARDS[0]  # the audit path covers event_hash only
    why = (f"misplaced: the event claims chain {SHARDS[0]!r}, but its tenant_id and raw partition assign "
           f"chain {SHARDS[1]!r} or the version-1 chain 'globex'")
    # and the leaf's position: leaf 28 is shard 1's sequence 3, not shard 0's
    where = f"position: leaf 28 is not where the digest puts chain {SHARDS[0]!r} sequence 3"
    assert proof.verify_proof(p, pub) == [why, where]
    f = tmp_path / "proof.json"
    f.write_text(json.dumps(p))
    res = run_cli("verify-proof", str(f), "--public-key", pub_file(sealed))
    assert (res.exit_code, res.stdout) == (1, f"FAILED: {why}\nFAILED: {where}\n")


def test_verify_stream_reports_an_event_moved_between_shards(monkeypatch):
    from auditflow.commands import verify as commands

    events = make_events("globex", 6, partitions=2)
    # the topic's messages, already decoded: value() returns the event, the decoder copies it
    monkeypatch.setattr(commands.registry, "Decoder", lambda _cfg, _name, _role: copy.deepcopy)
    monkeypatch.setattr(commands.kafka, "read_topic",
                        lambda _cfg, _topic, say, role: [SimpleNamespace(value=lambda e=e: e)
                                                         for e in events])
    res = run_cli("verify-stream", "--topic", "t")
    assert res.exit_code == 0 and res.stdout.count("OK chain globex/audit.raw.app/") == 2, res.stdout
    events[3]["chain"]["chain_id"] = SHARDS[0]  # shard 1's sequence 2
    res = run_cli("verify-stream", "--topic", "t")
    out = " ".join(res.stdout.split())  # rich wraps long lines
    assert res.exit_code == 1, out
    assert f"BROKEN chain {SHARDS[0]}: misplaced: chain {SHARDS[0]!r} sequence 2" in out, out
    assert f"BROKEN chain {SHARDS[1]}: missing: chain {SHARDS[1]!r} lacks sequence 2" in out, out


def test_sealer_quarantines_a_misplaced_event(tmp_path):
    staging, worm = tmp_path / "s", tmp_path / "w"
    ev = make_events("globex", 6, partitions=2)
    ev[3]["chain"]["chain_id"] = SHARDS[0]  # shard 1's sequence 2, relabelled into shard 0
    stage(staging, "events", "globex", T0, "part-1", encode(ev), T0 + dt.timedelta(minutes=1))
    key = Ed25519PrivateKey.generate()
    res = Sealer(LocalStore(staging), LocalStore(worm), key, decoder()).seal_closed(
        now=T0 + dt.timedelta(hours=2))
    q = res[0].quarantined
    assert res[0].events == 5
    assert [(e["kind"], e["chain_id"], e["sequence"]) for e in q] == [
        ("misplaced", SHARDS[0], 2), ("missing", SHARDS[1], 2)]
    assert res[0].breaks[0].startswith(f"misplaced: chain {SHARDS[0]!r} sequence 2")
    rep = verify(worm, key)
    assert (rep.problem.kind, rep.problem.tenant, rep.problem.sequence) == ("quarantined", SHARDS[0], 2)
    assert [(e["kind"], e["sequence"]) for e in rep.quarantined] == [("misplaced", 2), ("missing", 2)]


def test_chain_break_in_staging_is_quarantined_and_reported(tmp_path):
    """A gap found in staging is no longer sealed as a break: the digest's signed entry
    explains it, the chain seals on after it, and verify reports the hole as `quarantined`."""
    staging, worm = tmp_path / "s", tmp_path / "w"
    ev = make_events("acme", 6)
    stage(staging, "events", "acme", T0, "part-1", encode(ev[:2] + ev[3:]), T0 + dt.timedelta(minutes=1))
    key = Ed25519PrivateKey.generate()
    res = Sealer(LocalStore(staging), LocalStore(worm), key, decoder()).seal_closed(
        now=T0 + dt.timedelta(hours=2))
    assert res[0].events == 5 and res[0].breaks == [
        "missing: chain 'acme' lacks sequence 3 in staging; it resumes at sequence 4 ('acme-00003')"]
    (entry,) = res[0].digest["quarantined"]
    assert (entry["kind"], entry["sequence"], entry["last_sequence"], entry["key"]) == ("missing", 3, 3, None)
    assert entry["resume"] == {"sequence": 3, "event_hash": ev[2]["chain"]["event_hash"]}
    assert res[0].digest["heads"] == {"acme": [6, ev[5]["chain"]["event_hash"]]}
    rep = verify(worm, key)
    assert (rep.problem.kind, rep.problem.sequence, rep.problem.period) == ("quarantined", 3, res[0].period)
    assert rep.events == 5  # every sealed event verified, across the explained gap


def test_digests_match_their_json_schema(sealed):
    import jsonschema

    schema = json.loads((layout.SCHEMAS / "digest.schema.json").read_text())
    for r in sealed["results"]:
        jsonschema.validate(r.digest, schema)


def test_node_checks_a_proof_independently(sealed, tmp_path):
    import shutil as sh
    import subprocess

    p = proof.prove(LocalStore(sealed["worm"]), sealed["globex"][5]["event_id"])
    f = tmp_path / "proof.json"
    f.write_text(json.dumps(p))
    js = str(layout.SCHEMAS / "verify_chain.js")
    node = sh.which("node")
    assert node, "node is part of this machine kind; schemas/verify_chain.js needs it"
    pin = ["--public-key", pub_file(sealed)]
    ok = subprocess.run([node, js, str(f), *pin], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.startswith("OK:"), ok.stdout + ok.stderr
    moved = copy.deepcopy(p)
    moved["chain_id"] = moved["event"]["chain"]["chain_id"] = SHARDS[0]
    f.write_text(json.dumps(moved))
    bad = subprocess.run([node, js, str(f), *pin], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1, bad.stdout
    assert bad.stdout == ("FAIL: chain_id bound to the event's tenant and raw partition, "
                          "leaf position signed by the digest for its chain and sequence\n")
    p["digest"]["alerts"]["count"] += 1
    f.write_text(json.dumps(p))
    bad = subprocess.run([node, js, str(f), *pin], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "digest signature" in bad.stdout


class CrashingStore(LocalStore):
    """Fails the first write whose key starts with `at`, as a crash at that step would."""

    def __init__(self, root, at: str):
        super().__init__(root)
        self.at = at

    def put(self, key, data, retain_until=None, metadata=None):
        if self.at and key.startswith(self.at):
            self.at = ""
            raise OSError(f"crash before writing {key}")
        return super().put(key, data, retain_until, metadata)


@pytest.mark.parametrize("crash_at", ["events/", "alerts/", "digests/"])
def test_a_crash_at_any_upload_step_neither_loses_nor_duplicates(tmp_path, crash_at):
    staging, worm = tmp_path / "s", tmp_path / "w"
    ev = make_events("acme", 8)
    stage(staging, "events", "acme", T0, "part-1", encode(ev), T0 + dt.timedelta(minutes=1))
    alert_schema = json.loads((layout.SCHEMAS / "alert.avsc").read_text())
    alert = {"alert_id": "a", "rule_id": "R", "title": "t", "severity": "low", "severity_id": 2,
             "tenant_id": "acme", "entity_type": "user", "entity_value": "x", "window_start": 1,
             "window_end": 2, "event_count": 1, "evidence": [], "first_seen": 1, "last_seen": 1,
             "dedup_key": "d", "created_at": 1}
    stage(staging, "alerts", "acme", T0, "part-1", [wire.encode(8, wire.plain_schema(alert_schema), alert)],
          T0 + dt.timedelta(minutes=2))
    key = Ed25519PrivateKey.generate()
    now = T0 + dt.timedelta(hours=1, minutes=5)
    crashing = Sealer(LocalStore(staging), CrashingStore(worm, crash_at), key, decoder())
    with pytest.raises(OSError):
        crashing.seal_closed(now=now)
    assert len(list(staging.rglob("part-*"))) == 2  # nothing cleared before the digest exists
    res = Sealer(LocalStore(staging), LocalStore(worm), key, decoder()).seal_closed(now=now)
    assert [(r.events, r.alerts) for r in res] == [(8, 1)]
    assert not list(staging.rglob("part-*"))
    rep = verify(worm, key)
    assert rep.ok and (rep.events, rep.alerts, rep.digests) == (8, 1, 1), rep.problem


def test_crash_after_the_digest_cleans_staging_on_the_next_run(tmp_path):
    staging, worm = tmp_path / "s", tmp_path / "w"
    stage(staging, "events", "acme", T0, "part-1", encode(make_events("acme", 3)),
          T0 + dt.timedelta(minutes=1))
    key = Ed25519PrivateKey.generate()
    sealer = Sealer(LocalStore(staging), LocalStore(worm), key, decoder())
    sealer._clean = lambda doc: None  # the crash: digest written, staging not cleared
    sealer.seal_closed(now=T0 + dt.timedelta(hours=1, minutes=5))
    assert list(staging.rglob("part-*"))
    Sealer(LocalStore(staging), LocalStore(worm), key, decoder()).seal_closed(
        now=T0 + dt.timedelta(hours=2, minutes=5))
    assert not list(staging.rglob("part-*"))
    rep = verify(worm, key)
    assert rep.ok and rep.events == 3 and rep.digests == 2


def test_verify_a_time_range_starts_from_the_signed_heads(sealed):
    rep = verify(sealed["worm"], sealed["key"], start=T0 + dt.timedelta(hours=1, minutes=30))
    assert rep.ok and rep.periods_checked == 2 and rep.events == 10 and rep.digests == 3
    root = _copy(sealed)
    _rewrite(_events_file(root, "20261128T100000Z"), lambda rows: rows[:7] + rows[8:])
    assert verify(root, sealed["key"], start=T0 + dt.timedelta(hours=1)).ok  # outside the range
    assert not verify(root, sealed["key"], end=T0 + dt.timedelta(hours=1)).ok


def test_archive_templates_and_trino_columns_render():
    from auditflow import sql

    src = sql.render("ddl/archive_source.sql", name="events_in", topic="audit.events",
                     bootstrap_servers="b:1", group_id="g", startup_mode="group-offsets", startup_options="",
                     kafka_security="'properties.security.protocol' = 'SASL_SSL'")
    sink = sql.render("ddl/archive_parquet_sink.sql", name="events_staging", path="s3://staging/archive/events")
    assert "'value.format' = 'raw'" in src and "PARTITIONED BY (tenant, dt, `hour`)" in sink
    cols = layout.trino_columns("events")
    assert '"unmapped" map(varchar, varchar)' in cols and '"time" timestamp(3)' in cols
    assert '"resources" array(row("uid" varchar' in cols


def test_a_newer_writer_schema_with_unknown_fields_is_refused(tmp_path):
    newer = copy.deepcopy(EVENT_SCHEMA)
    newer["fields"].append({"name": "risk_score", "type": ["null", "double"], "default": None})
    ev = dict(make_events("acme", 1)[0], risk_score=0.5)
    stage(tmp_path / "s", "events", "acme", T0, "part-1", [wire.encode(9, wire.plain_schema(newer), ev)],
          T0 + dt.timedelta(minutes=1))
    dec = AvroDecoder({9: json.dumps(newer)}.__getitem__)
    sealer = Sealer(LocalStore(tmp_path / "s"), LocalStore(tmp_path / "w"), Ed25519PrivateKey.generate(), dec)
    with pytest.raises(SealError, match="risk_score"):
        sealer.seal_closed(now=T0 + dt.timedelta(hours=2))
    assert list((tmp_path / "s").rglob("part-1")) and not (tmp_path / "w").exists()


def test_a_new_sealing_key_needs_a_rotation_from_the_last_one(sealed):
    import subprocess

    from auditflow.archive import trust

    old, new = sealed["key"], Ed25519PrivateKey.generate()
    old_id, new_id = dg.key_id(old.public_key()), dg.key_id(new.public_key())
    nxt = T0 + dt.timedelta(hours=3)
    more = make_events("acme", 35)[30:]  # acme's chain continues at sequence 31
    stage(sealed["staging"], "events", "acme", nxt, "part-4", encode(more), nxt + dt.timedelta(minutes=5))
    sealer = Sealer(LocalStore(sealed["staging"]), LocalStore(sealed["worm"]), new, decoder())
    with pytest.raises(SealError, match=f"the signing key {new_id} is not the key of the last digest "
                                        f"\\({old_id}\\) and no rotation"):
        sealer.seal_closed(now=nxt + dt.timedelta(hours=1, minutes=5))
    assert not (sealed["worm"] / "digests" / "20261128T130000Z.json").exists()
    rec = trust.rotation_record(old, new.public_key(), "2026-11-28T13:00:00Z")
    LocalStore(sealed["worm"]).put(trust.rotation_key(new_id, rec["valid_from"]), json.dumps(rec).encode())
    res = sealer.seal_closed(now=nxt + dt.timedelta(hours=1, minutes=5))
    assert [(r.period, r.events) for r in res] == [("20261128T130000Z", 5)]
    assert res[0].digest["rotation"] == rec and res[0].digest["key_id"] == rec["key_id"]
    import jsonschema

    jsonschema.validate(res[0].digest, json.loads((layout.SCHEMAS / "digest.schema.json").read_text()))
    rep = verify(sealed["worm"], old)  # pinned to the first key, it follows the hand-over
    assert rep.ok and rep.digests == 4 and rep.signers == [old_id, new_id], rep.problem
    p = proof.prove(LocalStore(sealed["worm"]), more[2]["event_id"])
    assert p["rotations"] == [rec] and proof.verify_proof(p, old.public_key()) == []
    f = sealed["tmp"] / "proof.json"
    f.write_text(json.dumps(p))
    node = shutil.which("node")
    assert node, "node is part of this machine kind; schemas/verify_chain.js needs it"
    js = str(layout.SCHEMAS / "verify_chain.js")
    ok = subprocess.run([node, js, str(f), "--public-key", pub_file(sealed)], capture_output=True, text=True,
                        timeout=60)
    assert ok.returncode == 0 and ok.stdout.endswith(f"digest signed by key {rec['key_id']}\n"), ok.stdout
    other = sealed["tmp"] / "other.pem"
    other.write_bytes(dg.public_pem(Ed25519PrivateKey.generate().public_key()))
    bad = subprocess.run([node, js, str(f), "--public-key", str(other)], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 1 and bad.stdout.startswith(
        f"FAIL: untrusted key: digests/20261128T130000Z.json introduces key {new_id} by a rotation from "
        f"{old_id}, which is not pinned"), bad.stdout
    assert proof.verify_proof(p, trust.read_trust_file(other)) == [bad.stdout[len("FAIL: "):-1]]
    none = subprocess.run([node, js, str(f)], capture_output=True, text=True, timeout=60)
    assert none.returncode == 2, none.stdout
    assert none.stderr.startswith("no pinned key: pass --public-key FILE"), none.stderr


def test_a_resumed_verifier_follows_the_keys_up_to_its_checkpoint(sealed):
    """`verify --watch` restarted after a rotation: a new Verifier resumes after the hand-over
    digest and must still accept the new key for the digests after it."""
    from auditflow.archive import trust

    old, new = sealed["key"], Ed25519PrivateKey.generate()
    worm = LocalStore(sealed["worm"])
    sealer = Sealer(LocalStore(sealed["staging"]), worm, new, decoder())
    events = make_events("acme", 40)
    for n, (lo, hi) in enumerate([(30, 35), (35, 40)]):
        at = T0 + dt.timedelta(hours=3 + n)
        stage(sealed["staging"], "events", "acme", at, f"part-{4 + n}", encode(events[lo:hi]),
              at + dt.timedelta(minutes=5))
    rec = trust.rotation_record(old, new.public_key(), "2026-11-28T13:00:00Z")
    worm.put(trust.rotation_key(dg.key_id(new.public_key()), rec["valid_from"]), json.dumps(rec).encode())
    res = sealer.seal_closed(now=T0 + dt.timedelta(hours=5, minutes=5))
    assert [r.period for r in res] == ["20261128T130000Z", "20261128T140000Z"]
    full = Verifier(worm, old.public_key()).run()
    assert full.ok and full.digests == 5, full.problem
    after_handover = full.verified[3]
    assert after_handover.key == "digests/20261128T130000Z.json"
    rep = Verifier(worm, old.public_key()).run(resume=after_handover)
    assert rep.ok and rep.digests == 1 and rep.signers == [dg.key_id(new.public_key())], rep.problem
    # pinned to a key the archive never used, the resumed run still refuses
    stranger = Ed25519PrivateKey.generate().public_key()
    bad = Verifier(worm, stranger).run(resume=after_handover)
    assert bad.problem is not None and bad.problem.kind == "untrusted key"
