"""Compacted query copies on local directories: the compactor over a real seal (the `sealed`
fixture of test_archive), then tampered copies, each caught by `verify` with its kind."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pyarrow.parquet as pq
import test_archive
from test_archive import T0, verify

from auditflow.archive import compact, layout, trust
from auditflow.archive import digest as dg
from auditflow.archive.store import LocalStore

DAY = "2026-11-28"
sealed = test_archive.sealed  # the fixture: two tenants sealed over three hours of DAY


def compacted(sealed, root=None) -> tuple[LocalStore, list[dict]]:
    """Compact the fixture's archive. Its last period ends at 13:00 on DAY, so the day is closed
    only with a negative settle_s (as if a digest a day later existed)."""
    store = LocalStore(root or sealed["worm"])
    comp = compact.Compactor(store, sealed["key"], settle_s=-86400)
    return store, comp.run(now=T0 + dt.timedelta(days=1))


def test_compacts_each_kind_and_tenant_of_a_closed_day_once(sealed):
    store, docs = compacted(sealed)
    assert sorted((d["kind"], d["tenant"], d["file"]["rows"], len(d["sources"])) for d in docs) == [
        ("alerts", "acme", 1, 1), ("events", "acme", 30, 2), ("events", "globex", 12, 1)]
    assert compact.Compactor(store, sealed["key"], settle_s=-86400).run() == []  # nothing new
    assert verify(sealed["worm"], sealed["key"]).ok


def test_a_day_still_open_is_not_compacted(sealed):
    store = LocalStore(sealed["worm"])
    assert compact.Compactor(store, sealed["key"], settle_s=0).run() == []


def test_copy_holds_the_sealed_rows_sorted_by_user_then_time(sealed):
    store, docs = compacted(sealed)
    doc = next(d for d in docs if d["kind"] == "events" and d["tenant"] == "acme")
    table = layout.read_parquet(store.get(doc["file"]["key"]))
    assert doc["file"]["sha256"] == dg.sha256(store.get(doc["file"]["key"]))
    rows = layout.to_records(table.drop(["hour"]))
    want = sorted(e["chain"]["event_hash"] for e in sealed["acme"])
    assert sorted(r["chain"]["event_hash"] for r in rows) == want
    keys = [((r["actor"] or {}).get("user") or {}).get("name") for r in rows]
    named = [k for k in keys if k is not None]
    assert named == sorted(named) and keys[: len(named)] == named  # nulls last
    assert set(table.column("hour").to_pylist()) == {"10", "11"}
    meta = pq.ParquetFile(store.root / doc["file"]["key"]).metadata
    assert meta.row_group(0).column(0).statistics is not None


def test_changed_byte_of_a_copy_is_a_digest_mismatch_naming_it(sealed):
    root = sealed["tmp"] / "copy"
    shutil.copytree(sealed["worm"], root)
    _store, docs = compacted(sealed, root)
    key = docs[0]["file"]["key"]
    p = root / key
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 1
    p.write_bytes(bytes(data))
    rep = verify(root, sealed["key"])
    assert rep.problem.kind == "digest mismatch" and key in rep.problem.message


def test_copy_with_other_rows_under_a_valid_signature_is_modified(sealed):
    """A manifest re-signed over a copy that lost a row (a compactor bug): the rows are checked,
    not only the SHA-256."""
    root = sealed["tmp"] / "copy"
    shutil.copytree(sealed["worm"], root)
    store, docs = compacted(sealed, root)
    doc = next(d for d in docs if d["tenant"] == "acme" and d["kind"] == "events")
    table = layout.read_parquet(store.get(doc["file"]["key"]))
    data = layout.compacted_parquet_bytes(table.slice(1))
    store.put(doc["file"]["key"], data)
    forged = {k: v for k, v in doc.items() if k not in ("signature", "key_id")}
    forged["file"] = {**doc["file"], "sha256": dg.sha256(data), "rows": table.num_rows - 1}
    store.put(layout.manifest_key("events", "acme", DAY, doc["through"]),
              dg.encode(dg.sign(forged, sealed["key"])))
    rep = verify(root, sealed["key"])
    assert rep.problem.kind == "modified" and doc["file"]["key"] in rep.problem.message


def test_an_unlisted_file_under_the_compacted_prefix_is_extra(sealed):
    root = sealed["tmp"] / "copy"
    shutil.copytree(sealed["worm"], root)
    store, docs = compacted(sealed, root)
    stray = "compacted/events/tenant=acme/dt=2026-11-28/through=20261128T130000Z/part.parquet"
    store.put(stray, store.get(docs[0]["file"]["key"]))
    rep = verify(root, sealed["key"])
    assert rep.problem.kind == "extra" and stray in rep.problem.message


def test_a_manifest_signed_by_another_key_is_refused(sealed):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    root = sealed["tmp"] / "copy"
    shutil.copytree(sealed["worm"], root)
    store = LocalStore(root)
    compact.Compactor(store, Ed25519PrivateKey.generate(), settle_s=-86400).run()
    assert verify(root, sealed["key"]).problem.kind == "untrusted key"


def test_a_late_file_makes_the_copy_stale_until_compacted_again(sealed):
    """A file sealed into a compacted day after its copy: queries fall back to the day's hourly
    files, verify names the stale copy, and the next compaction covers it."""
    root = sealed["tmp"] / "copy"
    shutil.copytree(sealed["worm"], root)
    store, docs = compacted(sealed, root)
    dkey = "digests/20261128T120000Z.json"
    d = json.loads(store.get(dkey))
    late = next(f for f in json.loads(store.get("digests/20261128T100000Z.json"))["files"]
                if f["tenant"] == "globex")
    copy_key = late["key"].replace("20261128T100000Z.parquet", "20261128T120000Z.parquet")
    store.put(copy_key, store.get(late["key"]))  # same rows, sealed again later (a test shortcut)
    d["files"].append({**late, "key": copy_key})
    store.put(dkey, dg.encode(dg.sign({k: v for k, v in d.items() if k not in ("signature", "key_id")},
                                      sealed["key"])))
    keys = [o.key for o in store.list()]
    hourly, comp = layout.query_files(keys, "events")
    assert copy_key in hourly and not any("globex" in k for k in comp)
    stale = compact.check(store, _chain(sealed), None)
    assert stale.kind == "missing" and copy_key in stale.message
    again = compact.Compactor(store, sealed["key"], settle_s=-86400).run()
    assert [(x["tenant"], x["through"], len(x["sources"])) for x in again] == [
        ("globex", "20261128T120000Z", 2)]
    hourly, comp = layout.query_files([o.key for o in store.list()], "events")
    assert not any("globex" in k for k in hourly)
    assert layout.compacted_key("events", "globex", DAY, "20261128T120000Z") in comp


def _chain(fixture) -> trust.KeyChain:
    return trust.KeyChain(trust.as_pinned(fixture["key"].public_key()))


def test_query_files_reads_one_layout_per_tenant_day():
    keys = ["events/tenant=a/dt=2026-11-28/hour=10/20261128T100000Z.parquet",
            "events/tenant=a/dt=2026-11-28/hour=11/20261128T110000Z.parquet",
            "events/tenant=a/dt=2026-11-29/hour=00/20261129T000000Z.parquet",
            "compacted/events/tenant=a/dt=2026-11-28/through=20261128T100000Z/part.parquet",
            "compacted/events/tenant=a/dt=2026-11-28/through=20261128T110000Z/part.parquet",
            "alerts/tenant=a/dt=2026-11-28/hour=10/20261128T100000Z.parquet"]
    assert layout.query_files(keys, "events") == (
        ["events/tenant=a/dt=2026-11-29/hour=00/20261129T000000Z.parquet"],
        ["compacted/events/tenant=a/dt=2026-11-28/through=20261128T110000Z/part.parquet"])
    assert layout.query_files(keys, "alerts") == (
        ["alerts/tenant=a/dt=2026-11-28/hour=10/20261128T100000Z.parquet"], [])
