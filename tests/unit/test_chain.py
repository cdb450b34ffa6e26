"""The SHA-256 chains (udfs/chain.py) against schemas/CHAIN.md and its vectors: version-2 chains
per tenant and raw partition, version-1 chains per tenant."""

from __future__ import annotations

import copy
import datetime as dt
import importlib.util
import io
import json
import shutil
import subprocess
from pathlib import Path

import fastavro
import pytest

from auditflow.archive import layout
from udfs import chain, merkle, wire

ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "schemas" / "chain_vectors.json").read_text("utf-8"))
SCHEMA = json.loads((ROOT / "schemas" / "audit_event.avsc").read_text("utf-8"))


def _event(i: int, tenant: str = "acme", **extra) -> dict:
    e = {"event_id": f"{tenant}-{i}", "tenant_id": tenant, "time": 1732795741000 + i,
         "class_uid": 3002, "category_uid": 3, "activity_id": 1, "type_uid": 300201, "severity_id": 1,
         "metadata": {"product": {"name": "OpenSSH"}},
         "lineage": {"source_system": "syslog", "raw_topic": "audit.raw.syslog", "raw_partition": 0,
                     "raw_offset": i, "flink_job_id": "a" * 32, "lateness_ms": 0}}
    e.update(extra)
    return e


def _linked(n: int, tenant: str = "acme") -> list[dict]:
    """n events of one version-2 chain, <tenant>/audit.raw.syslog/0."""
    out, state = [], None
    for i in range(n):
        e = chain.link(_event(i, tenant), state)
        state = chain.ChainState.of(e)
        out.append(e)
    return out


def _sharded(n: int, partitions: int = 2, tenant: str = "acme") -> list[dict]:
    """n events on the raw partitions in turn, each linked into its partition's chain."""
    out, states = [], {}
    for i in range(n):
        e = _event(i, tenant)
        e["lineage"].update(raw_partition=i % partitions, raw_offset=i // partitions)
        linked = chain.link(e, states.get(chain.chain_id_of(e)))
        states[linked["chain"]["chain_id"]] = chain.ChainState.of(linked)
        out.append(linked)
    return out


# --- the vectors ---------------------------------------------------------------------------

def test_vectors_canonical_forms_and_hashes_reproduce():
    for row in VECTORS["events"]:
        e = row["event"]
        assert chain.canonical_bytes(e).decode("utf-8") == row["canonical"]
        assert chain.compute_hash(e["chain"]["prev_hash"], e) == e["chain"]["event_hash"]
    assert chain.verify_chain([r["event"] for r in VECTORS["events"]]) is None


def test_vectors_tampered_cases_report_their_break():
    kinds = set()
    for t in VECTORS["tampered"]:
        brk = chain.verify_chain(t["events"])
        assert brk is not None, t["name"]
        assert (brk.kind, brk.chain_id, brk.sequence) == (
            t["expect"]["kind"], t["expect"]["chain_id"], t["expect"]["sequence"]), t["name"]
        assert str(brk) == t["expect"]["message"]
        kinds.add(brk.kind)
    assert kinds == {"modified", "missing", "reordered", "duplicate", "wrong_prev_hash", "misplaced", "extra"}


def test_vectors_canonical_cases_reproduce():
    cases = {c["name"]: c for c in VECTORS["canonical_cases"]}
    for c in cases.values():
        if "error" in c:
            with pytest.raises(ValueError, match="exceeds safe integer domain"):
                chain.canonical_bytes(c["event"])
        else:
            assert chain.canonical_bytes(c["event"]).decode("utf-8") == c["canonical"], c["name"]
    assert cases["absent"]["canonical"] == cases["null"]["canonical"] == cases["empty"]["canonical"]
    assert '"groups":["admins",null,"ops"]' in cases["nulls_in_arrays"]["canonical"]
    assert '"resources":[{},null,{"name":"x"}]' in cases["nulls_in_arrays"]["canonical"]
    assert [n for n, c in cases.items() if "error" in c] == ["big_integer", "big_negative_integer"]


def test_vectors_hold_version_1_chains_and_two_interleaved_shards():
    ids = [r["event"]["chain"]["chain_id"] for r in VECTORS["events"]]
    assert set(ids) == {"acme", "globex", "initech/audit.raw.app/0", "initech/audit.raw.app/1"}
    shards = [i for i in ids if i.startswith("initech/")]
    assert shards[:2] == ["initech/audit.raw.app/0", "initech/audit.raw.app/1"] == shards[2:4]
    for r in VECTORS["events"]:  # version 1 where linked as such, else exactly the derived id
        e = r["event"]
        assert e["chain"]["chain_id"] in (e["tenant_id"], chain.chain_id_of(e)) and chain.misplaced(e) is None
    period = VECTORS["merkle"]["all_chains_period"]
    assert period["chain_ids"] == sorted(set(ids), key=str.encode)
    ordered = sorted((r["event"] for r in VECTORS["events"]), key=layout.sort_key)
    assert period["leaves"] == [e["chain"]["event_hash"] for e in ordered]
    assert period["root"] == merkle.merkle_root(period["leaves"])


def test_vectors_file_is_up_to_date():
    script = ROOT / "schemas" / "make_chain_vectors.py"
    spec = importlib.util.spec_from_file_location("make_chain_vectors", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.render() == (ROOT / "schemas" / "chain_vectors.json").read_text("utf-8"), (
        "schemas/chain_vectors.json is stale: run .venv/bin/python schemas/make_chain_vectors.py")


def test_vector_events_are_valid_audit_events():
    parsed = fastavro.parse_schema(SCHEMA)
    for row in VECTORS["events"]:
        assert fastavro.validate(row["event"], parsed, raise_errors=True)


def test_node_verifier_checks_the_vectors():
    node = shutil.which("node")
    assert node, "node is part of this machine kind; schemas/verify_chain.js needs it"
    res = subprocess.run([node, str(ROOT / "schemas" / "verify_chain.js")], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert " 0 failed" in res.stdout and "passed" in res.stdout


def test_node_verifier_rejects_a_modified_export(tmp_path):
    events = [copy.deepcopy(r["event"]) for r in VECTORS["events"]]
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps(events), "utf-8")
    events[3]["time"] += 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(events), "utf-8")
    node = shutil.which("node")
    assert node, "node is part of this machine kind"
    script = str(ROOT / "schemas" / "verify_chain.js")
    assert subprocess.run([node, script, str(ok)], capture_output=True, timeout=60).returncode == 0
    res = subprocess.run([node, script, str(bad)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and res.stdout.startswith("modified"), res.stdout
    events[3]["time"] -= 1
    moved = next(e for e in events if e["chain"]["chain_id"] == "initech/audit.raw.app/1")
    moved["chain"]["chain_id"] = "initech/audit.raw.app/0"
    bad.write_text(json.dumps(events), "utf-8")
    res = subprocess.run([node, script, str(bad)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and res.stdout.startswith("misplaced"), res.stdout


# --- the canonical form --------------------------------------------------------------------

def test_schema_defaults_list_is_every_non_null_default_in_the_avsc():
    found = []

    def walk(t, path):
        if isinstance(t, list):
            for x in t:
                walk(x, path)
        elif isinstance(t, dict) and t.get("type") == "record":
            for f in t["fields"]:
                if "default" in f and f["default"] is not None:
                    found.append((tuple(path + [f["name"]]), f["default"]))
                walk(f["type"], path + [f["name"]])

    walk(SCHEMA, [])
    assert sorted(found) == sorted(chain.SCHEMA_DEFAULTS)


def test_absent_null_and_avro_round_trip_hash_the_same():
    sparse = _event(1, message="hello", enrichment={"geo": {"lat": 52.52, "lon": 13.405, "country": "DE"}})
    full = copy.deepcopy(sparse)
    full.update({"actor": {"user": None, "session": None}, "status_id": None, "unmapped": {},
                 "resources": [], "raw_data": None})
    full["metadata"]["version"] = "1.3.0"
    buf = io.BytesIO()
    parsed = wire.plain_schema(SCHEMA)
    fastavro.schemaless_writer(buf, parsed, sparse)
    buf.seek(0)
    from_avro = fastavro.schemaless_reader(buf, parsed, parsed)
    assert from_avro["enrichment"]["geo"]["is_private"] is False and from_avro["dst_endpoint"] is None
    assert chain.canonical_bytes(sparse) == chain.canonical_bytes(full) == chain.canonical_bytes(from_avro)


def test_volatile_lineage_and_chain_are_left_out_but_offsets_and_version_count():
    a = _event(1)
    b = copy.deepcopy(a)
    b["lineage"].update(flink_job_id="b" * 32, lateness_ms=99_000)
    b["chain"] = {"chain_id": "x", "sequence": 9, "prev_hash": "1" * 64, "event_hash": "2" * 64}
    assert chain.canonical_bytes(a) == chain.canonical_bytes(b)
    for field, value in (("raw_offset", 2), ("job_version", "0.2.0"), ("raw_topic", "other")):
        c = copy.deepcopy(a)
        c["lineage"][field] = value
        assert chain.canonical_bytes(c) != chain.canonical_bytes(a), field


def test_numbers_and_strings_follow_jcs():
    e = _event(1, message="é\u2028\x01", enrichment={"geo": {"lat": 52.0, "lon": -0.0}})
    text = chain.canonical_bytes(e).decode("utf-8")
    assert '"lat":52,' in text and '"lon":0}' in text
    assert '"message":"é\u2028\\u0001"' in text
    assert chain.canonical_bytes(_event(1, unmapped={"ﬀ": "1", "😀": "2"})).decode().index("😀") < \
        chain.canonical_bytes(_event(1, unmapped={"ﬀ": "1", "😀": "2"})).decode().index("ﬀ")


def test_datetime_timestamps_hash_as_millis():
    a = _event(1)
    b = copy.deepcopy(a)
    b["time"] = dt.datetime.fromtimestamp(a["time"] / 1000, tz=dt.UTC)
    assert chain.canonical_bytes(a) == chain.canonical_bytes(b)
    b["time"] = b["time"].replace(tzinfo=None)
    with pytest.raises(TypeError, match="naive datetime"):
        chain.canonical_bytes(b)


def test_values_jcs_cannot_represent_are_rejected_with_the_event_id():
    with pytest.raises(ValueError, match="acme-1"):
        chain.canonical_bytes(_event(1, enrichment={"geo": {"lat": float("nan")}}))
    with pytest.raises(TypeError, match="not a JSON value"):
        chain.canonical_bytes(_event(1, message=b"bytes"))


# --- linking -------------------------------------------------------------------------------

def test_link_starts_at_genesis_and_chains_by_raw_partition():
    events = _linked(3)
    assert [e["chain"]["sequence"] for e in events] == [1, 2, 3]
    assert events[0]["chain"]["prev_hash"] == chain.GENESIS_PREV_HASH == "0" * 64
    assert events[1]["chain"]["prev_hash"] == events[0]["chain"]["event_hash"]
    assert {e["chain"]["chain_id"] for e in events} == {"acme/audit.raw.syslog/0"}
    assert all(len(e["chain"]["event_hash"]) == 64 and e["chain"]["event_hash"].islower() for e in events)
    assert "chain" not in _event(0)  # the input is not modified


def test_link_is_deterministic_across_a_replay_with_another_job_id():
    first = _linked(4)
    replay, state = [], None
    for i in range(4):
        e = _event(i)
        e["lineage"]["flink_job_id"] = "f" * 32
        e["lineage"]["lateness_ms"] = 12345
        e = chain.link(e, state)
        state = chain.ChainState.of(e)
        replay.append(e)
    assert [e["chain"] for e in first] == [e["chain"] for e in replay]


def test_chain_id_of_is_tenant_raw_topic_and_partition():
    assert chain.chain_id_of(_event(1)) == "acme/audit.raw.syslog/0"  # partition 0 counts
    e = _event(1)
    e["lineage"].update(raw_topic="audit.raw.k8s-audit", raw_partition=11)
    assert chain.chain_id_of(e) == "acme/audit.raw.k8s-audit/11"
    for lineage in (None, {"source_system": "syslog"}, {"raw_topic": "t", "raw_partition": None},
                    {"raw_topic": None, "raw_partition": 2}, {"raw_topic": "t", "raw_partition": True}):
        assert chain.chain_id_of(_event(1, lineage=lineage)) == "acme", lineage  # no raw partition: tenant
    del e["tenant_id"]
    with pytest.raises(ValueError, match="no tenant_id"):
        chain.chain_id_of(e)


def test_is_tenant_chain_knows_version_1_ids_and_shards():
    for cid in ("acme", "acme/audit.raw.app/0", "acme/audit.raw.app/12"):
        assert chain.is_tenant_chain(cid, "acme"), cid
    for cid in ("acmex", "acmex/audit.raw.app/0", "acme/x", "acme/a/b/0", "acme//0", "acme/t/", "acme/t/0x",
                "globex/audit.raw.app/0"):
        assert not chain.is_tenant_chain(cid, "acme"), cid


def test_sharded_chains_link_and_verify_interleaved():
    events = _sharded(7, partitions=3)
    assert [e["chain"]["chain_id"].rsplit("/", 1)[1] for e in events] == ["0", "1", "2", "0", "1", "2", "0"]
    assert [e["chain"]["sequence"] for e in events] == [1, 1, 1, 2, 2, 2, 3]
    assert all(e["chain"]["prev_hash"] == chain.GENESIS_PREV_HASH for e in events[:3])
    assert chain.verify_chain(events) is None
    with pytest.raises(ValueError, match="'acme/audit.raw.syslog/0'.*'acme/audit.raw.syslog/1'"):
        chain.link(_sharded(2)[1] | {"chain": None}, chain.ChainState.of(events[0]))


def test_version_1_chains_still_verify_beside_shards():
    v1, state = [], None
    for i in range(4):  # linked before the upgrade: chain_id = tenant_id, though lineage has a partition
        e = chain.link(_event(i, "globex"), state, chain_id="globex")
        state = chain.ChainState.of(e)
        v1.append(e)
    v2 = _sharded(4)
    assert chain.verify_chain([v1[0], v2[0], v1[1], v2[1], v2[2], v1[2], v1[3], v2[3]]) is None
    assert chain.misplaced(v1[0]) is None and chain.misplaced(v2[0]) is None
    # a version-1 chain with a later sealed head continues as version 1
    assert chain.verify_chain(v1[2:], start={"globex": chain.ChainState.of(v1[1])}) is None


def test_an_event_relabelled_into_another_chain_is_misplaced():
    events = _sharded(6)
    for claimed in ("acme/audit.raw.syslog/0", "acme/audit.raw.syslog", "acme/0", "globex",
                    "globex/audit.raw.syslog/1", "acme/audit.raw.app/1"):
        moved = copy.deepcopy(events)
        moved[3]["chain"]["chain_id"] = claimed  # shard 1's sequence 2
        brk = chain.verify_chain(moved)
        assert (brk.kind, brk.chain_id, brk.sequence, brk.index) == ("misplaced", claimed, 2, 3), claimed
        assert brk.message == (f"misplaced: chain {claimed!r} sequence 2 (event_id 'acme-3', position 3) "
                               "is in the wrong chain: its tenant_id and raw partition assign chain "
                               "'acme/audit.raw.syslog/1' or the version-1 chain 'acme'")
    # reported before the sequence checks: relabelled as shard 0's sequence 2, it would be an extra
    dup = copy.deepcopy(events[:4])
    dup[3]["chain"]["chain_id"] = "acme/audit.raw.syslog/0"
    assert chain.verify_chain(dup).kind == "misplaced"
    bare = chain.link(_event(1, lineage=None), None, chain_id="acme/audit.raw.syslog/0")
    assert chain.misplaced(bare) == "its tenant_id assigns chain 'acme'"
    assert chain.verify_chain([bare]).kind == "misplaced"


def test_an_event_moved_and_rehashed_into_another_shard_breaks_both():
    events = _sharded(6)
    src, dst = "acme/audit.raw.syslog/1", "acme/audit.raw.syslog/0"
    e = copy.deepcopy(events[3])
    e["lineage"]["raw_partition"] = 0
    forged = chain.link(e, chain.ChainState.of(events[4]))  # appended to shard 0 as its sequence 4
    assert forged["chain"]["chain_id"] == dst and chain.misplaced(forged) is None
    tampered = events[:3] + events[4:] + [forged]
    brk = chain.verify_chain(tampered)
    assert (brk.kind, brk.chain_id, brk.sequence) == ("missing", src, 2)
    # shard 0 alone looks intact until its signed head (a digest's) says where it ends
    only_dst = [x for x in tampered if x["chain"]["chain_id"] == dst]
    assert chain.verify_chain(only_dst) is None
    assert chain.verify_chain(only_dst, end={dst: chain.ChainState.of(events[4])}).kind == "extra"


def test_link_rejects_state_of_another_chain_and_missing_tenant():
    state = chain.ChainState.of(_linked(1, "globex")[0])
    with pytest.raises(ValueError, match="'globex/audit.raw.syslog/0'.*'acme/audit.raw.syslog/0'"):
        chain.link(_event(1), state)
    e = _event(1)
    del e["tenant_id"]
    with pytest.raises(ValueError, match="no chain_id"):
        chain.link(e, None)
    assert chain.link(e, None, chain_id="custom")["chain"]["chain_id"] == "custom"


# --- verification --------------------------------------------------------------------------

def test_interleaved_chains_verify():
    a, g = _linked(3, "acme"), _linked(2, "globex")
    assert chain.verify_chain([a[0], g[0], a[1], g[1], a[2]]) is None
    assert chain.verify_chain([]) is None


def test_each_kind_of_break_is_named_in_words():
    ev = _linked(5)
    cases = {
        "missing": [ev[0], ev[1], ev[3], ev[4]],
        "reordered": [ev[0], ev[2], ev[1], ev[3]],
        "duplicate": [ev[0], ev[1], ev[1], ev[2]],
        "unchained": [ev[0], _event(9)],
    }
    modified = copy.deepcopy(ev)
    modified[2]["message"] = "inserted"
    cases["modified"] = modified
    extra = copy.deepcopy(ev[1])
    extra["event_id"] = "forged"
    extra["chain"]["event_hash"] = chain.compute_hash(extra["chain"]["prev_hash"], extra)
    cases["extra"] = [ev[0], ev[1], extra, ev[2]]
    start_late = chain.verify_chain(ev[1:])
    assert start_late.kind == "missing" and start_late.sequence == 1
    for kind, events in cases.items():
        brk = chain.verify_chain(events)
        assert brk is not None and brk.kind == kind, (kind, brk)
        assert str(brk).startswith(kind + ":") and "acme" in str(brk) or kind == "unchained"
    assert chain.verify_chain(cases["missing"]).sequence == 3
    assert "lacks sequence 3" in str(chain.verify_chain(cases["missing"]))


def test_rehashed_event_breaks_the_next_link():
    ev = _linked(3)
    ev[1]["status_id"] = 2
    ev[1]["chain"]["event_hash"] = chain.compute_hash(ev[1]["chain"]["prev_hash"], ev[1])
    brk = chain.verify_chain(ev)
    assert (brk.kind, brk.sequence) == ("wrong_prev_hash", 3)
    assert "event_hash of sequence 2" in brk.message


def test_uppercase_hash_is_a_break():
    ev = _linked(2)
    ev[1]["chain"]["event_hash"] = ev[1]["chain"]["event_hash"].upper()
    assert chain.verify_chain(ev).kind == "modified"


def test_start_and_end_anchors_for_a_sealed_period():
    ev = _linked(6)
    cid = ev[0]["chain"]["chain_id"]
    before = chain.ChainState.of(ev[2])
    last = chain.ChainState.of(ev[5])
    assert chain.verify_chain(ev[3:], start={cid: before}, end={cid: last}) is None
    cut = chain.verify_chain(ev[3:5], start={cid: before}, end={cid: last})
    assert cut.kind == "missing" and cut.sequence == 6 and "6..6" in cut.message
    assert chain.verify_chain(ev[3:], start={cid: before},
                              end={cid: chain.ChainState.of(ev[4])}).kind == "extra"
    wrong_start = chain.verify_chain(ev[3:], start={cid: chain.ChainState(cid, 3, "0" * 64)})
    assert wrong_start.kind == "wrong_prev_hash"


def test_fast_path_writes_exactly_what_rfc8785_writes():
    import random

    import rfc8785

    rng = random.Random(6962)
    alphabet = ["a", "Z", "é", "\u2028", "\x00", "\x1f", '"', "\\", "\x7f", "€", "\ue000", "ﬀ", "😀", "𝄞"]

    def word() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))

    def number():
        kind = rng.randrange(5)
        if kind == 0:
            return rng.randint(-(2**53) + 1, 2**53 - 1)
        if kind == 1:
            return round(rng.uniform(-180, 180), rng.randint(0, 7))
        if kind == 2:
            return rng.uniform(-1, 1) * 10 ** rng.randint(-9, 25)
        if kind == 3:
            return float(rng.randint(-10**6, 10**6))
        return rng.choice([0.0, -0.0, 1e21, 1e-7, 5e-324, 0.1, 100.0, 1e16, 123456789012345680.0])

    def value(depth: int = 0):
        k = rng.randrange(6 if depth < 3 else 3)
        if k == 0:
            return word()
        if k == 1:
            return number()
        if k == 2:
            return rng.choice([True, False])
        if k == 3:
            return [value(depth + 1) for _ in range(rng.randint(1, 3))]
        return {word() or "k": value(depth + 1) for _ in range(rng.randint(1, 4))}

    def prune(v):
        if isinstance(v, dict):
            out = {k: prune(x) for k, x in v.items()}
            return {k: x for k, x in out.items() if x is not None and x != {} and x != []}
        return [prune(x) for x in v] if isinstance(v, list) else v

    fast_used = 0
    for _ in range(3000):
        doc = {"event_id": "x", "v": value()}
        expected = rfc8785.dumps(prune(doc))
        assert chain.canonical_bytes(doc) == expected, doc
        fast_used += chain._prepare(doc)[1]
    assert 500 < fast_used < 2900  # both paths were exercised


def test_a_lone_surrogate_is_refused_by_name_on_the_fast_path():
    doc = {"event_id": "e-1", "message": "bad \ud800 text"}
    assert chain._prepare(doc)[1]  # the fast path (orjson) is the one that meets it
    with pytest.raises(ValueError, match="'e-1' cannot be canonicalized: .*surrogate"):
        chain.canonical_bytes(doc)
