"""RFC 6962 Merkle trees over a period's event hashes (spec: schemas/CHAIN.md, "Merkle tree").

The sealer builds one tree per sealed period over the events' ``chain.event_hash`` values in
chain order; the digest signs its root, and ``auditflow prove`` hands out inclusion proofs.
Hashing is exactly RFC 6962 section 2.1 (the Certificate Transparency tree), so any CT
library verifies our proofs:

- leaf hash  = SHA-256(0x00 || leaf data)   (leaf data here: the 32 bytes of an event_hash)
- node hash  = SHA-256(0x01 || left || right)
- MTH({})    = SHA-256 of the empty string
- MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])) with k the largest power of two < n

Interface (hex strings in and out, like every hash in auditflow; ``bytes`` are accepted too):

    merkle_root(leaves) -> str
    inclusion_proof(index, leaves) -> list[str]
    verify_inclusion(leaf, index, size, proof, root) -> bool
    root_from_inclusion(leaf, index, size, proof) -> str

``leaves`` are the leaf *data* (event hashes, as 64-character hex strings or raw bytes), not
leaf hashes; these functions apply the 0x00 prefix themselves. A ``str`` is always read as
hex, so RFC test data such as the empty leaf is written ``""``. ``index`` is 0-based.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


def _data(value: bytes | str) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise ValueError(f"not a hex string: {value[:80]!r}") from None
    raise TypeError(f"leaf or hash must be bytes or a hex string, got {type(value).__name__}")


def leaf_hash(data: bytes | str) -> bytes:
    """SHA-256(0x00 || data)."""
    return hashlib.sha256(LEAF_PREFIX + _data(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _root_of_hashes(hashes: list[bytes]) -> bytes:
    """MTH over leaf hashes, bottom-up. Pairing neighbours and promoting a lone last node
    unchanged to the next level yields the same tree as RFC 6962's power-of-two split."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    level = hashes
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def merkle_root(leaves: Sequence[bytes | str]) -> str:
    """RFC 6962 Merkle Tree Hash of the leaf data, lowercase hex (the empty tree: SHA-256(''))."""
    return _root_of_hashes([leaf_hash(x) for x in leaves]).hex()


def _path(m: int, hashes: list[bytes]) -> list[bytes]:
    """RFC 6962 PATH(m, D[n]) over leaf hashes, leaf sibling first."""
    n = len(hashes)
    if n <= 1:
        return []
    k = _split(n)
    if m < k:
        return _path(m, hashes[:k]) + [_root_of_hashes(hashes[k:])]
    return _path(m - k, hashes[k:]) + [_root_of_hashes(hashes[:k])]


def inclusion_proof(index: int, leaves: Sequence[bytes | str]) -> list[str]:
    """Audit path for leaf ``index`` (0-based) in the tree over all of ``leaves``: the sibling
    subtree hashes from the leaf up to the root, as lowercase hex (RFC 6962 section 2.1.1)."""
    n = len(leaves)
    if not 0 <= index < n:
        raise IndexError(f"leaf index {index} is outside a tree of {n} leaves")
    return [h.hex() for h in _path(index, [leaf_hash(x) for x in leaves])]


def root_from_inclusion(leaf: bytes | str, index: int, size: int, proof: Sequence[bytes | str]) -> str:
    """The root that ``proof`` leads to from ``leaf`` at ``index`` in a tree of ``size``
    leaves (RFC 9162 section 2.1.3.2); raises ValueError when the proof cannot fit."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of {size} leaves")
    fn, sn = index, size - 1
    r = leaf_hash(leaf)
    for p in proof:
        p = _data(p)
        if len(p) != 32:
            raise ValueError(f"proof element is {len(p)} bytes, expected 32")
        if sn == 0:
            raise ValueError("proof is longer than the path from the leaf to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("proof is shorter than the path from the leaf to the root")
    return r.hex()


def verify_inclusion(
    leaf: bytes | str, index: int, size: int, proof: Sequence[bytes | str], root: bytes | str
) -> bool:
    """True when ``proof`` shows ``leaf`` (leaf data, e.g. an event_hash) at ``index`` in the
    tree of ``size`` leaves whose root is ``root``. Never raises on a bad proof."""
    try:
        return root_from_inclusion(leaf, index, size, proof) == _data(root).hex()
    except (ValueError, TypeError):
        return False
