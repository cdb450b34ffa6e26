"""The second verifier, tools/verify-go (Go standard library only), built here and run over the
chain vectors, over a proof from a sealed LocalStore archive and tampered copies of it, and over
the archive directory and tampered copies, and over archives with quarantined records (the same
verdict and lines as `auditflow verify`). Go is part of the CI machine: no go, a failure."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import test_seal_checks as seal_checks
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_archive import SHARDS, T0, _copy, _events_file, encode, make_events, run_cli, sealed, stage  # noqa: F401
from test_proof import _fake_tree, _self_signed
from test_seal_checks import HOUR, tampered  # noqa: F401  (sealed and tampered are fixtures)

from auditflow.archive import digest as dg
from auditflow.archive import layout, proof
from auditflow.archive.store import LocalStore
from auditflow.archive.verify import Verifier
from udfs import chain

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


def _export(root: Path, n: int = 3) -> None:
    res = subprocess.run([os.sys.executable, str(SRC / "export_json.py"), str(root)], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert (res.returncode, res.stderr) == (0, f"{n} events files exported\n"), res.stderr


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


# ---------------------------------------------------------------- quarantine (CHAIN.md section 8)
def _relinked(tmp: Path) -> dict:
    """acme 1..6 where a second event claims sequence 2 (extra) and a re-linked 5 (wrong_prev_hash)
    takes no place, so 6 gets a gap entry whose resume is the original 5."""
    staging, worm = tmp / "s", tmp / "w"
    acme = make_events("acme", 6)
    relinked = copy.deepcopy(acme[4])
    relinked["chain"]["prev_hash"] = "ab" * 32
    relinked["chain"]["event_hash"] = chain.compute_hash(relinked["chain"]["prev_hash"], relinked)
    other = copy.deepcopy(acme[1])
    other["message"] = "another event claiming sequence 2"
    other["chain"]["event_hash"] = chain.compute_hash(other["chain"]["prev_hash"], other)
    stage(staging, "events", "acme", T0, "part-1", encode(acme[:4] + [other, relinked, acme[5]]),
          T0 + dt.timedelta(minutes=1))
    key = Ed25519PrivateKey.generate()
    (res,) = seal_checks.seal(staging, worm, key, T0 + 2 * HOUR)
    assert [(q["kind"], q["sequence"]) for q in res.quarantined] == [("extra", 2), ("wrong_prev_hash", 5),
                                                                     ("missing", 5)]
    return {"worm": worm, "key": key}


def _undecodable(tmp: Path) -> dict:
    """acme 1..4 whose staged record 2 is not Confluent wire: undecodable (no chain) and a gap."""
    staging, worm = tmp / "s", tmp / "w"
    acme = make_events("acme", 4)
    stage(staging, "events", "acme", T0, "part-1", encode(acme[:1]) + [b"junk"] + encode(acme[2:]),
          T0 + dt.timedelta(minutes=1))
    key = Ed25519PrivateKey.generate()
    (res,) = seal_checks.seal(staging, worm, key, T0 + 2 * HOUR)
    assert [(q["kind"], q["chain_id"], q["sequence"]) for q in res.quarantined] == [
        ("undecodable", None, None), ("missing", "acme", 2)]
    return {"worm": worm, "key": key}


def _pem(worm: Path, key) -> Path:
    pem = worm.parent / "pinned.pem"
    pem.write_bytes(dg.public_pem(key.public_key()))
    return pem


def _both(exe: Path, worm: Path, key) -> tuple[tuple[int, list[str]], tuple[int, list[str]]]:
    """(exit, stdout lines) of `auditflow verify --worm` and of `verify-go archive` on worm; verify
    reads a copy without the JSON exports, which are no part of the archive (it would call them extra)."""
    pem = _pem(worm, key)
    plain = worm.parent / "without-exports"
    shutil.rmtree(plain, ignore_errors=True)
    shutil.copytree(worm, plain, ignore=shutil.ignore_patterns("*.parquet.json"))
    py = run_cli("verify", "--worm", str(plain), "--public-key", str(pem))
    code, out, err = _run(exe, "archive", "-public-key", str(pem), str(worm))
    assert err == ""
    return (py.exit_code, py.stdout.splitlines()), (code, out.splitlines())


@pytest.mark.parametrize(("build", "files", "events", "n"), [
    (None, 3, 19, 1),  # the tampered fixture: acme sequence 4 modified, kept in place
    (_relinked, 1, 5, 3),
    (_undecodable, 1, 3, 2),
], ids=["modified", "relinked", "undecodable"])
def test_go_reports_quarantined_records_as_verify_does(verify_go, request, tmp_path, build, files, events, n):
    arch = build(tmp_path) if build else request.getfixturevalue("tampered")
    worm, key = arch["worm"], arch["key"]
    assert Verifier(LocalStore(worm), key.public_key()).run().problem.kind == "quarantined"
    digests = len(list((worm / "digests").glob("*.json")))
    head = (f"QUARANTINED: {n} record(s) the sealer held back (listed in the signed digests, kept under "
            f"quarantine/); the rest verifies: {digests} digests (signatures by trusted keys "
            f"{dg.key_id(key.public_key())}, digest chain, heads), {files} files (SHA-256, size), ")
    for exported in (False, True):
        if exported:
            _export(worm, files)
        (py_code, py_out), (code, out) = _both(verify_go, worm, key)
        assert (py_code, py_out[0].startswith(f"QUARANTINED: {n} record(s)"), len(py_out)) == (1, True, n + 1)
        # one line per record, in the same words as auditflow verify
        assert (code, out[1:]) == (1, py_out[1:])
        assert out[0] == head + (f"{events} events from {files} JSON exports" if exported else
                                 "events not checked (no JSON export beside the Parquet files)")


def _kind_line(lines: list[str]) -> str:
    return next(s for s in lines if s.startswith("  kind: "))


def test_go_and_verify_catch_a_row_deleted_after_the_quarantine(verify_go, tampered):  # noqa: F811
    worm, key = tampered["worm"], tampered["key"]
    pid = tampered["res"][0].period
    _export(worm, 3)
    f = next(worm.glob(f"events/tenant=acme/*/*/{pid}.parquet"))
    # in the export only, sequence 6 replaced by a repeat of 7 (the signed row count kept): Go's
    # chain check, resumed at the quarantined sequence 4, finds the hole at 6
    export = f.with_name(f.name + ".json")
    rows = json.loads(export.read_text())
    assert [r["chain"]["sequence"] for r in rows] == [1, 2, 3, 5, 6, 7, 8, 9, 10]
    rows[4] = rows[5]
    export.write_text(json.dumps(rows))
    code, out, _err = _run(verify_go, "archive", "-public-key", str(_pem(worm, key)), str(worm))
    go_kind = out.splitlines()[1]
    assert (code, out.splitlines()[0]) == (
        1, "BROKEN: missing: chain \"acme\" lacks sequence 6; the next event present is sequence 7")
    # sequence 6 deleted from the sealed Parquet file itself: verify names the same hole, Go (which
    # reads no Parquet) the file whose bytes the digest no longer matches
    rows = layout.to_records(pq.read_table(f))
    pq.write_table(layout.to_table([r for r in rows if r["chain"]["sequence"] != 6], "events"), f,
                   compression="zstd")
    _export(worm, 3)
    (py_code, py_out), (code, out) = _both(verify_go, worm, key)
    assert (py_code, _kind_line(py_out)) == (1, f"  kind: missing; tenant/chain: acme; sequence: 6; "
                                                f"period: {pid}")
    assert go_kind.startswith(_kind_line(py_out) + "; checked before the break: ")
    assert code == 1 and out[0].startswith(f"BROKEN: modified: {f.relative_to(worm)} has SHA-256 ")


def _alter(worm: Path, q: dict) -> None:
    path = worm / q["key"]
    path.write_bytes(path.read_bytes().replace(b"rewritten", b"innocent!"))


@pytest.mark.parametrize(("tamper", "kind"), [
    (_alter, "digest mismatch"),
    (lambda worm, q: (worm / q["key"]).unlink(), "missing"),
    (lambda worm, q: (worm / q["key"]).with_name("000099.json").write_text("{}"), "extra"),
], ids=["altered", "deleted", "unlisted"])
def test_go_and_verify_catch_a_tampered_quarantine_object(verify_go, tampered, tamper, kind):  # noqa: F811
    worm = tampered["worm"]
    q = tampered["res"][0].digest["quarantined"][0]
    _export(worm, 3)
    tamper(worm, q)
    (py_code, py_out), (code, out) = _both(verify_go, worm, tampered["key"])
    assert (py_code, _kind_line(py_out).split(";")[0]) == (1, f"  kind: {kind}")
    # the same sentence, and the same kind, tenant, sequence and period
    assert (code, out[0]) == (1, py_out[0])
    assert out[1].startswith(_kind_line(py_out) + "; checked before the break: ")


def test_go_refuses_a_gap_no_signed_entry_explains(verify_go, tampered):  # noqa: F811
    """The modified entry's resume removed and the digests re-signed with the sealing key: the
    entry no longer bridges acme's sequence 4, and both verifiers find it missing."""
    worm, key = tampered["worm"], tampered["key"]
    prev = None
    for f in sorted((worm / "digests").glob("*.json")):
        doc = json.loads(f.read_bytes())
        for q in doc["quarantined"]:
            q.pop("resume", None)
        if prev is not None:
            doc["previous"]["sha256"] = dg.sha256(prev)
        doc.pop("signature")
        prev = dg.encode(dg.sign(doc, key))
        f.write_bytes(prev)
    _export(worm, 3)
    (py_code, py_out), (code, out) = _both(verify_go, worm, key)
    assert (py_code, _kind_line(py_out)) == (1, "  kind: missing; tenant/chain: acme; sequence: 4; "
                                                f"period: {tampered['res'][0].period}")
    assert code == 1 and out[1].startswith(_kind_line(py_out) + "; checked before the break: ")
