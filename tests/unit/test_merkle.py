"""RFC 6962 Merkle trees (udfs/merkle.py) against Certificate Transparency's reference data."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from udfs import merkle

VECTORS_FILE = Path(__file__).resolve().parents[2] / "schemas" / "chain_vectors.json"
VECTORS = json.loads(VECTORS_FILE.read_text("utf-8"))

# RFC 6962 reference tree, as in Certificate Transparency's and Trillian's merkle tests.
CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
             "606162636465666768696a6b6c6d6e6f"]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (0-based index, tree size, audit path); CT writes these with 1-based leaf numbers.
CT_PROOFS = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]


def _reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 MTH written literally (recursive split), to check the bottom-up version."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _reference_root(leaves[:k]) + _reference_root(leaves[k:])).digest()


def test_roots_match_rfc6962_reference_for_every_size():
    for n in range(len(CT_LEAVES) + 1):
        assert merkle.merkle_root(CT_LEAVES[:n]) == CT_ROOTS[n], n


def test_inclusion_proofs_match_rfc6962_reference():
    for index, size, proof in CT_PROOFS:
        assert merkle.inclusion_proof(index, CT_LEAVES[:size]) == proof
        assert merkle.verify_inclusion(CT_LEAVES[index], index, size, proof, CT_ROOTS[size])


def test_single_leaf_tree_has_empty_proof():
    assert merkle.inclusion_proof(0, ["00"]) == []
    assert merkle.verify_inclusion("00", 0, 1, [], merkle.merkle_root(["00"]))
    assert merkle.merkle_root([""]) == CT_ROOTS[1]


def test_bytes_and_hex_inputs_agree():
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(5)]
    assert merkle.merkle_root(leaves) == merkle.merkle_root([x.hex() for x in leaves])


@pytest.mark.parametrize("size", list(range(1, 34)) + [64, 100])
def test_every_proof_verifies_and_matches_reference_root(size):
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(size)]
    root = merkle.merkle_root(leaves)
    assert root == _reference_root(leaves).hex()
    for i in range(size):
        proof = merkle.inclusion_proof(i, leaves)
        assert merkle.verify_inclusion(leaves[i], i, size, proof, root)
        assert merkle.verify_inclusion(leaves[i].hex(), i, size, proof, bytes.fromhex(root))


def test_corrupted_proofs_fail():
    index, size, proof = CT_PROOFS[1]
    leaf, root = CT_LEAVES[index], CT_ROOTS[size]
    some = "abacaba000000000000000000000000000000000000000000060061e00123456"
    probes = [
        (leaf, index - 1, size, proof, root), (leaf, index + 1, size, proof, root),
        (leaf, index ^ 2, size, proof, root), (leaf, index, size * 2, proof, root),
        (leaf, index, size // 2, proof, root), ("57726f6e674c656166", index, size, proof, root),
        (leaf, index, size, proof, CT_ROOTS[0]), (leaf, index, size, proof, some),
        (leaf, index, size, proof + [root], root), (leaf, index, size, [root] + proof, root),
        (leaf, index, size, proof[:-1], root), (leaf, index, size, [proof[0], some] + proof[1:], root),
        (leaf, index, size, proof + [""], root), (leaf, size, size, proof, root),
    ]
    for i in range(len(proof)):
        flipped = bytearray(bytes.fromhex(proof[i]))
        flipped[0] ^= 8
        probes.append((leaf, index, size, proof[:i] + [flipped.hex()] + proof[i + 1:], root))
    for p in probes:
        assert not merkle.verify_inclusion(*p), p


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(IndexError, match="outside a tree of 3 leaves"):
        merkle.inclusion_proof(3, ["00", "01", "02"])
    with pytest.raises(ValueError, match="not a hex string"):
        merkle.merkle_root(["zz"])
    assert merkle.merkle_root([]) == merkle.EMPTY_ROOT


def test_vectors_file_merkle_section():
    m = VECTORS["merkle"]
    assert m["rfc6962"]["leaves"] == CT_LEAVES
    assert m["rfc6962"]["roots"] == CT_ROOTS
    for t in m["rfc6962"]["inclusion"]:
        leaves = CT_LEAVES[: t["size"]]
        assert merkle.inclusion_proof(t["index"], leaves) == t["proof"]
    ap = m["acme_period"]
    assert merkle.merkle_root(ap["leaves"]) == ap["root"]
    for t in ap["inclusion"]:
        assert merkle.inclusion_proof(t["index"], ap["leaves"]) == t["proof"]
        leaf = ap["leaves"][t["index"]]
        assert merkle.verify_inclusion(leaf, t["index"], t["size"], t["proof"], ap["root"])
