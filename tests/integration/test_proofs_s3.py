"""Proofs bound to their event, on the real stack: events staged in S3 (SeaweedFS), decoded
through the schema registry and sealed into a WORM prefix of their own (Object Lock, 60 s),
then `auditflow prove` from the bucket and the three checkers (verify-proof, verify_chain.js,
verify-go) on the proof, a self-signed copy and an event-less copy, and verify-go on a
downloaded copy of the archive."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pyarrow as pa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_archive_job import download

from auditflow import registry
from auditflow.archive import digest as dg
from auditflow.archive import layout, sample, wiring
from auditflow.archive.seal import Sealer
from udfs import wire

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "unit"))  # the Go build and the forged proof, shared
from test_proof import _self_signed  # noqa: E402
from test_verify_go import build  # noqa: E402


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "auditflow.cli", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_proof_from_s3_is_checked_alike_by_all_three_verifiers(stack, cfg, tmp_path):
    run = uuid.uuid4().hex[:8]
    prefix, tenant = f"it/{run}p/", f"it-proof-{run}"
    now = dt.datetime.now(dt.UTC)
    events = list(sample.chained(tenant, 12, int(now.timestamp() * 1000), step_ms=10, seed=5, partitions=2))
    # the events schema under the events subject, as `auditflow schemas apply` registers it (a
    # fresh stack has none yet); registering the same schema again returns its id
    schema_id = registry.client(cfg, "schema-admin").register_schema("audit.events-value",
                                                     registry.load_schema("audit_event"))
    parsed = wire.plain_schema(layout.load_avsc("events"))
    staging, worm = wiring.staging_store(cfg, prefix, "admin"), wiring.worm_store(cfg, prefix, "admin")
    table = pa.table({"value": pa.array([wire.encode(schema_id, parsed, e) for e in events], pa.binary())})
    hour = now.replace(minute=0, second=0, microsecond=0)
    staging.put(f"events/{layout.partition_path(tenant, hour)}part-0.parquet", layout.parquet_bytes(table))
    key = Ed25519PrivateKey.generate()
    sealer = Sealer(staging, worm, key, wiring.decoder(cfg), period_s=60, grace_s=0, retention_s=60)
    results = sealer.seal_closed(now=now + dt.timedelta(seconds=61))  # the staged file's period closed
    assert sum(r.events for r in results) == 12 and staging.list("events/") == []
    pem = tmp_path / "pinned.pem"
    pem.write_bytes(dg.public_pem(key.public_key()))
    target = events[7]  # partition 1, sequence 4
    good = tmp_path / "proof.json"
    res = _cli("prove", target["event_id"], "--worm", prefix, "--tenant", tenant, "-o", str(good))
    assert res.returncode == 0, res.stderr
    p = json.loads(good.read_text())
    # partition 1's sequence 4: after partition 0's six leaves, its fourth
    assert (p["chain_id"], p["sequence"], p["leaf_index"], p["tree_size"]) == (
        f"{tenant}/audit.raw.app/1", 4, 9, 12)

    go, node = build(tmp_path), shutil.which("node")
    assert node, "node is part of this machine kind; schemas/verify_chain.js needs it"
    js = str(ROOT / "schemas" / "verify_chain.js")

    def check(f: Path) -> tuple[int, int, int, str, str, str]:
        py = _cli("verify-proof", str(f), "--public-key", str(pem))
        g = subprocess.run([str(go), "proof", "-public-key", str(pem), str(f)], capture_output=True,
                           text=True, timeout=120)
        n = subprocess.run([node, js, str(f), str(pem)], capture_output=True, text=True, timeout=120)
        assert "Traceback" not in py.stderr and g.stderr == n.stderr == "", py.stderr + g.stderr + n.stderr
        return py.returncode, g.returncode, n.returncode, py.stdout + py.stderr, g.stdout, n.stdout

    code_py, code_go, code_js, out_py, out_go, out_js = check(good)
    assert (code_py, code_go, code_js) == (0, 0, 0), out_py + out_go + out_js
    assert out_go.startswith(f"OK: event {target['event_id']} ")
    assert out_js.startswith(f"OK: {target['event_id']} is leaf 9 of 12 ")

    forged, forger = _self_signed(json.loads(good.read_text()))
    fid = dg.key_id(forger)
    bad = tmp_path / "self-signed.json"
    bad.write_text(json.dumps(forged))
    code_py, code_go, code_js, out_py, out_go, out_js = check(bad)
    assert (code_py, code_go, code_js) == (1, 1, 1), out_py + out_go + out_js
    # only pinned keys: the forger's key, embedded in the proof, is untrusted (named) by all three
    assert out_py.startswith(f"FAILED: untrusted key: digests/{forged['period']}.json is signed with key "
                             f"{fid}, which is not pinned (pinned: "), out_py
    assert out_go.startswith(f"FAILED: bad signature: untrusted key {fid}: it is not pinned"), out_go
    assert out_js.startswith(f"FAIL: untrusted key: digests/{forged['period']}.json is signed with key "
                             f"{fid}, which is not pinned (pinned: "), out_js

    eventless = json.loads(good.read_text())
    del eventless["event"]
    bad.write_text(json.dumps(eventless))
    code_py, code_go, code_js, out_py, out_go, out_js = check(bad)
    why = "malformed proof: event is missing: a proof must carry the event it proves"
    assert (code_py, code_go, code_js) == (1, 2, 2)
    assert out_py == f"Error: {bad}: {why}\n"
    assert out_go == f"MALFORMED: {bad}: event is missing: a proof must carry the event it proves\n"
    assert out_js == f"MALFORMED: {bad}: event is missing: a proof must carry the event it proves\n"

    copy = download(cfg, prefix, tmp_path / "worm-copy")
    res = subprocess.run([str(go), "archive", "-public-key", str(pem), str(copy)], capture_output=True,
                         text=True, timeout=120)
    assert (res.returncode, res.stderr) == (0, ""), res.stdout
    kid = dg.key_id(key.public_key())
    want = f"OK: {len(results)} digests (signatures by trusted keys {kid}, "
    assert res.stdout.startswith(want), res.stdout
