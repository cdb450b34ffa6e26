"""The second verifier, tools/verify-go (Go standard library only), built here and run over the
chain vectors, over a proof from a sealed LocalStore archive and tampered copies of it, and over
the archive directory and tampered copies. Go is part of the CI machine: no go, a failure."""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_archive import SHARDS, _copy, _events_file, sealed  # noqa: F401  (sealed is a fixture)
from test_proof import _fake_tree, _self_signed

from auditflow.archive import digest as dg
from auditflow.archive import proof
from auditflow.archive.store import LocalStore

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "tools" / "verify-go"
VECTORS = ROOT / "schemas" / "chain_vectors.json"


def _go() -> str:
    local = "/usr/local/go/bin/go"
    go = shutil.which("go") or (local if os.access(local, os.X_OK) else None)
    assert go, "go is part of this machine kind (/usr/local/go/bin/go); tools/verify-go needs it"
    return go


def _go_env(tmp: Path) -> dict[str, str]:
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "", "GOPROXY": "off", "CGO_ENABLED": "0"}
    if not os.access(Path.home(), os.W_OK):  # the build cache must live somewhere writable
        env["GOCACHE"] = str(tmp / "gocache")
    return env


def build(tmp: Path) -> Path:
    """go build tools/verify-go into tmp (also used by tests/integration/test_proofs_s3.py)."""
    exe = tmp / "verify-go"
    res = subprocess.run([_go(), "build", "-o", str(exe), "."], cwd=SRC, env=_go_env(tmp),
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return exe


@pytest.fixture(scope="module")
def verify_go(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("verify-go"))


def test_go_source_is_vetted_formatted_and_its_tests_pass(tmp_path):
    env = _go_env(tmp_path)
    for args in (["vet", "./..."], ["test", "-count=1", "./..."]):
        res = subprocess.run([_go(), *args], cwd=SRC, env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stdout + res.stderr
    gofmt = Path(_go()).with_name("gofmt")
    res = subprocess.run([str(gofmt), "-l", "."], cwd=SRC, capture_output=True, text=True, timeout=120)
    assert (res.returncode, res.stdout) == (0, ""), res.stdout + res.stderr


def _run(exe: Path, *args: str) -> tuple[int, str, str]:
    res = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120)
    return res.returncode, res.stdout, res.stderr


def _expected_vector_checks(doc: dict) -> int:
    """verify-go's count: two per event, the intact chains, one per tampered and canonical case,
    the RFC 6962 roots, two per RFC 6962 proof, the acme root, three per acme proof, the period."""
    m = doc["merkle"]
    return (2 * len(doc["events"]) + 1 + len(doc["tampered"]) + len(doc["canonical_cases"])
            + len(m["rfc6962"]["roots"]) + 2 * len(m["rfc6962"]["inclusion"]) + 1
            + 3 * len(m["acme_period"]["inclusion"]) + 1)


def test_go_passes_every_vector(verify_go):
    doc = json.loads(VECTORS.read_text())
    assert _run(verify_go, "vectors", str(VECTORS)) == (
        0, f"verify-go vectors: {_expected_vector_checks(doc)} passed, 0 failed\n", "")


def test_go_fails_on_a_wrong_vector(verify_go, tmp_path):
    doc = json.loads(VECTORS.read_text())
    doc["events"][2]["canonical"] = doc["events"][2]["canonical"].replace("billing-api", "billing-apj")
    big = next(c for c in doc["canonical_cases"] if c["name"] == "big_integer")
    big["canonical"] = "accepted"
    del big["error"]  # a vector claiming 2^53 can be canonicalized: verify-go must disagree
    f = tmp_path / "v.json"
    f.write_text(json.dumps(doc, ensure_ascii=False))
    n = _expected_vector_checks(doc)
    code, out, _err = _run(verify_go, "vectors", str(f))
    assert code == 1
    assert out.splitlines()[0] == "FAIL canonical form of globex-app-0001"
    assert out.splitlines()[1].startswith(
        "FAIL canonical case big_integer (got , integer 9007199254740992 is outside")
    assert out.splitlines()[2] == f"verify-go vectors: {n - 2} passed, 2 failed"


@pytest.fixture()
def go_proof(sealed, tmp_path):  # noqa: F811
    p = proof.prove(LocalStore(sealed["worm"]), sealed["globex"][5]["event_id"])
    key = tmp_path / "pinned.pem"
    key.write_bytes(dg.public_pem(sealed["key"].public_key()))
    return p, sealed["key"].public_key(), key, tmp_path


def _proof(exe: Path, key: Path, tmp: Path, p: object) -> tuple[int, str, str]:
    f = tmp / "proof.json"
    f.write_text(json.dumps(p))
    return _run(exe, "proof", "-public-key", str(key), str(f))


def test_go_verifies_a_proof_with_the_pinned_key(verify_go, go_proof):
    p, pub, key, tmp = go_proof
    assert _proof(verify_go, key, tmp, p) == (
        0, f'OK: event globex-00005 (chain "{SHARDS[1]}" sequence 3) is leaf 28 of 32 in period '
           f"20261128T100000Z, whose digest is signed by trusted key {dg.key_id(pub)}\n", "")


@pytest.mark.parametrize("edit", [
    lambda p: p["event"].update(actor={"user": {"name": "mallory"}}),
    lambda p: p.update(event_id="globex-99999"),
    lambda p: (p.update(sequence=4), p["event"]["chain"].update(sequence=4)),
    lambda p: (p.update(chain_id=SHARDS[0]), p["event"]["chain"].update(chain_id=SHARDS[0])),
    _fake_tree,
], ids=["edited", "event_id", "sequence", "moved", "fake_tree"])
def test_go_refuses_a_tampered_proof_as_verify_proof_does(verify_go, go_proof, edit):
    p, pub, key, tmp = go_proof
    edit(p)
    want = proof.verify_proof(copy.deepcopy(p), pub)
    assert want  # the Python checker refuses it too
    code, out, err = _proof(verify_go, key, tmp, p)
    # the same problems, in the same order and words (Go quotes with ", Python's repr with ')
    assert (code, out.replace('"', "'"), err) == (1, "".join(f"FAILED: {m}\n" for m in want), "")


def test_go_refuses_a_self_signed_proof(verify_go, go_proof):
    p, pub, key, tmp = go_proof
    p, forger = _self_signed(p)
    assert _proof(verify_go, key, tmp, p) == (
        1, f"FAILED: bad signature: untrusted key {dg.key_id(forger)}: it is not pinned\n", "")
    forged = tmp / "forger.pem"  # pinned to the forger's key the same file verifies: only the pin differs
    forged.write_bytes(dg.public_pem(forger))
    assert _proof(verify_go, forged, tmp, p)[0] == 0


def test_go_refuses_an_event_less_proof_in_one_line(verify_go, go_proof):
    p, _pub, key, tmp = go_proof
    del p["event"]
    assert _proof(verify_go, key, tmp, p) == (
        2, f"MALFORMED: {tmp / 'proof.json'}: event is missing: a proof must carry the event it proves\n", "")


def _export(root: Path) -> None:
    res = subprocess.run([os.sys.executable, str(SRC / "export_json.py"), str(root)], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert (res.returncode, res.stderr) == (0, "3 events files exported\n"), res.stderr


def test_go_verifies_the_sealed_archive(verify_go, sealed):  # noqa: F811
    root = _copy(sealed)
    kid = dg.key_id(sealed["key"].public_key())
    key = sealed["tmp"] / "pinned.pem"
    key.write_bytes(dg.public_pem(sealed["key"].public_key()))
    head = f"OK: 3 digests (signatures by trusted keys {kid}, digest chain, heads), 4 files (SHA-256, size), "
    assert _run(verify_go, "archive", "-public-key", str(key), str(root)) == (
        0, head + "events not checked (no JSON export beside the Parquet files)\n", "")
    _export(root)
    assert _run(verify_go, "archive", "-public-key", str(key), str(root)) == (
        0, head + "42 events from 3 JSON exports\n", "")


def _tamper_parquet(root: Path) -> None:
    f = _events_file(root, "20261128T100000Z")
    data = bytearray(f.read_bytes())
    data[100] ^= 1
    f.write_bytes(bytes(data))


def _tamper_export(root: Path) -> None:
    f = _events_file(root, "20261128T100000Z")
    f = f.with_name(f.name + ".json")
    rows = json.loads(f.read_text())
    rows[3]["message"] = "edited"
    f.write_text(json.dumps(rows))


def _resign(root: Path) -> None:
    f = root / "digests" / "20261128T120000Z.json"
    doc = json.loads(f.read_text())
    f.write_bytes(dg.encode(dg.sign(doc, Ed25519PrivateKey.generate())))


@pytest.mark.parametrize(("tamper", "want"), [
    (_tamper_parquet,
     "BROKEN: modified: events/tenant=acme/dt=2026-11-28/hour=10/20261128T100000Z.parquet has"),
    (_tamper_export,
     "BROKEN: modified: chain \"acme\" sequence 4 (event_id acme-00003, position 3): its content"),
    (lambda root: (root / "digests" / "20261128T110000Z.json").unlink(),
     "BROKEN: missing: no digest for 2026-11-28T11:00:00Z .. 2026-11-28T12:00:00Z"),
    (_resign, "BROKEN: bad signature: digests/20261128T120000Z.json: untrusted key "),
    (lambda root: shutil.copy(_events_file(root, "20261128T100000Z"),
                              _events_file(root, "20261128T100000Z").with_name("more.parquet")),
     "BROKEN: extra: events/tenant=acme/dt=2026-11-28/hour=10/more.parquet is in the archive but in no"),
], ids=["parquet", "export", "digest_removed", "resigned", "extra_file"])
def test_go_refuses_a_tampered_archive(verify_go, sealed, tamper, want):  # noqa: F811
    root = _copy(sealed)
    _export(root)
    key = sealed["tmp"] / "pinned.pem"
    key.write_bytes(dg.public_pem(sealed["key"].public_key()))
    tamper(root)
    code, out, err = _run(verify_go, "archive", "-public-key", str(key), str(root))
    assert (code, err) == (1, "") and out.startswith(want), out


def _rotate(p: dict, old: Ed25519PrivateKey, signer: Ed25519PrivateKey | None = None) -> Ed25519PrivateKey:
    """Re-sign p's digest with a new key that a rotation record (shared format, CHAIN.md section
    8) introduces: signed by ``signer`` (the old key unless given), inside the digest and in
    ``rotations``. Returns the new key."""
    new = Ed25519PrivateKey.generate()
    rot = {"format": "auditflow-key-rotation/1", "previous_key_id": dg.key_id(old.public_key()),
           "key_id": dg.key_id(new.public_key()), "public_key": dg.public_pem(new.public_key()).decode(),
           "valid_from": p["digest"]["period"]["start"]}
    rot["signature"] = base64.b64encode((signer or old).sign(dg.signed_bytes(rot))).decode()
    p["digest"] = dg.sign({**p["digest"], "rotation": rot}, new)
    p["rotations"] = [rot]
    return new


def test_go_follows_a_rotation_signed_by_the_pinned_key(verify_go, go_proof, sealed):  # noqa: F811
    p, _pub, key, tmp = go_proof
    new = _rotate(p, sealed["key"])
    code, out, err = _proof(verify_go, key, tmp, p)
    assert (code, err) == (0, "") and out.endswith(
        f"whose digest is signed by trusted key {dg.key_id(new.public_key())}\n"), out


def test_go_refuses_a_rotation_the_pinned_key_did_not_sign(verify_go, go_proof, sealed):  # noqa: F811
    p, pub, key, tmp = go_proof
    # a hand-over from the pinned key to a new one, signed by someone else
    new = _rotate(p, sealed["key"], signer=Ed25519PrivateKey.generate())
    assert _proof(verify_go, key, tmp, p) == (
        1, f"FAILED: bad signature: untrusted key {dg.key_id(new.public_key())}: its rotation record is not "
           f"signed by the accepted key {dg.key_id(pub)}\n", "")
