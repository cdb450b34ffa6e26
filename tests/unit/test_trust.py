"""The pinned-trust rule of auditflow/archive/trust.py (pure logic, no services): which key may
sign each digest of a chain, rotation records, a proof's `rotations`, trust files and where
pinned keys come from, and that only the local profile ever generates a signing key."""

from __future__ import annotations

import copy
import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditflow import config
from auditflow.archive import digest as dg
from auditflow.archive import trust
from auditflow.archive.seal import iso, period_id

T0 = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC)
K1, K2, K3 = (Ed25519PrivateKey.generate() for _ in range(3))


def kid(key: Ed25519PrivateKey) -> str:
    return dg.key_id(key.public_key())


def digest(n: int, key: Ed25519PrivateKey, rotation: dict | None = None) -> dict:
    """Digest n of a chain of one-hour periods (only what the key rule reads), signed by `key`."""
    start = T0 + dt.timedelta(hours=n)
    doc = {"format": dg.FORMAT, "period": {"id": period_id(start), "start": iso(start),
                                           "end": iso(start + dt.timedelta(hours=1))},
           "events": {"tree_size": 0, "merkle_root": dg.sha256(b"")}, "chains": []}
    if rotation is not None:
        doc["rotation"] = rotation
    return dg.sign(doc, key)


def start_of(n: int) -> str:
    return iso(T0 + dt.timedelta(hours=n))


def handover(old: Ed25519PrivateKey, new: Ed25519PrivateKey, n: int) -> dict:
    return trust.rotation_record(old, new.public_key(), start_of(n))


def run(pinned, docs: list[dict]) -> list[str | None]:
    chain = trust.KeyChain(pinned)
    return [chain.check(d) for d in docs]


def test_one_pinned_key_accepts_its_digests():
    assert run(K1.public_key(), [digest(0, K1), digest(1, K1)]) == [None, None]


def test_a_rotation_signed_by_the_accepted_key_hands_over():
    docs = [digest(0, K1), digest(1, K1, ), digest(2, K2, handover(K1, K2, 2)), digest(3, K2)]
    chain = trust.KeyChain(K1.public_key())
    assert [chain.check(d) for d in docs] == [None] * 4
    assert chain.current == kid(K2) and chain.retired == {kid(K1): kid(K2)}


def test_a_new_key_without_a_rotation_is_untrusted_and_named():
    problems = run(K1.public_key(), [digest(0, K1), digest(1, K2)])
    assert problems == [None, f"untrusted key: digests/20261128T110000Z.json is signed with key {kid(K2)}, "
                              f"but the accepted key is {kid(K1)} and the digest carries no rotation record "
                              "from it"]


def test_a_key_that_is_not_pinned_cannot_start_the_chain():
    problems = run(K1.public_key(), [digest(0, K2)])
    assert problems == [f"untrusted key: digests/20261128T100000Z.json is signed with key {kid(K2)}, which "
                        f"is not pinned (pinned: {kid(K1)})"]


def test_a_self_signed_rotation_is_untrusted():
    forged = handover(K2, K2, 1)  # the new key vouches for itself
    forged["previous_key_id"] = kid(K1)
    p = run(K1.public_key(), [digest(0, K1), digest(1, K2, forged)])[1]
    assert p == (f"untrusted key: digests/20261128T110000Z.json introduces key {kid(K2)} with a rotation "
                 f"record that has a signature that does not verify with the previous key {kid(K1)}")


def test_a_rotation_from_another_key_than_the_accepted_one_is_untrusted():
    p = run(K1.public_key(), [digest(0, K1), digest(1, K2, handover(K3, K2, 1))])[1]
    assert p == (f"untrusted key: digests/20261128T110000Z.json introduces key {kid(K2)} by a rotation from "
                 f"{kid(K3)}, but the accepted key is {kid(K1)}")


def test_a_rotation_valid_from_another_period_is_untrusted():
    p = run(K1.public_key(), [digest(0, K1), digest(1, K1), digest(2, K2, handover(K1, K2, 1))])[2]
    assert p == (f"untrusted key: digests/20261128T120000Z.json introduces key {kid(K2)} with a rotation "
                 f"valid from {start_of(1)}, not the period start {start_of(2)}")


def test_a_rotation_naming_another_public_key_is_untrusted():
    rot = handover(K1, K2, 1)
    rot["public_key"] = dg.public_pem(K3.public_key()).decode()
    p = run(K1.public_key(), [digest(0, K1), digest(1, K2, rot)])[1]
    assert p == (f"untrusted key: digests/20261128T110000Z.json introduces key {kid(K2)} with a rotation "
                 f"record that names key_id {kid(K2)} but its public_key has key id {kid(K3)}")


def test_the_retired_key_cannot_sign_again():
    docs = [digest(0, K1), digest(1, K2, handover(K1, K2, 1)), digest(2, K1)]
    assert run(K1.public_key(), docs)[2] == (
        f"untrusted key: digests/20261128T120000Z.json is signed with key {kid(K1)}, which the rotation to "
        f"{kid(K2)} retired")


def test_pinning_both_keys_still_needs_the_rotation():
    both = [K1.public_key(), K2.public_key()]
    assert run(both, [digest(0, K1), digest(1, K2)])[1].startswith(
        f"untrusted key: digests/20261128T110000Z.json is signed with key {kid(K2)}, but the accepted key is")
    assert run(both, [digest(0, K1), digest(1, K2, handover(K1, K2, 1))]) == [None, None]


def test_pinning_the_current_key_fails_earlier_digests_of_other_keys():
    docs = [digest(0, K1), digest(1, K2, handover(K1, K2, 1))]
    assert run(K2.public_key(), docs)[0].startswith(f"untrusted key: digests/20261128T100000Z.json is signed "
                                                    f"with key {kid(K1)}, which is not pinned")
    assert run(K2.public_key(), docs[1:]) == [None]  # pinned current key starts a chain at a hand-over


def test_a_changed_digest_is_a_bad_signature_and_does_not_advance():
    chain = trust.KeyChain(K1.public_key())
    doc = digest(1, K2, handover(K1, K2, 1))
    assert chain.check(digest(0, K1)) is None
    doc["period"]["end"] = start_of(5)
    assert chain.check(doc) == (f"bad signature: digests/20261128T110000Z.json does not verify with key "
                                f"{kid(K2)}: its content was changed or another key signed it")
    assert chain.current == kid(K1) and chain.retired == {}


def test_an_empty_pin_set_is_refused():
    with pytest.raises(trust.TrustError, match="no pinned signing key: pass --public-key FILE"):
        trust.pinned_keys([], None)


# ---------------------------------------------------------------- proofs
def proof(doc: dict, rotations: list[dict]) -> dict:
    """What the key rule reads of a proof, plus well-formed stub members for verify_chain.js
    (their root differs from the digest's, so the Merkle checks fail after the key checks)."""
    event = {"event_id": "e", "chain": {"chain_id": "c", "sequence": 1, "prev_hash": "00" * 32,
                                        "event_hash": "00" * 32}}
    return {"format": "auditflow-proof/1", "digest": doc, "rotations": rotations,
            "public_key": dg.public_pem(doc_key(doc)).decode(), "event_id": "e", "chain_id": "c",
            "sequence": 1, "period": doc["period"]["id"], "event_hash": "00" * 32, "leaf_index": 0,
            "tree_size": 1, "proof": [], "root": "11" * 32, "event": event}


def doc_key(doc: dict):
    return next(k.public_key() for k in (K1, K2, K3) if kid(k) == doc["key_id"])


def test_a_proof_follows_its_rotations_from_the_pinned_key():
    r12, r23 = handover(K1, K2, 1), handover(K2, K3, 2)
    d3 = digest(3, K3)
    assert dg.key_id(trust.proof_key(proof(d3, [r12, r23]), K1.public_key())) == kid(K3)
    assert dg.key_id(trust.proof_key(proof(d3, [r12, r23]), K2.public_key())) == kid(K3)  # r12 skipped
    assert dg.key_id(trust.proof_key(proof(d3, []), K3.public_key())) == kid(K3)
    d2 = digest(2, K3, r23)  # the proof's own digest is the hand-over: listed or not
    for rots in ([r12, r23], [r12]):
        assert dg.key_id(trust.proof_key(proof(d2, rots), K1.public_key())) == kid(K3)


def test_a_self_signed_proof_is_untrusted():
    d = digest(0, K3)  # re-signed by another key, that key embedded
    with pytest.raises(trust.UntrustedKey) as exc:
        trust.proof_key(proof(d, []), K1.public_key())
    assert str(exc.value) == (f"untrusted key: digests/20261128T100000Z.json is signed with key {kid(K3)}, "
                              f"which is not pinned (pinned: {kid(K1)})")


def test_a_proof_with_a_forged_rotation_is_untrusted():
    forged = handover(K3, K2, 1)
    forged["previous_key_id"] = kid(K1)
    why = f"introduces key {kid(K2)} with a rotation record that has a signature that does not verify"
    with pytest.raises(trust.UntrustedKey, match=why):
        trust.proof_key(proof(digest(2, K2), [forged]), K1.public_key())


def test_a_proof_signed_by_a_key_its_rotations_retired_is_untrusted():
    why = f"signed with key {kid(K1)}, which the rotation to {kid(K2)} retired"
    with pytest.raises(trust.UntrustedKey, match=why):
        trust.proof_key(proof(digest(2, K1), [handover(K1, K2, 1)]), K1.public_key())


def test_a_proof_with_a_rotation_after_its_period_is_untrusted():
    with pytest.raises(trust.UntrustedKey, match=f"valid from {start_of(3)}, after the proof's period start"):
        trust.proof_key(proof(digest(2, K2), [handover(K1, K2, 3)]), K1.public_key())


def js_cases() -> list[tuple[str, dict, list]]:
    r12, r23 = handover(K1, K2, 1), handover(K2, K3, 2)
    forged = handover(K3, K2, 1)
    forged["previous_key_id"] = kid(K1)
    return [("followed", proof(digest(3, K3), [r12, r23]), [K1]),
            ("own hand-over", proof(digest(2, K3, r23), [r12]), [K1]),
            ("pinned current", proof(digest(3, K3), [r12, r23]), [K3]),
            ("self-signed", proof(digest(0, K3), []), [K1, K2]),
            ("forged rotation", proof(digest(2, K2), [forged]), [K1]),
            ("retired", proof(digest(2, K1), [r12]), [K1]),
            ("after its period", proof(digest(2, K2), [handover(K1, K2, 3)]), [K1]),
            ("no rotation", proof(digest(1, K2), []), [K1]),
            ("wrong start", proof(digest(2, K2, handover(K1, K2, 1)), []), [K1])]


@pytest.mark.parametrize("name", [c[0] for c in js_cases()])
def test_the_node_verifier_applies_the_same_rule(name, tmp_path):
    """schemas/verify_chain.js reaches the same verdict, in the same words, as trust.proof_key."""
    import json
    import shutil
    import subprocess

    _name, p, pins = next(c for c in js_cases() if c[0] == name)
    try:
        expected = f"OK key {dg.key_id(trust.proof_key(p, [k.public_key() for k in pins]))}"
    except trust.UntrustedKey as exc:
        expected = f"FAIL: {exc}"
    (tmp_path / "proof.json").write_text(json.dumps(p))
    (tmp_path / "trust.pem").write_bytes(b"".join(pem(k) for k in pins))
    node = shutil.which("node")
    assert node, "node is part of this machine kind; schemas/verify_chain.js needs it"
    res = subprocess.run([node, str(Path(trust.__file__).parents[2] / "schemas" / "verify_chain.js"),
                          str(tmp_path / "proof.json"), "--public-key", str(tmp_path / "trust.pem")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and res.stderr == "", res.stdout + res.stderr  # the empty Merkle members fail
    if expected.startswith("FAIL: "):
        assert res.stdout.startswith(expected + ", "), (res.stdout, expected)
    else:  # trusted: the digest signature holds, only the Merkle checks of the stub fail
        assert res.stdout.startswith("FAIL: root and size signed by the digest"), (res.stdout, expected)
    assert (name in ("followed", "own hand-over", "pinned current")) == expected.startswith("OK key")


# ---------------------------------------------------------------- trust files and pins
def pem(key: Ed25519PrivateKey) -> bytes:
    return dg.public_pem(key.public_key())


def test_a_trust_file_holds_several_keys(tmp_path):
    f = tmp_path / "trust.pem"
    f.write_bytes(pem(K1) + b"\n" + pem(K2))
    assert [dg.key_id(k) for k in trust.read_trust_file(f)] == [kid(K1), kid(K2)]
    assert set(trust.pinned_keys([f])) == {kid(K1), kid(K2)}


def test_a_private_key_or_garbage_is_not_a_trust_file(tmp_path):
    priv = tmp_path / "signing.pem"
    priv.write_bytes(K1.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    with pytest.raises(trust.TrustError, match=r"holds a PRIVATE KEY block; pin only public keys"):
        trust.read_trust_file(priv)
    junk = tmp_path / "junk.pem"
    junk.write_text("hello")
    with pytest.raises(trust.TrustError, match="not an Ed25519 public key"):
        trust.read_trust_file(junk)
    with pytest.raises(trust.TrustError, match="No such file"):
        trust.read_trust_file(tmp_path / "absent.pem")


def write_private(path: Path, key: Ed25519PrivateKey) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def load_cfg(tmp_path: Path, profile: str, *sets: str) -> config.Config:
    f = tmp_path / "auditflow.toml"
    f.write_text(f"[profiles.{profile}]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITFLOW_")}
    return config.load(profile, f, list(sets), environ=env)


def test_pins_come_from_files_config_and_only_the_local_signing_key(tmp_path):
    signing = write_private(tmp_path / "signing.pem", K1)
    listed = tmp_path / "auditor.pem"
    listed.write_bytes(pem(K2))
    extra = tmp_path / "extra.pem"
    extra.write_bytes(pem(K3))
    sets = (f"archive.signing_key_file={signing}", f'archive.trusted_keys=["{listed}"]')
    local = load_cfg(tmp_path, "local", *sets)
    assert set(trust.pinned_keys([extra], local)) == {kid(K1), kid(K2), kid(K3)}
    prod = load_cfg(tmp_path, "prod", *sets)
    assert set(trust.pinned_keys([], prod)) == {kid(K2)}  # the signing key is no auditor's pin
    bare = load_cfg(tmp_path, "prod", f"archive.signing_key_file={signing}")
    with pytest.raises(trust.TrustError, match="no pinned signing key"):
        trust.pinned_keys([], bare)


def test_only_the_local_profile_generates_a_signing_key(tmp_path):
    missing = tmp_path / "k" / "signing.pem"
    prod = load_cfg(tmp_path, "prod", f"archive.signing_key_file={missing}", "archive.generate_key=true")
    with pytest.raises(FileNotFoundError, match="profile 'prod' never generates one"):
        dg.load_private(prod.section("archive"), prod.profile)
    assert not missing.exists()
    local = load_cfg(tmp_path, "local", f"archive.signing_key_file={missing}", "archive.generate_key=true")
    key = dg.load_private(local.section("archive"), local.profile)
    assert stat.S_IMODE(missing.stat().st_mode) == 0o600
    assert dg.key_id(dg.configured_public(local.section("archive"))) == dg.key_id(key.public_key())


def test_a_rotation_record_is_rfc8785_signed_by_the_previous_key():
    rec = handover(K1, K2, 1)
    assert set(rec) == set(trust.ROTATION_FIELDS)
    assert trust.rotation_problem(rec, K1.public_key()) is None
    bad = copy.deepcopy(rec)
    bad["valid_from"] = start_of(2)
    assert trust.rotation_problem(bad, K1.public_key()) == (
        f"has a signature that does not verify with the previous key {kid(K1)}")
    assert trust.rotation_key(kid(K2), start_of(1)) == f"keys/rotations/{kid(K2)}/20261128T110000Z.json"
