"""The sealer checks what it seals (quarantine), verify follows only signed quarantine entries,
the Merkle root under --tenant, archive.retention and the legal-hold selection: pure logic on
local directories (the real S3 is in tests/integration/test_seal_checks_s3.py)."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_archive import T0, decoder, encode, make_events, stage

from auditflow import config, s3
from auditflow.archive import digest as dg
from auditflow.archive import hold, layout
from auditflow.archive.seal import Sealer
from auditflow.archive.store import LocalStore
from auditflow.archive.verify import Verifier
from udfs import chain

HOUR = dt.timedelta(hours=1)


def seal(staging: Path, worm: Path, key, now: dt.datetime):
    return Sealer(LocalStore(staging), LocalStore(worm), key, decoder()).seal_closed(now=now)


def verify(worm: Path, key, **kw):
    return Verifier(LocalStore(worm), key.public_key()).run(**kw)


@pytest.fixture()
def tampered(tmp_path):
    """acme (10 events) with sequence 4 edited in staging after it was linked, globex (5) clean;
    a second period continues acme (sequences 11..15)."""
    staging, worm = tmp_path / "s", tmp_path / "w"
    acme, globex = make_events("acme", 15), make_events("globex", 5)
    bad = copy.deepcopy(acme[3])
    bad["message"] = "rewritten before the seal"
    stage(staging, "events", "acme", T0, "part-1", encode(acme[:3] + [bad] + acme[4:10]),
          T0 + dt.timedelta(minutes=5))
    stage(staging, "events", "globex", T0, "part-1", encode(globex), T0 + dt.timedelta(minutes=6))
    stage(staging, "events", "acme", T0 + HOUR, "part-2", encode(acme[10:]),
          T0 + HOUR + dt.timedelta(minutes=5))
    key = Ed25519PrivateKey.generate()
    res = seal(staging, worm, key, T0 + 3 * HOUR)
    return {"res": res, "worm": worm, "staging": staging, "key": key, "acme": acme, "bad": bad}


def test_a_wrong_hash_is_quarantined_and_the_chain_seals_on(tampered):
    first, second = tampered["res"]
    assert (first.events, second.events) == (14, 5)  # 10 - 1 acme + 5 globex; then acme 11..15
    (q,) = first.digest["quarantined"]
    assert (q["kind"], q["chain_id"], q["sequence"], q["event_id"], q["tenant"]) == (
        "modified", "acme", 4, "acme-00003", "acme")
    assert q["resume"] == {"sequence": 4, "event_hash": tampered["acme"][3]["chain"]["event_hash"]}
    assert q["key"] == f"quarantine/{first.period}/000001.json"
    data = (tampered["worm"] / q["key"]).read_bytes()
    assert dg.sha256(data) == q["sha256"]
    body = json.loads(data)
    assert body["event"]["message"] == "rewritten before the seal"
    assert base64.b64decode(body["raw_base64"]) == encode([tampered["bad"]])[0]
    assert [c["count"] for c in first.digest["chains"]] == [9, 5]
    assert first.digest["heads"]["acme"] == [10, tampered["acme"][9]["chain"]["event_hash"]]
    assert second.digest["quarantined"] == []
    assert list(tampered["staging"].rglob("part-*")) == []  # the staging file went, quarantined record too

    rep = verify(tampered["worm"], tampered["key"])
    assert (rep.problem.kind, rep.problem.tenant, rep.problem.sequence, rep.problem.period) == (
        "quarantined", "acme", 4, first.period)
    assert (rep.events, rep.periods_checked, len(rep.quarantined)) == (19, 2, 1)
    ok = verify(tampered["worm"], tampered["key"], tenant="globex")
    assert ok.ok and ok.events == 5


def test_verify_still_catches_what_no_quarantine_entry_explains(tampered):
    worm, key = tampered["worm"], tampered["key"]
    pid = tampered["res"][0].period
    f = next(worm.glob(f"events/tenant=acme/*/*/{pid}.parquet"))
    rows = layout.to_records(pq.read_table(f))
    pq.write_table(layout.to_table([r for r in rows if r["chain"]["sequence"] != 6], "events"), f,
                   compression="zstd")
    p = verify(worm, key).problem
    assert (p.kind, p.tenant, p.sequence) == ("missing", "acme", 6)


def test_an_altered_quarantine_record_is_a_digest_mismatch(tampered):
    q = tampered["res"][0].digest["quarantined"][0]
    path = tampered["worm"] / q["key"]
    path.write_bytes(path.read_bytes().replace(b"rewritten", b"innocent!"))
    p = verify(tampered["worm"], tampered["key"]).problem
    assert p.kind == "digest mismatch"
    assert p.message.startswith(f"digest mismatch: quarantined record {q['key']} has SHA-256")


def test_an_unlisted_quarantine_file_is_extra(tampered):
    extra = tampered["worm"] / "quarantine" / "20261128T100000Z" / "000099.json"
    extra.write_text("{}")
    p = verify(tampered["worm"], tampered["key"]).problem
    assert (p.kind, p.message) == ("extra", "extra: quarantine/20261128T100000Z/000099.json is in the "
                                            "archive but in no signed digest")


def test_undecodable_records_are_quarantined_and_every_other_record_seals(tmp_path):
    staging, worm = tmp_path / "s", tmp_path / "w"
    acme, globex = make_events("acme", 6), make_events("globex", 4)
    good = encode(acme)
    no_wire = b"\x07not confluent wire"
    unknown_schema = b"\x00\x00\x00\x00\x63" + good[2][5:]
    truncated = good[2][:12]
    stage(staging, "events", "acme", T0, "part-1", good[:2] + [truncated] + good[3:],
          T0 + dt.timedelta(minutes=1))
    stage(staging, "events", "globex", T0, "part-1", [no_wire] + encode(globex) + [unknown_schema],
          T0 + dt.timedelta(minutes=2))
    key = Ed25519PrivateKey.generate()
    (res,) = seal(staging, worm, key, T0 + 2 * HOUR)
    kinds = [(q["kind"], q["tenant"], q["chain_id"], q["sequence"]) for q in res.quarantined]
    assert kinds == [("undecodable", "acme", None, None), ("undecodable", "globex", None, None),
                     ("undecodable", "globex", None, None), ("missing", "acme", "acme", 3)]
    assert "schema id 99 is unknown to the schema registry" in res.quarantined[2]["reason"]
    assert res.events == 9 and [c["count"] for c in res.digest["chains"]] == [5, 4]
    body = json.loads((worm / res.quarantined[1]["key"]).read_bytes())
    assert base64.b64decode(body["raw_base64"]) == no_wire and body["event"] is None
    rep = verify(worm, key)
    assert rep.problem.kind == "quarantined" and rep.events == 9 and len(rep.quarantined) == 4
    g = verify(worm, key, tenant="globex")
    assert g.problem.kind == "quarantined" and [q["kind"] for q in g.quarantined] == ["undecodable"] * 2
    assert g.events == 4


def test_a_wrong_prev_hash_and_a_replayed_sequence_are_quarantined(tmp_path):
    staging, worm = tmp_path / "s", tmp_path / "w"
    acme = make_events("acme", 6)
    relinked = copy.deepcopy(acme[4])  # hash recomputes, but it links to something else
    relinked["chain"]["prev_hash"] = "ab" * 32
    relinked["chain"]["event_hash"] = chain.compute_hash(relinked["chain"]["prev_hash"], relinked)
    other = copy.deepcopy(acme[1])
    other["message"] = "another event claiming sequence 2"
    other["chain"]["event_hash"] = chain.compute_hash(other["chain"]["prev_hash"], other)
    stage(staging, "events", "acme", T0, "part-1", encode(acme[:4] + [other, relinked, acme[5]]),
          T0 + dt.timedelta(minutes=1))
    key = Ed25519PrivateKey.generate()
    (res,) = seal(staging, worm, key, T0 + 2 * HOUR)
    # the re-linked 5 takes no place; 6 links to the original 5, which the gap entry vouches for
    assert [(q["kind"], q["sequence"]) for q in res.quarantined] == [
        ("extra", 2), ("wrong_prev_hash", 5), ("missing", 5)]
    assert res.quarantined[2]["resume"] == {"sequence": 5, "event_hash": acme[4]["chain"]["event_hash"]}
    assert res.events == 5 and res.digest["heads"]["acme"] == [6, acme[5]["chain"]["event_hash"]]
    p = verify(worm, key).problem
    assert (p.kind, p.sequence) == ("quarantined", 2)


def test_the_merkle_root_is_checked_under_tenant(tampered):
    worm, key = tampered["worm"], tampered["key"]
    pid = tampered["res"][0].period
    f = next(worm.glob(f"events/tenant=globex/*/*/{pid}.parquet"))
    rows = layout.to_records(pq.read_table(f))
    rows[0]["chain"]["event_hash"] = "0" * 63 + "1"
    pq.write_table(layout.to_table(rows, "events"), f, compression="zstd")
    p = verify(worm, key, tenant="acme").problem
    assert p.kind == "digest mismatch" and "Merkle root over the 14 events" in p.message


def test_hold_targets_a_tenants_files_quarantine_and_digests(tampered):
    store = LocalStore(tampered["worm"])
    first, second = tampered["res"]
    got = hold.targets(store, "acme", T0 + dt.timedelta(minutes=30), T0 + dt.timedelta(minutes=90))
    assert [(t.what, t.period) for t in got] == [
        ("events", first.period), ("quarantine", first.period), ("digest", first.period),
        ("events", second.period), ("digest", second.period)]
    assert [t.what for t in hold.targets(store, "globex", T0, T0 + 3 * HOUR, digests=False)] == ["events"]
    assert hold.targets(store, "acme", T0 + 3 * HOUR, T0 + 4 * HOUR) == []


# ---------------------------------------------------------------- retention
@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("10m", 600), ("12h", 43200), ("1d", 86400),
                                               ("2555d", 2555 * 86400), ("7y", 7 * 365 * 86400)])
def test_duration_units(text, seconds):
    assert config.duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["7", "7 years", "-1d", "0d", "1.5d", ""])
def test_duration_refuses_what_has_no_unit(text):
    with pytest.raises(config.ConfigError, match="expected a positive number with a unit"):
        config.duration(text, "archive.retention")


def test_local_is_a_day_and_every_other_profile_seven_years(tmp_path):
    assert config.retention(config.load(environ={}, cwd_file=False)) == dt.timedelta(days=1)
    f = tmp_path / "prod.toml"
    f.write_text('[profiles.prod.s3]\nendpoint = "https://s3.example.com"\n')
    prod = config.load("prod", f, environ={}, cwd_file=False)
    assert config.retention(prod) == dt.timedelta(days=7 * 365)
    assert prod.get("archive.allow_short_lock") is False
    assert prod.get("s3.endpoint") == "https://s3.example.com"


def test_retention_s_is_an_alias_and_retention_days_is_refused(tmp_path):
    cfg = config.load(overrides=["archive.retention_s=180"], environ={}, cwd_file=False)
    assert config.retention(cfg) == dt.timedelta(seconds=180)
    f = tmp_path / "old.toml"
    f.write_text("[profiles.prod.s3]\nretention_days = 2555\n")
    with pytest.raises(config.ConfigError, match=r"s3.retention_days is replaced by archive.retention"):
        config.retention(config.load("prod", f, environ={}, cwd_file=False))


@pytest.mark.parametrize(("keep", "rule"), [("7y", {"Years": 7}), ("2555d", {"Years": 7}),
                                             ("2556d", {"Days": 2556}),
                                             ("1d", {"Days": 1}), ("180s", {"Days": 1}),
                                             ("36h", {"Days": 2})])
def test_bucket_default_rule(keep, rule):
    assert s3.default_rule(config.duration(keep)) == rule


def test_a_lock_shorter_than_the_bucket_default_is_refused_outside_local(tmp_path):
    f = tmp_path / "prod.toml"
    f.write_text('[profiles.prod.archive]\nretention = "30d"\n')
    prod = config.load("prod", f, environ={}, cwd_file=False)
    with pytest.raises(config.ConfigError) as exc:
        s3.check_lock(prod, config.retention(prod), dt.timedelta(days=7 * 365), "worm")
    assert str(exc.value) == ("archive.retention (30d) is shorter than the default retention of bucket worm "
                              "(7y): sealed objects would be deletable before the bucket's policy allows. "
                              "Set archive.retention to at least that.")
    s3.check_lock(prod, dt.timedelta(days=7 * 365), dt.timedelta(days=7 * 365), "worm")  # equal: fine
    local = config.load(environ={}, cwd_file=False)
    s3.check_lock(local, dt.timedelta(seconds=180), dt.timedelta(days=1), "worm")  # local allows it


def test_digests_with_quarantine_entries_match_their_json_schema(tampered, tmp_path):
    import jsonschema

    schema = json.loads((layout.SCHEMAS / "digest.schema.json").read_text())
    staging, worm = tmp_path / "s2", tmp_path / "w2"
    acme = make_events("acme", 4)
    stage(staging, "events", "acme", T0, "part-1", encode(acme[:1]) + [b"junk"] + encode(acme[2:]),
          T0 + dt.timedelta(minutes=1))
    gap = seal(staging, worm, Ed25519PrivateKey.generate(), T0 + 2 * HOUR)
    digests = [r.digest for r in [*tampered["res"], *gap]]
    kinds = sorted(q["kind"] for d in digests for q in d["quarantined"])
    assert kinds == ["missing", "modified", "undecodable"]
    for d in digests:
        jsonschema.validate(d, schema)


def test_hold_refuses_bad_input_in_one_line(tampered):
    from click.testing import CliRunner

    from auditflow.cli import cli

    def run(*args: str):
        res = CliRunner().invoke(cli, ["hold", *args], catch_exceptions=False)
        return res.exit_code, res.output

    base = ["--tenant", "acme", "--worm", str(tampered["worm"])]
    assert run("set", *base, "--from", "yesterday", "--to", "2026-12-01") == (
        1, "Error: --from 'yesterday' is not an ISO 8601 time (e.g. 2026-11-01 or 2026-11-01T12:00:00Z)\n")
    assert run("set", *base, "--from", "2026-12-01", "--to", "2026-11-01") == (
        1, "Error: --to 2026-11-01 is not after --from 2026-12-01\n")
    assert run("release", *base, "--from", "2026-11-01", "--to", "2026-12-01") == (
        1, f"Error: {tampered['worm']} is a directory; legal holds exist only on the S3 archive\n")


def test_an_undecodable_alert_is_quarantined_and_the_events_seal(tmp_path):
    staging, worm = tmp_path / "s", tmp_path / "w"
    at = T0 + dt.timedelta(minutes=1)
    stage(staging, "events", "acme", T0, "part-1", encode(make_events("acme", 3)), at)
    stage(staging, "alerts", "acme", T0, "part-1", [b"\x00\x00\x00\x00\x08\xff"], at)  # schema 8: alert.avsc
    key = Ed25519PrivateKey.generate()
    (res,) = seal(staging, worm, key, T0 + 2 * HOUR)
    assert (res.events, res.alerts) == (3, 0)
    assert [(q["kind"], q["record_kind"], q["tenant"]) for q in res.quarantined] == [
        ("undecodable", "alerts", "acme")]
    rep = verify(worm, key)
    assert rep.problem.kind == "quarantined" and rep.events == 3


def test_a_signed_quarantine_entry_for_a_chain_without_a_head_is_a_digest_mismatch(tampered):
    """A digest (signed, so only by the key holder) whose quarantine entry bridges a chain it
    neither lists nor heads: a one-line break, not a KeyError."""
    worm, key = tampered["worm"], tampered["key"]
    first = tampered["res"][1].period  # the second period's digest: the last one, nothing after
    path = worm / "digests" / f"{first}.json"
    doc = json.loads(path.read_bytes())
    doc["quarantined"] = [{**tampered["res"][0].digest["quarantined"][0], "chain_id": "ghost"}]
    path.write_bytes(dg.encode(dg.sign(doc, key)))
    p = verify(worm, key).problem
    assert (p.kind, p.tenant) == ("digest mismatch", "ghost")
    assert p.message == (f"digest mismatch: digest {first} quarantines records of chain 'ghost' but "
                         "signs no head for it")
