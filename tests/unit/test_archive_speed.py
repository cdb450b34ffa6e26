"""The column-wise paths of sealing and verification give the answers of the row-by-row ones:
canonical bytes of Arrow rows (udfs.chain.canonical_rows), records (layout.to_records), the
verifier with worker processes (same Report, same first Problem on tampered archives), and
`verify --since LAST` (only what is new since a recorded, re-hashed point)."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import shutil

import pyarrow as pa
import pytest
from test_archive import (
    T0,
    _copy,
    _events_file,
    _rewrite,
    decoder,
    encode,
    make_events,
    pub_file,
    run_cli,
    sealed,
    stage,
)

from auditflow.archive import layout, sample
from auditflow.archive.seal import Sealer
from auditflow.archive.store import LocalStore
from auditflow.archive.verify import Verifier
from udfs import chain

__all__ = ["sealed"]  # the fixture, shared with test_archive


def _rows(events: list[dict]) -> pa.Table:
    return layout.read_parquet(layout.parquet_bytes(layout.to_table(events, "events")))


def _generic(table: pa.Table) -> list[bytes]:
    return [chain.canonical_bytes(r) for r in layout.to_records(table)]


def test_canonical_rows_are_the_bytes_of_canonical_bytes():
    events = list(sample.chained("t1", 300, 1_700_000_000_000, seed=5, partitions=3))
    events += make_events("acme", 20)  # the chain vectors: nulls, maps, arrays, doubles, non-BMP text
    odd = copy.deepcopy(events[:12])
    odd[0]["unmapped"] = {}  # an empty map: dropped
    odd[1]["resources"] = []  # an empty array: dropped
    odd[2]["resources"] = [dict.fromkeys(("uid", "name", "type", "namespace", "owner"))]  # [{}]
    odd[3]["actor"] = None
    odd[4]["metadata"] = {"product": None, "version": None}  # the default is filled: {"version": "1.3.0"}
    odd[5]["enrichment"] = {"geo": {"country": None, "is_private": None}, "user": None}
    odd[6]["enrichment"]["geo"]["lat"] = 52.0  # an integral double is written as an integer
    odd[7]["unmapped"] = {"k": "", "z": "ünï", "a": "\u00e9"}
    odd[8]["message"] = ""
    odd[9]["lineage"] = None
    table = _rows(events + odd)
    got = chain.canonical_rows(table)
    assert None not in got
    assert got == _generic(table)
    assert got[len(events) + 4].count(b'"version":"1.3.0"') == 1


@pytest.mark.parametrize("change", [
    lambda e: e["enrichment"]["geo"].update(lat=1e-07),  # a repr with an exponent
    lambda e: e["enrichment"]["geo"].update(lon=float("nan")),
    lambda e: e.update(unmapped={"\ue001key": "v"}),  # a member name where UTF-16 order differs
])
def test_a_row_canonical_rows_cannot_vouch_for_is_none_and_only_that_row(change):
    events = list(sample.chained("t1", 40, 1_700_000_000_000, seed=6))
    change(events[17])
    table = _rows(events)
    got = chain.canonical_rows(table)
    assert [i for i, b in enumerate(got) if b is None] == [17]
    want = []
    for r in layout.to_records(table):
        try:
            want.append(chain.canonical_bytes(r))
        except ValueError:
            want.append(None)
    assert [b for i, b in enumerate(got) if i != 17] == [b for i, b in enumerate(want) if i != 17]
    h = layout.recomputed_hashes(table)
    assert h[17] is None and h[:17] == [e["chain"]["event_hash"] for e in events[:17]]


def test_to_records_matches_pyarrow_rows_with_maps_as_dicts():
    events = make_events("acme", 20) + list(sample.chained("t1", 50, 1_700_000_000_000, seed=7))
    table = _rows(events)
    plain = table.to_pylist()
    for r in plain:  # what to_records gave before it went column-wise
        r["unmapped"] = dict(r["unmapped"]) if r["unmapped"] is not None else None
    assert layout.to_records(table) == plain
    assert layout.to_records(table.slice(13, 21)) == plain[13:34]


def _report(root, key, workers: int, **kw):
    rep = Verifier(LocalStore(root), key.public_key(), workers=workers).run(**kw)
    return dataclasses.replace(rep, last=None, verified=[])  # the checkpoints hold the same bytes


def _tampers():
    def change(rows):
        rows[4]["message"] = "nothing happened"
        return rows

    def relabel(rows):
        rows[9]["chain"]["chain_id"] = "globex/audit.raw.app/0"
        return rows
    return [
        ("modified", "acme", change),
        ("missing", "acme", lambda rows: rows[:7] + rows[8:]),
        ("reordered", "acme", lambda rows: rows[:2] + [rows[3], rows[2]] + rows[4:]),
        ("misplaced", "globex", relabel),
    ]


@pytest.mark.parametrize("kind,tenant,fn", _tampers(), ids=[t[0] for t in _tampers()])
def test_worker_processes_give_the_sequential_report_on_a_tampered_archive(sealed, kind, tenant, fn):
    root = _copy(sealed)
    _rewrite(_events_file(root, "20261128T100000Z", tenant), fn)
    one, two = _report(root, sealed["key"], 1), _report(root, sealed["key"], 2)
    assert one.problem is not None and one.problem.kind == kind, one.problem
    assert two == one


def test_worker_processes_give_the_sequential_report_on_an_intact_archive(sealed):
    one, two = _report(sealed["worm"], sealed["key"], 1), _report(sealed["worm"], sealed["key"], 2)
    assert one.ok and one.events == 42 and two == one


def _seal_next(sealed, hour: int, first: int, n: int) -> None:
    """acme's chain goes on (sequences first+1..first+n) in a period `hour` hours after T0."""
    when = T0 + dt.timedelta(hours=hour)
    values = encode(make_events("acme", first + n)[first:])
    stage(sealed["staging"], "events", "acme", when, f"part-{hour}", values, when + dt.timedelta(minutes=5))
    Sealer(LocalStore(sealed["staging"]), LocalStore(sealed["worm"]), sealed["key"], decoder()).seal_closed(
        now=when + dt.timedelta(hours=1, minutes=5))


def test_verify_since_last_verifies_only_new_digests_and_refuses_a_replaced_point(sealed):
    state = sealed["tmp"] / "state.json"
    args = ["verify", "--since", "LAST", "--state", str(state), "--worm", str(sealed["worm"]),
            "--public-key", pub_file(sealed), "--workers", "1"]
    first = run_cli(*args)
    assert first.exit_code == 0, first.output
    assert "no verified point" in first.stderr and first.stdout.startswith("OK: 3 digests"), first.output
    assert json.loads(state.read_text())["last"]["key"] == "digests/20261128T120000Z.json"
    _seal_next(sealed, 3, 30, 4)
    second = run_cli(*args)
    assert second.exit_code == 0, second.output
    assert second.stdout.startswith("OK: 1 digests (signatures and digest chain valid), 1 periods, 1 files, "
                                    "4 events in 1 chains"), second.stdout
    assert json.loads(state.read_text())["last"]["key"] == "digests/20261128T130000Z.json"
    again = run_cli(*args)  # nothing new: nothing to check, the point stays
    assert again.exit_code == 0 and again.stdout.startswith("OK: 0 digests"), again.output

    # the recorded point replaced by another (validly signed) digest: refused before anything else
    _seal_next(sealed, 4, 34, 2)
    d = sealed["worm"] / "digests" / "20261128T130000Z.json"
    saved = d.read_bytes()
    d.write_bytes(saved.replace(b'"sealed_at"', b'"sealed_at" ', 1))
    broken = run_cli(*args)
    assert broken.exit_code == 1 and broken.stdout.startswith(
        "BROKEN: digest mismatch: digests/20261128T130000Z.json now hashes to"), broken.stdout
    assert "kind: digest mismatch; tenant/chain: -; sequence: -; period: 20261128T130000Z" in broken.stdout
    assert json.loads(state.read_text())["last"]["key"] == "digests/20261128T130000Z.json"
    d.write_bytes(saved)

    # a break after the point is found and the point does not move past it
    _rewrite(_events_file(sealed["worm"], "20261128T140000Z"), lambda rows: rows[:1])
    cut = run_cli(*args)
    assert cut.exit_code == 1 and "kind: missing; tenant/chain: acme; sequence: 36" in cut.stdout, cut.stdout
    assert json.loads(state.read_text())["last"]["key"] == "digests/20261128T130000Z.json"


def test_verify_since_last_refuses_a_missing_point_and_a_bad_state_file(sealed):
    state = sealed["tmp"] / "state.json"
    args = ["verify", "--since", "LAST", "--state", str(state), "--worm", str(sealed["worm"]),
            "--public-key", pub_file(sealed)]
    assert run_cli(*args).exit_code == 0
    root = sealed["tmp"] / "copy"
    shutil.copytree(sealed["worm"], root)
    (root / "digests" / "20261128T120000Z.json").unlink()
    gone = run_cli(*[a if a != str(sealed["worm"]) else str(root) for a in args])
    assert gone.exit_code == 1 and gone.stdout.startswith(
        "BROKEN: missing: digests/20261128T120000Z.json, the last verified digest"), gone.stdout
    state.write_text("{}")
    bad = run_cli(*args)
    assert bad.exit_code == 1 and "not a verify state file" in bad.output, bad.output
