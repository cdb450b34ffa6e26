"""Inclusion proofs bound to their event (CHAIN.md section 9): the leaf is recomputed from the
event the proof carries, tree size and root come only from the signed digest, the leaf's
position must be the one the digest gives its chain and sequence, and a malformed file is one
line of error. Built on the sealed LocalStore archive of test_archive.py."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_archive import SHARDS, run_cli, sealed  # noqa: F401  (sealed is a fixture)

from auditflow.archive import digest as dg
from auditflow.archive import layout, proof
from auditflow.archive.store import LocalStore
from udfs import chain, merkle


@pytest.fixture()
def good(sealed):  # noqa: F811
    """A proof of globex shard 1's sequence 3 (leaf 28 of 32 in period 10:00) and the real key."""
    p = proof.prove(LocalStore(sealed["worm"]), sealed["globex"][5]["event_id"])
    assert (p["chain_id"], p["sequence"], p["leaf_index"], p["tree_size"]) == (SHARDS[1], 3, 28, 32)
    return p, sealed["key"].public_key(), sealed["tmp"]


def _cli(tmp: Path, p: object, key=None, raw: str | None = None):
    f = tmp / "proof.json"
    f.write_text(raw if raw is not None else json.dumps(p))
    args = ["verify-proof", str(f)]
    if key is not None:
        pem = tmp / "pinned.pem"
        pem.write_bytes(dg.public_pem(key))
        args += ["--public-key", str(pem)]
    return f, run_cli(*args)


def test_an_intact_proof_verifies_with_the_pinned_key(good):
    p, key, tmp = good
    assert proof.verify_proof(copy.deepcopy(p), key) == []
    _f, res = _cli(tmp, p, key)
    assert res.exit_code == 0 and res.stdout.startswith(f"OK: event {p['event_id']} "), res.stdout


def test_a_self_signed_proof_is_refused_by_the_pinned_key(good):
    p, key, tmp = good
    p, forger = _self_signed(p)
    assert proof.verify_proof(copy.deepcopy(p), forger) == []  # self-consistent
    want = (f"untrusted key: digests/20261128T100000Z.json is signed with key {dg.key_id(forger)}, "
            f"which is not pinned (pinned: {dg.key_id(key)})")
    assert proof.verify_proof(p, key) == [want]
    _f, res = _cli(tmp, p, key)
    assert (res.exit_code, res.stdout) == (1, f"FAILED: {want}\n")


def test_a_proof_without_its_event_is_refused_in_one_line(good):
    p, key, tmp = good
    del p["event"]
    with pytest.raises(proof.MalformedProof, match="^malformed proof: event is missing: a proof must carry"):
        proof.verify_proof(p, key)
    f, res = _cli(tmp, p, key)
    assert res.exit_code == 1 and res.stdout == ""
    assert res.stderr == (f"Error: {f}: malformed proof: event is missing: a proof must carry the "
                          "event it proves\n")


def test_an_edited_event_is_modified(good):
    p, key, _tmp = good
    p["event"]["actor"] = {"user": {"name": "mallory"}}
    got = proof.verify_proof(p, key)
    assert len(got) == 2 and got[0].startswith("modified: the event's content hashes to "), got
    assert got[1].startswith("the audit path does not lead from the event's hash "), got


def test_a_relabelled_event_id_is_refused(good):
    p, key, _tmp = good
    other = copy.deepcopy(p)
    other["event_id"] = "globex-99999"  # the proof claims another event
    assert proof.verify_proof(other, key) == ["the event's event_id or chain fields differ from the proof's"]
    p["event_id"] = p["event"]["event_id"] = "globex-99999"  # event_id is hashed content
    got = proof.verify_proof(p, key)
    assert len(got) == 2 and got[0].startswith("modified: "), got


def test_a_relabelled_sequence_is_refused_by_its_position(good):
    p, key, _tmp = good
    p["sequence"] = p["event"]["chain"]["sequence"] = 4  # sequence is not hashed; the position is signed
    assert proof.verify_proof(p, key) == [
        f"position: leaf 28 is not where the digest puts chain {SHARDS[1]!r} sequence 4"]


def test_tree_size_and_root_come_only_from_the_digest(good):
    p, key, _tmp = good
    # a tree of the proof's own making that holds the event: size 2, root of its own
    fake = [p["event_hash"], "ab" * 32]
    p.update(leaf_index=0, tree_size=2, proof=merkle.inclusion_proof(0, fake), root=merkle.merkle_root(fake))
    assert merkle.verify_inclusion(p["event_hash"], 0, 2, p["proof"], p["root"])
    got = proof.verify_proof(p, key)
    assert got[0] == "digest mismatch: the proof's root, tree size or period is not the one the digest signs"
    assert got[1].startswith("the audit path does not lead from the event's hash "), got
    assert got[2] == f"position: leaf 0 is not where the digest puts chain {SHARDS[1]!r} sequence 3"
    assert len(got) == 3


@pytest.mark.parametrize(("edit", "why"), [
    (lambda p: p.update(event_hash=p["event_hash"].upper()), "event_hash must be 64 lower-case hex"),
    (lambda p: p["proof"].__setitem__(0, p["proof"][0][:62]), "proof must be a list of 64 lower-case hex"),
    (lambda p: p["event"]["chain"].update(prev_hash=None), "event.chain.prev_hash and event_hash must be"),
    (lambda p: p.update(leaf_index="28"), "leaf_index must be an integer >= 0"),
    (lambda p: p.update(tree_size=True), "tree_size must be an integer >= 1"),
    (lambda p: p["digest"].update(signature="not base64!"), "digest.signature must be the padded standard"),
    (lambda p: p["digest"].update(signature=p["digest"]["signature"].rstrip("=")),
     "digest.signature must be the padded standard"),
    (lambda p: p["digest"]["events"].pop("merkle_root"), "digest.events must hold"),
    (lambda p: p.pop("digest"), "digest must be an object"),
    (lambda p: p.update(format="auditflow-proof/0"), "format is 'auditflow-proof/0'"),
])
def test_a_malformed_proof_is_one_line(good, edit, why):
    p, key, tmp = good
    edit(p)
    with pytest.raises(proof.MalformedProof, match="^malformed proof: " + why.replace("(", r"\(")):
        proof.verify_proof(p, key)
    f, res = _cli(tmp, p, key)
    assert res.exit_code == 1 and res.stdout == "" and res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.startswith(f"Error: {f}: malformed proof: {why}"), res.stderr


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", "\"proof\""])
def test_a_file_that_is_not_a_proof_is_one_line(good, raw):
    p, key, tmp = good
    f, res = _cli(tmp, p, key, raw=raw)
    assert res.exit_code == 1 and res.stdout == "" and res.stderr.count("\n") == 1, res.stderr
    first = (f"Error: {f}: not a JSON proof (" if raw.startswith("{")
             else f"Error: {f}: malformed proof: not a JSON object")
    assert res.stderr.startswith(first), res.stderr


# --- the same checks in schemas/verify_chain.js ---------------------------------------------

def _node(tmp: Path, p: object, key, raw: str | None = None) -> tuple[int, str]:
    node = shutil.which("node")
    assert node, "node is part of this machine kind; schemas/verify_chain.js needs it"
    f = tmp / "proof-js.json"
    f.write_text(raw if raw is not None else json.dumps(p))
    pem = tmp / "pinned-js.pem"
    pem.write_bytes(dg.public_pem(key))
    res = subprocess.run([node, str(layout.SCHEMAS / "verify_chain.js"), str(f), str(pem)],
                         capture_output=True, text=True, timeout=60)
    assert res.stderr == "", res.stderr  # never a stack trace
    return res.returncode, res.stdout


def _self_signed(p: dict) -> tuple[dict, object]:
    """p's event rewritten and re-hashed, in a one-leaf tree signed by a key of its own."""
    forger = Ed25519PrivateKey.generate()
    p["event"]["message"] = "rewritten"
    h = chain.compute_hash(p["event"]["chain"]["prev_hash"], p["event"])
    p["event"]["chain"]["event_hash"] = p["event_hash"] = h
    doc = copy.deepcopy(p["digest"])
    doc["events"] = {"count": 1, "tree_size": 1, "merkle_root": merkle.merkle_root([h])}
    doc["chains"] = [{**next(c for c in doc["chains"] if c["chain_id"] == p["chain_id"]),
                      "count": 1, "first_sequence": p["sequence"], "last_sequence": p["sequence"]}]
    p.update(digest=dg.sign(doc, forger), public_key=dg.public_pem(forger.public_key()).decode(),
             leaf_index=0, tree_size=1, proof=[], root=doc["events"]["merkle_root"])
    return p, forger.public_key()


def _fake_tree(p: dict) -> None:
    fake = [p["event_hash"], "ab" * 32]
    p.update(leaf_index=0, tree_size=2, proof=merkle.inclusion_proof(0, fake), root=merkle.merkle_root(fake))


@pytest.mark.parametrize(("name", "edit", "want"), [
    ("intact", lambda p: None, None),
    ("self_signed", lambda p: _self_signed(p), "FAIL: untrusted key: digests/20261128T100000Z.json is "
     "signed with key {signer}, which is not pinned (pinned: {pinned})\n"),
    ("edited", lambda p: p["event"].update(actor={"user": {"name": "mallory"}}),
     "FAIL: event content hashes to event_hash, audit path to the root\n"),
    ("event_id", lambda p: p.update(event_id="globex-99999"),
     "FAIL: event_id and chain fields of the event match the proof\n"),
    ("sequence", lambda p: (p.update(sequence=4), p["event"]["chain"].update(sequence=4)),
     "FAIL: leaf position signed by the digest for its chain and sequence\n"),
    ("fake_tree", _fake_tree, "FAIL: root and size signed by the digest, audit path to the root, "
     "leaf position signed by the digest for its chain and sequence\n"),
])
def test_node_refuses_what_verify_proof_refuses(good, name, edit, want):
    p, key, tmp = good
    edit(p)
    code, out = _node(tmp, p, key)
    signer = p["digest"]["key_id"]
    if want is None:
        assert (code, out) == (0, f"OK: {p['event_id']} is leaf 28 of 32 in period 20261128T100000Z, "
                                  f"digest signed by key {signer}\n")
    else:
        assert (code, out) == (1, want.format(signer=signer, pinned=dg.key_id(key)))
    assert (proof.verify_proof(p, key) == []) is (want is None)


def test_node_a_self_signed_proof_verifies_only_with_the_forgers_key(good):
    p, key, tmp = good
    p, forger = _self_signed(p)
    fid = dg.key_id(forger)
    assert _node(tmp, p, forger) == (0, f"OK: {p['event_id']} is leaf 0 of 1 in period 20261128T100000Z, "
                                        f"digest signed by key {fid}\n")
    assert _node(tmp, p, key) == (1, f"FAIL: untrusted key: digests/20261128T100000Z.json is signed with "
                                     f"key {fid}, which is not pinned (pinned: {dg.key_id(key)})\n")


@pytest.mark.parametrize(("edit", "raw", "why"), [
    (lambda p: p.pop("event"), None, "event is missing: a proof must carry the event it proves"),
    (lambda p: p.update(root=p["root"].upper()), None, "event_hash and root must be 64 lower-case hex"),
    (lambda p: p["proof"].append(1), None, "proof must be a list of 64 lower-case hex characters each"),
    (lambda p: p["digest"].update(signature="@@@="), None, "digest.signature must be the padded standard"),
    (lambda p: p["digest"]["events"].update(tree_size="32"), None, "digest.events must hold an integer"),
    (lambda p: None, "{not json", "in JSON at position 1"),
    (lambda p: None, "17", "not a JSON object"),
])
def test_node_a_malformed_proof_is_one_line(good, edit, raw, why):
    p, key, tmp = good
    edit(p)
    code, out = _node(tmp, p, key, raw=raw)
    assert code == 2 and out.startswith("MALFORMED: ") and out.count("\n") == 1 and why in out, out
