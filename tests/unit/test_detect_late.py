"""udfs/detect/late.py: which late records are evaluated, over which span, and which alerts they add."""

from __future__ import annotations

import dataclasses
import json

from auditflow import paths
from udfs.detect import late as L
from udfs.detect import rules as R
from udfs.detect import suppress as S

T0 = 1_764_000_000_000
MIN = 60_000
AUTH_001 = R.load_rule(next(paths.DETECTIONS.glob("AUTH-001_*.sql")))
META = AUTH_001.meta()  # dedup window 15 min, key tenant_id, entity_value


def late(event_id: str, at: int, watermark: int, partition: int = 0, offset: int = 0, rule: str = "AUTH-001",
         tenant: str = "acme", arrived: int = 0) -> L.LateEvent:
    return L.LateEvent(rule, tenant, event_id, at, watermark, partition, offset, arrived)


def match(user: str, start: int, count: int = 5, tenant: str = "acme", step: int = 5_000) -> dict:
    return {"rule_id": "AUTH-001", "severity": None, "tenant_id": tenant, "entity_type": "user",
            "entity_value": user, "window_start": start, "window_end": start + MIN, "event_count": count,
            "evidence": [{"event_id": f"{user}{i}", "chain_id": tenant, "sequence": i, "event_hash": "0" * 64}
                         for i in range(count)],
            "first_seen": start, "last_seen": start + (count - 1) * step}


def test_horizon_is_the_longest_interval_of_the_rule_capped():
    assert L.horizon_ms(AUTH_001, 3_600_000) == MIN
    day = dataclasses.replace(AUTH_001, sql="SELECT * FROM events -- INTERVAL '9' DAY in a comment\n"
                                            " WHERE x > INTERVAL '2' HOUR AND y < INTERVAL '1' DAY")
    assert L.horizon_ms(day, 3_600_000) == 3_600_000
    assert L.horizon_ms(day, 10 * 86_400_000) == 86_400_000
    assert L.horizon_ms(dataclasses.replace(AUTH_001, sql="SELECT * FROM events"), 3_600_000) == 1000
    half = dataclasses.replace(AUTH_001, sql="SELECT 1 WHERE t > INTERVAL '0.5' SECOND")
    assert L.horizon_ms(half, 3_600_000) == 1000


def test_parse_record_reads_the_late_sinks_json():
    value = json.dumps({"rule_id": "AUTH-001", "tenant_id": "acme", "event_id": "e1",
                        "event_time": "2025-11-24T16:00:00.000".replace("T", " "),
                        "watermark_time": "2025-11-24 16:15:00.500", "lateness_ms": None}).encode()
    rec = L.parse_record(value, 2, 17, 99)
    assert rec == L.LateEvent("AUTH-001", "acme", "e1", 1_764_000_000_000, 1_764_000_900_500, 2, 17, 99)
    assert rec.behind_ms == 900_500


def test_plan_drops_too_late_and_waits_in_partition_order():
    horizons = {"AUTH-001": MIN}
    wm = T0 + 20 * MIN
    recs = [
        late("ok", T0 + 5 * MIN, wm, 0, 1),
        late("too-late", T0 - 120 * MIN, wm, 0, 2),
        late("open", wm - 30_000, wm, 1, 1),           # its rule's horizon is past the watermark
        late("after-open", T0, wm, 1, 2),               # same partition: waits behind it
        late("other", T0 + 6 * MIN, wm, 2, 1),
        late("gone", T0, wm, 2, 2, rule="OLD-001"),
    ]
    plan = L.plan(recs, horizons, max_late_ms=3_600_000, watermark_ms=wm, settle_ms=10_000,
                  now_ms=T0 + 60 * MIN)
    assert [r.event_id for r in plan.evaluate] == ["ok", "other"]
    assert [(r.event_id, reason) for r, reason in plan.dropped] == [
        ("too-late", f"{140 * MIN} ms behind the watermark, more than [detect] late_max_ms = 3600000"),
        ("gone", "rule OLD-001 is not enabled here")]
    assert [r.event_id for r in plan.waiting] == ["open", "after-open"]


def test_plan_waits_for_records_to_settle():
    rec = late("fresh", T0, T0 + 20 * MIN, arrived=T0 + 30 * MIN)
    waiting = L.plan([rec], {"AUTH-001": MIN}, 3_600_000, T0 + 20 * MIN, 10_000, now_ms=T0 + 30 * MIN + 9_999)
    assert (waiting.evaluate, waiting.waiting) == ([], [rec])
    ready = L.plan([rec], {"AUTH-001": MIN}, 3_600_000, T0 + 20 * MIN, 10_000, now_ms=T0 + 30 * MIN + 10_000)
    assert (ready.evaluate, ready.waiting) == ([rec], [])


def test_spans_cover_every_late_event_and_its_horizon_per_tenant():
    recs = [late("a", T0, 0), late("b", T0 + 10 * MIN, 0), late("c", T0, 0, tenant="beta")]
    assert L.spans(recs, {"AUTH-001": MIN}) == {"acme": (T0 - MIN, T0 + 11 * MIN + 1),
                                                  "beta": (T0 - MIN, T0 + MIN + 1)}


def test_a_new_window_of_late_events_is_alerted_once_marked_late():
    wm = T0 + 20 * MIN
    carol = [late(f"carol{i}", T0 + 5 * MIN + i * 5_000, wm) for i in range(5)]
    rerun = S.suppress(META, [match("carol", T0 + 5 * MIN)])
    out = L.late_alerts(META, rerun, carol, existing=[], now_ms=wm + 5)
    assert len(out) == 1
    assert out[0] == {**rerun[0], "created_at": wm + 5, "late_ms": 15 * MIN}
    assert out[0]["alert_id"] == S.alert_id("AUTH-001", "AUTH-001|acme|carol", T0 + 5 * MIN)
    # run again with its own alert on the topic (a crash before the commit, say): nothing new
    assert L.late_alerts(META, rerun, carol, existing=out, now_ms=wm + 9) == []


def test_a_late_event_in_an_alerted_dedup_period_folds_into_it():
    on_time = S.suppress(META, [match("alice", T0)])
    wm = T0 + 20 * MIN
    # the same window again: same alert id
    assert L.late_alerts(META, S.suppress(META, [match("alice", T0, 6)]), [late("x", T0 + 12_000, wm)],
                         on_time, wm) == []
    # a late failure before the first makes the re-run's window start earlier: same dedup period
    earlier = S.suppress(META, [match("alice", T0 - 3_000)])
    assert earlier[0]["alert_id"] != on_time[0]["alert_id"]
    assert L.late_alerts(META, earlier, [late("y", T0 - 3_000, wm)], on_time, wm) == []
    # after the period (15 min from T0) a new one opens: a late alert
    later = S.suppress(META, [match("alice", T0 + 16 * MIN)])
    assert [a["window_start"] for a in
            L.late_alerts(META, later, [late("z", T0 + 16 * MIN, wm)], on_time, wm)] == [T0 + 16 * MIN]


def test_only_alerts_that_hold_a_late_event_and_no_rollups():
    wm = T0 + 40 * MIN
    # bob on time (not raised: e.g. raised before the alerts topic's retention); no late event in it
    rerun = S.suppress(META, [match("bob", T0), match("bob", T0 + 2 * MIN), match("carol", T0 + 30 * MIN)])
    assert [a["entity_value"] for a in rerun] == ["bob", "bob", "carol"]  # alert, rollup, alert
    got = L.late_alerts(META, rerun, [late("c", T0 + 30 * MIN + 1, wm), late("b", T0 + 2 * MIN + 1, wm)],
                        [], wm)
    # bob's late event is in the rollup only: the rollup is the on-time path's, not re-raised
    assert [(a["entity_value"], a["late_ms"]) for a in got] == [("carol", 10 * MIN - 1)]
    other_tenant = L.late_alerts(META, rerun, [late("c", T0 + 30 * MIN + 1, wm, tenant="beta")], [], wm)
    assert other_tenant == []


def test_backfill_hint_names_the_rule_tenant_and_span():
    assert L.backfill_hint(late("d", T0, T0 + 200 * MIN), MIN) == (
        "auditflow rules backfill AUTH-001 --tenant acme"
        " --from 2025-11-24T15:59:00.000Z --to 2025-11-24T16:01:00.001Z")


def test_alerts_tail_marks_late_alerts():
    from auditflow.alerts import tail

    alert = S.make_alert(META, match("carol", T0), T0 + 20 * MIN)
    assert alert["late_ms"] is None and "(late" not in tail.line(alert)
    late_alert = S.make_alert(META, match("carol", T0), T0 + 20 * MIN, late_ms=900_500)
    assert "  window=" in tail.line(late_alert) and " (late 900s)  evidence=5" in tail.line(late_alert)
