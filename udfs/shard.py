"""Which parallel worker links which chain: keys whose Flink key group is chosen, not hashed.

The normalize job keys its chain state by chain (schemas/CHAIN.md version 2: one chain per
tenant and raw partition). Keyed by the chain id alone, Flink would place chains by hash, so a
tenant with two partitions would have even odds of both landing on one worker at parallelism 2.
Instead each chain is keyed by `routing_key(chain_id, slot, max_parallelism)`: the chain id with
the smallest suffix `#n` whose key group is the slot's target, where the targets of consecutive
slots (a tenant's partitions 0, 1, 2, ...) are spread over the key-group range by bit reversal,
so at any parallelism consecutive partitions go to different workers, as evenly as they can.

The key depends only on the chain id, the slot and the job's max parallelism (which Flink keeps
fixed for the life of its state), never on the parallelism, so a rescaled job finds every
chain's state under the same key. Placement is all that depends on reproducing Flink's hash
here (`key_group`, checked against Flink's own KeyGroupRangeAssignment by a unit test): were it
wrong, only the balance would suffer, never a chain.
"""

from __future__ import annotations

import zlib
from functools import lru_cache

_M32 = 0xFFFFFFFF


def _int32(x: int) -> int:
    x &= _M32
    return x - (1 << 32) if x & 0x80000000 else x


def java_string_hash(s: str) -> int:
    """java.lang.String.hashCode: over UTF-16 code units, 32-bit signed."""
    h = 0
    data = s.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & _M32
    return _int32(h)


def _rotl(x: int, r: int) -> int:
    x &= _M32
    return ((x << r) | (x >> (32 - r))) & _M32


def flink_murmur(code: int) -> int:
    """org.apache.flink.util.MathUtils.murmurHash(int)."""
    code = (code * 0xCC9E2D51) & _M32
    code = _rotl(code, 15)
    code = (code * 0x1B873593) & _M32
    code = _rotl(code, 13)
    code = (code * 5 + 0xE6546B64) & _M32
    code ^= 4
    code ^= code >> 16  # bitMix
    code = (code * 0x85EBCA6B) & _M32
    code ^= code >> 13
    code = (code * 0xC2B2AE35) & _M32
    code ^= code >> 16
    signed = _int32(code)
    return signed if signed >= 0 else (-signed if signed != -(1 << 31) else 0)


def key_group(key: str, max_parallelism: int) -> int:
    """The key group of a PyFlink string key (PyFlink keys by Row.of(key), whose hashCode is
    the string's plus 62)."""
    return flink_murmur(_int32(java_string_hash(key) + 62)) % max_parallelism


def operator_index(group: int, max_parallelism: int, parallelism: int) -> int:
    """The subtask that owns a key group (KeyGroupRangeAssignment)."""
    return group * parallelism // max_parallelism


def target_group(slot: int, max_parallelism: int) -> int:
    """Key group for a slot: bit-reversed slot, scaled onto the key-group range."""
    bits = max(1, (max_parallelism - 1).bit_length())
    reversed_ = int(f"{slot % (1 << bits):0{bits}b}"[::-1], 2)
    return reversed_ * max_parallelism >> bits


def slot_of(tenant: str, topic: str, partition: int) -> int:
    """A chain's slot: its partition, offset per (tenant, topic) so that the partition 0 of
    every tenant does not land on the same worker."""
    return partition + zlib.crc32(f"{tenant}/{topic}".encode())


@lru_cache(maxsize=65536)
def routing_key(chain_id: str, slot: int, max_parallelism: int) -> str:
    """The key the job keys a chain's state by (see the module docstring)."""
    want = target_group(slot, max_parallelism)
    n = 0
    while key_group(f"{chain_id}#{n}", max_parallelism) != want:
        n += 1
    return f"{chain_id}#{n}"


@lru_cache(maxsize=1024)
def group_key(group: int, max_parallelism: int) -> str:
    """A key in key group `group`: the chains-per-tenant layout keys its state by key group,
    one key per group (`g<group>#<n>`, the smallest n that lands there), so a tick sent to every
    group's key reaches every key's state."""
    n = 0
    while key_group(f"g{group}#{n}", max_parallelism) != group:
        n += 1
    return f"g{group}#{n}"
