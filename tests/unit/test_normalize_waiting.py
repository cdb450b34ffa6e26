"""The tenant layout's waiting events (jobs/normalize.py ChainByTenant): linked in (Kafka time,
topic, partition, offset) order once the watermark passes them, however many share a
millisecond, and events a checkpoint from before the per-event layout holds are linked too.

Flink's keyed state is replaced by dicts here: this tests the function's own bookkeeping; the
integration tests (test_normalize_job.py, test_faults.py) run it in Flink."""

from __future__ import annotations

import pickle
import random

from jobs.normalize import TICK, ChainByTenant


class FakeMapState(dict):
    def put(self, k, v):
        self[k] = v

    def remove(self, k):
        del self[k]

    def is_empty(self):
        return not self


class FakeValueState:
    def __init__(self):
        self.v = None

    def value(self):
        return self.v

    def update(self, v):
        self.v = v

    def clear(self):
        self.v = None


class FakeContext:
    def __init__(self):
        self.watermark, self.ts = -1, None

    def timer_service(self):
        return self

    def current_watermark(self):
        return self.watermark

    def timestamp(self):
        return self.ts

    def get_current_key(self):
        return "group-0"


def chain_fn() -> tuple[ChainByTenant, list]:
    fn = ChainByTenant({})
    fn.times, fn.waiting, fn.pending = FakeMapState(), FakeMapState(), FakeMapState()
    fn.earliest, fn.without_lists = FakeValueState(), set()
    linked: list = []

    def link(items, ctx, watermark):
        for order, blob in items:
            linked.append((order, pickle.loads(blob)))
            yield order
    fn._link = link
    return fn, linked


def order(topic: str, partition: int, offset: int) -> str:
    return f"{topic}|{partition:06d}|{offset:020d}"


def test_events_sharing_a_millisecond_are_linked_in_kafka_order_once_the_watermark_passes():
    fn, linked = chain_fn()
    ctx = FakeContext()
    places = [(t, p) for t in ("syslog", "app") for p in (0, 1) for _ in range(100)]
    events = [(1000 + i // 50, order(f"audit.raw.acme.{t}", p, i), {"i": i})
              for i, (t, p) in enumerate(places)]
    arrival = events[:]
    random.Random(5).shuffle(arrival)
    for ts, o, ev in arrival:
        ctx.ts = ts
        assert list(fn.process_element((None, o, pickle.dumps(ev)), ctx)) == []
    assert len(fn.waiting) == 400 and sorted(fn.times) == list(range(1000, 1008))
    assert fn.earliest.value() == 1000
    ctx.watermark, ctx.ts = 1003, None
    list(fn.process_element((None, TICK, b""), ctx))
    expected = sorted(events, key=lambda e: (e[0], e[1]))
    assert [o for o, _ in linked] == [o for _, o, _ in expected[:200]]
    assert len(fn.waiting) == 200 and fn.earliest.value() == 1004
    ctx.watermark = 2000
    list(fn.process_element((None, TICK, b""), ctx))
    assert [o for o, _ in linked] == [o for _, o, _ in expected]
    assert fn.waiting == {} and fn.times == {} and fn.earliest.value() is None


def test_waiting_lists_of_a_checkpoint_taken_before_are_linked_merged_with_new_events():
    fn, linked = chain_fn()
    ctx = FakeContext()
    fn.pending.put(1000, [(order("t", 1, 5), pickle.dumps("old-b")),
                          (order("t", 0, 9), pickle.dumps("old-a"))])
    fn.pending.put(3000, [(order("t", 0, 20), pickle.dumps("old-late"))])
    fn.earliest.update(1000)
    ctx.ts = 1000
    list(fn.process_element((None, order("t", 0, 7), pickle.dumps("new")), ctx))
    ctx.watermark, ctx.ts = 1500, None
    list(fn.process_element((None, TICK, b""), ctx))
    assert [e for _, e in linked] == ["new", "old-a", "old-b"]
    assert list(fn.pending) == [3000] and fn.earliest.value() == 3000 and fn.without_lists == set()
    ctx.watermark = 3000
    list(fn.process_element((None, TICK, b""), ctx))
    assert [e for _, e in linked] == ["new", "old-a", "old-b", "old-late"]
    assert fn.pending == {} and fn.without_lists == {"group-0"} and fn.earliest.value() is None


def test_a_few_due_events_and_a_due_burst_are_linked_alike():
    """A watermark that passes a small part of what waits reads those events one by one; one
    that passes most of it (a burst) reads the whole map in one pass: the same order either way."""
    fn, linked = chain_fn()
    ctx = FakeContext()
    events = [(1000 + i // 50, order("audit.raw.acme.app", i % 2, i), {"i": i}) for i in range(400)]
    arrival = events[:]
    random.Random(9).shuffle(arrival)
    for ts, o, ev in arrival:
        ctx.ts = ts
        list(fn.process_element((None, o, pickle.dumps(ev)), ctx))
    expected = [o for _, o, _ in sorted(events, key=lambda e: (e[0], e[1]))]
    for watermark, done in ((1000, 50), (1006, 350), (1007, 400)):  # 1/8 due, then 6/7, then the rest
        ctx.watermark, ctx.ts = watermark, None
        list(fn.process_element((None, TICK, b""), ctx))
        assert [o for o, _ in linked] == expected[:done]
        assert len(fn.waiting) == 400 - done and sum(fn.times.values()) == 400 - done
    assert fn.times == {} and fn.earliest.value() is None
