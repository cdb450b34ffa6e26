"""udfs/shard.py: Flink's key groups reproduced exactly, and a tenant's partitions spread."""

import random

import pytest

from udfs import shard


@pytest.fixture(scope="module")
def flink_key_group():
    """Flink's own KeyGroupRangeAssignment over the Row.of(key) that PyFlink keys by."""
    from pyflink.java_gateway import get_gateway

    gateway = get_gateway()
    row = gateway.jvm.org.apache.flink.types.Row
    assign = gateway.jvm.org.apache.flink.runtime.state.KeyGroupRangeAssignment

    def key_group(key: str, max_parallelism: int) -> int:
        fields = gateway.new_array(gateway.jvm.Object, 1)
        fields[0] = key
        return assign.assignToKeyGroup(row.of(fields), max_parallelism)
    return key_group


def test_key_group_is_flinks_for_any_string(flink_key_group):
    rnd = random.Random(3)
    keys = ["", "acme/audit.raw.syslog/0#17", "é", "😀 non-BMP", "ﬀ"] + [
        "".join(rnd.choice("ab/._-09XYZéü😀\u2028") for _ in range(rnd.randint(0, 60))) for _ in range(300)]
    for key in keys:
        for max_p in (128, 256, 32768):
            assert shard.key_group(key, max_p) == flink_key_group(key, max_p), (key, max_p)


def test_a_tenants_consecutive_partitions_go_to_different_subtasks():
    for parallelism in (2, 4, 8):
        for partitions in (parallelism, 2 * parallelism):
            owners = []
            for p in range(partitions):
                cid = f"heavy/audit.raw.syslog/{p}"
                key = shard.routing_key(cid, shard.slot_of("heavy", "audit.raw.syslog", p), 128)
                owners.append(shard.operator_index(shard.key_group(key, 128), 128, parallelism))
            counts = [owners.count(i) for i in range(parallelism)]
            assert counts == [partitions // parallelism] * parallelism, (parallelism, partitions, owners)


def test_routing_key_depends_on_the_chain_and_max_parallelism_only():
    key = shard.routing_key("acme/audit.raw.app/3", shard.slot_of("acme", "audit.raw.app", 3), 128)
    assert key.startswith("acme/audit.raw.app/3#")
    assert shard.key_group(key, 128) == shard.target_group(shard.slot_of("acme", "audit.raw.app", 3), 128)
    shard.routing_key.cache_clear()
    assert shard.routing_key("acme/audit.raw.app/3", shard.slot_of("acme", "audit.raw.app", 3), 128) == key


def test_group_key_lands_in_its_key_group_for_every_group(flink_key_group):
    keys = [shard.group_key(g, 128) for g in range(128)]
    assert len(set(keys)) == 128
    assert [shard.key_group(k, 128) for k in keys] == list(range(128))
    # and Flink agrees
    assert [flink_key_group(k, 128) for k in keys] == list(range(128))
