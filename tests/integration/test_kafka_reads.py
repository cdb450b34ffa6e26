"""Reading topics to their end against the real broker: the position-based checks that the
alert tail and the router's --once rely on, including transactional topics (markers take
offsets) and a transaction left open."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from auditflow import kafka


@pytest.fixture
def topic(topics) -> str:
    return topics.unique("reads", 2)


def produce(cfg, topic: str, values: list[str], partition: int = 0,
            transactional: bool = False, commit: bool = True) -> Producer:
    conf = {"transactional.id": f"it-{uuid.uuid4().hex[:8]}"} if transactional else {}
    p = Producer(kafka.producer_conf(cfg, "admin", **conf))
    if transactional:
        p.init_transactions(30)
        p.begin_transaction()
    for v in values:
        p.produce(topic, v.encode(), partition=partition)
    p.flush(30)
    if transactional and commit:
        p.commit_transaction(30)
    return p


def subscribed(cfg, topic: str, group: str, reset: str = "earliest") -> Consumer:
    c = Consumer(kafka.client_conf(cfg, "admin", **{"group.id": group, "enable.auto.commit": False,
                                           "auto.offset.reset": reset,
                                           "isolation.level": "read_committed"}))
    c.subscribe([topic])
    deadline = time.monotonic() + 60
    while not c.assignment():
        assert time.monotonic() < deadline, "no partition assigned within 60 s"
        msg = c.poll(0.2)
        if msg is not None and not msg.error():
            # the poll that brought the assignment may also bring a record: hand it back, so
            # the test reads every record (dropping it here failed a read of three as two)
            c.seek(TopicPartition(msg.topic(), msg.partition(), msg.offset()))
    return c


def read(c: Consumer, n: int) -> list:
    got, deadline = [], time.monotonic() + 30
    while len(got) < n and time.monotonic() < deadline:
        msg = c.poll(0.5)
        if msg is not None and not msg.error():
            got.append(msg)
    return got


def test_reached_end_from_position_committed_offset_and_reset(cfg, topic):
    produce(cfg, topic, ["a", "b", "c"], partition=0)
    group = f"it-{uuid.uuid4().hex[:8]}"
    c = subscribed(cfg, topic, group)
    try:
        # partition 1 is empty, so at its end before anything is read; partition 0 is not
        assert kafka.reached_end(c, topic, {0, 1}, "earliest") == {1}
        got = read(c, 3)
        assert [m.value() for m in got] == [b"a", b"b", b"c"]
        assert kafka.reached_end(c, topic, {0, 1}, "earliest") == {0, 1}
        c.commit(message=got[-1], asynchronous=False)
    finally:
        c.close()

    # the same group again: nothing read yet, but its committed offset is at the end
    c = subscribed(cfg, topic, group)
    try:
        assert kafka.reached_end(c, topic, {0, 1}, "earliest") == {0, 1}
    finally:
        c.close()

    # a new group that starts at the end (latest) is there at once; one that starts at the
    # beginning is not
    for reset, expected in (("latest", {0, 1}), ("earliest", {1})):
        c = subscribed(cfg, topic, f"it-{uuid.uuid4().hex[:8]}", reset)
        try:
            assert kafka.reached_end(c, topic, {0, 1}, reset) == expected, reset
        finally:
            c.close()


def test_read_topic_ends_on_a_transactional_topic_and_beside_an_open_transaction(cfg, topic):
    produce(cfg, topic, ["t1", "t2"], partition=0, transactional=True)
    produce(cfg, topic, ["x1"], partition=1, transactional=True)
    # committed transactions end with a marker the consumer never sees: the read still ends
    assert sorted(m.value() for m in kafka.read_topic(cfg, topic, idle_s=10,
                                                      role="admin")) == [b"t1", b"t2", b"x1"]

    # a transaction left open: a read_committed reader's end offset is the last stable offset,
    # so the read still ends by position (nothing to report) with what is committed
    said: list[str] = []
    held = produce(cfg, topic, ["open"], partition=1, transactional=True, commit=False)
    try:
        values = sorted(m.value() for m in kafka.read_topic(cfg, topic, idle_s=30, say=said.append,
                                                            role="admin"))
    finally:
        held.abort_transaction(30)
    assert values == [b"t1", b"t2", b"x1"]
    assert said == []
