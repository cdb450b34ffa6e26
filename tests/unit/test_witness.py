"""The witness, `verify --witness` and the watch rounds on local directories (no services): a
real seal (the `sealed` fixture of test_archive.py), then rewrites re-signed with the real key."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil

import pytest
import test_archive
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_archive import T0, _events_file, _rewrite

from auditflow.archive import digest as dg
from auditflow.archive import watch as wa
from auditflow.archive import witness as wt
from auditflow.archive.store import LocalStore
from auditflow.archive.verify import Verifier

sealed = test_archive.sealed  # the fixture: a real seal of three periods

PERIODS = ["20261128T100000Z", "20261128T110000Z", "20261128T120000Z"]
NOW = T0 + dt.timedelta(hours=3, minutes=10)


def make_witness(sealed, own=None, **kw) -> tuple[wt.Witness, Ed25519PrivateKey]:
    wkey = kw.pop("wkey", None) or Ed25519PrivateKey.generate()
    own = own or LocalStore(sealed["tmp"] / "witness-own")
    trusted = kw.pop("trusted", [sealed["key"].public_key()])
    return wt.Witness(LocalStore(sealed["worm"]), own, wkey, trusted, **kw), wkey


def resign_last(sealed, change) -> None:
    """What an operator holding the real signing key can do: edit the last digest, sign again."""
    path = sealed["worm"] / "digests" / f"{PERIODS[-1]}.json"
    doc = json.loads(path.read_bytes())
    change(doc)
    path.write_bytes(dg.encode(dg.sign(doc, sealed["key"])))


def test_witness_cosigns_every_digest_once_and_verify_requires_it(sealed):
    w, wkey = make_witness(sealed)
    assert w.run_once(NOW).cosigned == PERIODS
    assert w.run_once(NOW).cosigned == []  # nothing new
    worm = LocalStore(sealed["worm"])
    kid = dg.key_id(wkey.public_key())
    assert sorted(o.key for o in worm.list("witness/")) == [f"witness/{kid}/{p}.json" for p in PERIODS]
    cos = json.loads(worm.get(f"witness/{kid}/{PERIODS[1]}.json"))
    assert cos["format"] == "auditflow-cosignature/1" and cos["witness_key_id"] == kid
    assert cos["digest_sha256"] == dg.sha256(worm.get(f"digests/{PERIODS[1]}.json"))
    assert set(cos) == {"format", "digest_key", "period", "digest_sha256", "witness_key_id",
                        "cosigned_at", "signature"}
    seen = w.seen()
    assert (seen.key, seen.sha256) == (f"digests/{PERIODS[-1]}.json",
                                       dg.sha256(worm.get(f"digests/{PERIODS[-1]}.json")))
    rep = Verifier(worm, sealed["key"].public_key(), witnesses=[wkey.public_key()]).run()
    assert rep.ok, rep.problem
    other = Ed25519PrivateKey.generate().public_key()
    p = Verifier(worm, sealed["key"].public_key(), witnesses=[other]).run().problem
    assert (p.kind, p.period) == ("unwitnessed", PERIODS[0])
    assert dg.key_id(other) in p.message and "absent" in p.message


def test_a_history_resigned_with_the_real_key_is_unwitnessed_and_refused(sealed):
    w, wkey = make_witness(sealed)
    w.run_once(NOW)
    before = w.seen()
    resign_last(sealed, lambda d: d.update(sealed_at="2026-11-28T13:05:02Z"))
    worm = LocalStore(sealed["worm"])
    rep = Verifier(worm, sealed["key"].public_key()).run()
    assert rep.ok, rep.problem  # the signature alone cannot tell
    p = Verifier(worm, sealed["key"].public_key(), witnesses=[wkey.public_key()]).run().problem
    assert (p.kind, p.period) == ("unwitnessed", PERIODS[-1])
    assert "rewritten after the witness saw it" in p.message
    for _ in range(2):  # and keeps refusing
        res = w.run_once(NOW)
        assert res.cosigned == [] and res.refused.startswith("REFUSED to co-sign: digests/")
        assert "history rewritten" in res.refused
    assert w.seen() == before
    conflicts = w.own.list("conflicts/")
    assert len(conflicts) == 1 and conflicts[0].key.startswith(f"conflicts/{PERIODS[-1]}-")


def test_a_fork_after_the_last_cosigned_digest_is_refused(sealed):
    own = LocalStore(sealed["tmp"] / "own")
    w, _k = make_witness(sealed, own=own)
    # the witness saw only the first two digests
    last = sealed["worm"] / "digests" / f"{PERIODS[-1]}.json"
    held = last.read_bytes()
    last.unlink()
    assert w.run_once(NOW).cosigned == PERIODS[:2]
    # the operator rewrites the middle digest and re-links the last one to it
    mid = sealed["worm"] / "digests" / f"{PERIODS[1]}.json"
    doc = json.loads(mid.read_bytes())
    doc["sealed_at"] = "2026-11-28T12:01:09Z"
    mid_new = dg.encode(dg.sign(doc, sealed["key"]))
    mid.write_bytes(mid_new)
    nxt = json.loads(held)
    nxt["previous"]["sha256"] = dg.sha256(mid_new)
    last.write_bytes(dg.encode(dg.sign(nxt, sealed["key"])))
    res = w.run_once(NOW)
    assert res.cosigned == [] and f"digests/{PERIODS[1]}.json now hashes to" in res.refused
    # a restored middle digest does not help the forged last one
    doc["sealed_at"] = json.loads(held)["sealed_at"]
    mid.write_bytes(dg.encode(sealed["results"][1].digest))
    res = w.run_once(NOW)
    assert res.cosigned == [] and f"does not extend digests/{PERIODS[1]}.json" in res.refused


def test_unpinned_key_genesis_and_start(sealed):
    pinned = Ed25519PrivateKey.generate().public_key()
    w, _k = make_witness(sealed, trusted=[pinned])
    res = w.run_once(NOW)
    assert res.cosigned == [] and f"which is not pinned (pinned: {dg.key_id(pinned)})" in res.refused
    assert "witness.trusted_keys" in res.refused
    first = sealed["worm"] / "digests" / f"{PERIODS[0]}.json"
    first.unlink()
    w, _k = make_witness(sealed, own=LocalStore(sealed["tmp"] / "o2"))
    res = w.run_once(NOW)
    assert "not from genesis" in res.refused
    start = f"digests/{PERIODS[1]}.json"
    sha = dg.sha256((sealed["worm"] / start).read_bytes())
    w, _k = make_witness(sealed, own=LocalStore(sealed["tmp"] / "o3"), start=wt.parse_start(f"{start}={sha}"))
    assert w.run_once(NOW).cosigned == PERIODS[1:]
    w, _k = make_witness(sealed, own=LocalStore(sealed["tmp"] / "o4"), start=(start, "0" * 64))
    assert "not the trusted starting digest" in w.run_once(NOW).refused
    with pytest.raises(wt.WitnessError, match="DIGEST_KEY=SHA256"):
        wt.parse_start(f"{start}={sha.upper()}")
    with pytest.raises(wt.WitnessError, match="no archive signing key pinned"):
        make_witness(sealed, trusted=[])


def test_witness_follows_a_signed_rotation(sealed):
    """The last digest is signed by a new key that the previous key vouched for."""
    old, new = sealed["key"], Ed25519PrivateKey.generate()
    path = sealed["worm"] / "digests" / f"{PERIODS[-1]}.json"
    doc = json.loads(path.read_bytes())
    rot = {"format": "auditflow-key-rotation/1", "previous_key_id": dg.key_id(old.public_key()),
           "key_id": dg.key_id(new.public_key()), "public_key": dg.public_pem(new.public_key()).decode(),
           "valid_from": doc["period"]["start"]}
    good = {**rot, "signature": base64.b64encode(old.sign(dg.signed_bytes(rot))).decode()}
    forged = {**rot, "signature": base64.b64encode(new.sign(dg.signed_bytes(rot))).decode()}
    for record, ok in ((forged, False), (good, True)):
        path.write_bytes(dg.encode(dg.sign({**doc, "rotation": record}, new)))
        w, _k = make_witness(sealed, own=LocalStore(sealed["tmp"] / f"rot-{ok}"))
        res = w.run_once(NOW)
        if ok:
            assert res.cosigned == PERIODS and res.refused is None
            assert w.seen().key_id == dg.key_id(new.public_key())
        else:
            assert res.cosigned == PERIODS[:2]
            assert ("with a rotation record that has a signature that does not verify with the previous "
                    f"key {dg.key_id(old.public_key())}") in res.refused


def test_cosignature_checks():
    wkey, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    raw = b'{"x": 1}\n'
    cos = wt.cosign("digests/P.json", raw, "P", wkey, NOW)
    assert cos["cosigned_at"] == "2026-11-28T13:10:00Z"
    data = json.dumps(cos).encode()
    assert wt.check_cosignature(data, "digests/P.json", raw, wkey.public_key()) is None
    assert "does not verify" in wt.check_cosignature(data, "digests/P.json", raw, other.public_key())
    assert "is for digests/P.json, not digests/Q.json" in wt.check_cosignature(
        data, "digests/Q.json", raw, wkey.public_key())
    assert "rewritten after the witness saw it" in wt.check_cosignature(
        data, "digests/P.json", raw + b" ", wkey.public_key())
    assert "not valid JSON" in wt.check_cosignature(b"{", "digests/P.json", raw, wkey.public_key())
    tampered = json.dumps({**cos, "period": "Q"}).encode()
    assert "does not verify" in wt.check_cosignature(tampered, "digests/P.json", raw, wkey.public_key())


def test_trust_file_with_two_keys(tmp_path):
    a, b = (Ed25519PrivateKey.generate().public_key() for _ in range(2))
    f = tmp_path / "trust.pem"
    f.write_bytes(b"# auditors' keys\n" + dg.public_pem(a) + dg.public_pem(b))
    assert [dg.key_id(k) for k in wt.load_trust_files([f])] == [dg.key_id(a), dg.key_id(b)]
    (tmp_path / "empty.pem").write_text("nothing\n")
    with pytest.raises(wt.WitnessError, match="not an Ed25519 public key"):
        wt.load_trust_files([tmp_path / "empty.pem"])


# ---------------------------------------------------------------- verify --watch rounds
def make_watch(sealed, state, emitted, witnesses=()):
    worm = LocalStore(sealed["worm"])
    return wa.Watch(worm, Verifier(worm, sealed["key"].public_key(), witnesses=list(witnesses)), state,
                    wa.Settings(period_s=3600, grace_s=60, slack_s=120, witness_wait_s=300), emitted.append)


def test_watch_alerts_once_per_finding_and_resumes(sealed, tmp_path):
    state, emitted = tmp_path / "state.json", []
    w = make_watch(sealed, state, emitted)
    assert w.step(NOW) == [] and w.point.key == f"digests/{PERIODS[-1]}.json"
    assert json.loads(state.read_text())["last"]["key"] == f"digests/{PERIODS[-1]}.json"
    # a restart resumes from the state: nothing to verify again, nothing to raise
    w2 = make_watch(sealed, state, emitted)
    assert w2.step(NOW) == [] and w2.point.key == f"digests/{PERIODS[-1]}.json"

    def change(rows):
        rows[0]["message"] = "nothing happened"
        return rows
    f = _events_file(sealed["worm"], PERIODS[0])
    _rewrite(f, change)
    (a,) = w2.step(NOW)
    assert (a["rule_id"], a["severity"], a["severity_id"], a["entity_type"]) == (
        "INTEGRITY-001", "critical", 5, "archive")
    key = str(f.relative_to(sealed["worm"]))
    assert a["entity_value"].startswith(f"{sealed['worm']}: modified: {key} now hashes to")
    assert a["dedup_key"] == f"INTEGRITY-001|{sealed['worm']}|modified|{PERIODS[0]}"
    assert (a["window_start"], a["window_end"]) == (int(T0.timestamp() * 1000),
                                                    int(T0.timestamp() * 1000) + 3_600_000)
    assert w2.step(NOW) == []  # raised once
    again = wa.integrity_alert(str(sealed["worm"]), "modified", "other words", PERIODS[0], (0, 0), NOW)
    assert again["alert_id"] == a["alert_id"]  # the same finding is the same alert id
    # overdue: the next digest was due at 13:00 + 1 h + grace; slack later it is missing
    late = T0 + dt.timedelta(hours=4, minutes=3, seconds=1)
    (s,) = make_watch(sealed, state, emitted).step(late)
    assert s["dedup_key"].endswith(f"|stale|{PERIODS[-1]}") and "no digest after" in s["entity_value"]
    assert len(emitted) == 2


def test_watch_waits_for_the_witness_then_alerts(sealed, tmp_path):
    wkey = Ed25519PrivateKey.generate()
    emitted: list[dict] = []
    sealed_at = json.loads((sealed["worm"] / "digests" / f"{PERIODS[0]}.json").read_bytes())["sealed_at"]
    soon = dt.datetime.strptime(sealed_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    w = make_watch(sealed, tmp_path / "s.json", emitted, witnesses=[wkey.public_key()])
    assert w.step(soon + dt.timedelta(seconds=10)) == [] and w.point is None
    (a,) = w.step(soon + dt.timedelta(seconds=301))
    assert a["dedup_key"].endswith(f"|unwitnessed|{PERIODS[0]}") and "no cosignature by witness" in a[
        "entity_value"]
    wt.Witness(LocalStore(sealed["worm"]), LocalStore(tmp_path / "own"), wkey,
               [sealed["key"].public_key()]).run_once(NOW)
    assert w.step(NOW) == [] and w.point.key == f"digests/{PERIODS[-1]}.json"


def test_watch_state_survives_a_changed_last_digest(sealed, tmp_path):
    state, emitted = tmp_path / "state.json", []
    make_watch(sealed, state, emitted).step(NOW)
    resign_last(sealed, lambda d: d.update(sealed_at="2026-11-28T13:05:03Z"))
    (a,) = make_watch(sealed, state, emitted).step(NOW)
    assert a["dedup_key"].endswith(f"|modified|{PERIODS[-1]}")
    shutil.rmtree(sealed["worm"] / "events")
    alerts = make_watch(sealed, state, emitted).step(NOW)
    assert {x["dedup_key"].rsplit("|", 2)[1] for x in alerts} == {"missing"}


def test_integrity_alert_is_a_valid_alert_the_router_routes():
    import fastavro

    from auditflow.alerts import destinations
    from auditflow.archive import layout

    a = wa.integrity_alert("s3://worm/archive/", "unwitnessed", "unwitnessed: digests/P.json has none",
                           "P", (1_000, 2_000), NOW, tenant="acme/audit.raw.app/0")
    schema = fastavro.parse_schema(json.loads((layout.SCHEMAS / "alert.avsc").read_text()))
    assert fastavro.validate(a, schema, raise_errors=True)
    assert a["tenant_id"] == "acme" and a["created_at"] == int(NOW.timestamp() * 1000)
    dests = destinations.parse_destinations({
        "pd": {"type": "pagerduty", "url": "https://events.example/v2", "routing_key": "k" * 32,
               "min_severity": "critical", "rule_ids": ["INTEGRITY-*"]},
        "auth-only": {"type": "webhook", "url": "https://hooks.example/x", "rule_ids": ["AUTH-*"]}}, {})
    routed = [d.name for d in dests if destinations.matches(d, destinations.normalize_alert(a))]
    assert routed == ["pd"]
    body = destinations.build_request(next(d for d in dests if d.name == "pd"), a).body
    assert body["payload"]["severity"] == "critical" and body["payload"]["class"] == "INTEGRITY-001"


def test_cli_witness_and_verify_witness_on_local_copies(sealed, tmp_path, monkeypatch):
    """The commands on directories (no service): keys from the environment and trust files."""
    from click.testing import CliRunner

    from auditflow.cli import cli

    wkey = Ed25519PrivateKey.generate()
    monkeypatch.setenv("AUDITFLOW_WITNESS_KEY", base64.b64encode(wkey.private_bytes_raw()).decode())
    pub, wpub, bad = tmp_path / "archive.pem", tmp_path / "witness.pem", tmp_path / "bad.pem"
    pub.write_bytes(dg.public_pem(sealed["key"].public_key()))
    bad.write_text("not a key\n")
    runner = CliRunner()
    res = runner.invoke(cli, ["witness", "--print-key"], catch_exceptions=False)
    assert res.exit_code == 0
    assert dg.key_id(dg.load_public(res.stdout)) == dg.key_id(wkey.public_key())
    wpub.write_text(res.stdout)
    args = ["witness", "--worm", str(sealed["worm"]), "--storage", str(tmp_path / "own"),
            "--public-key", str(pub)]
    res = runner.invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert res.stderr.count("co-signed digests/") == 3
    verify = ["verify", "--worm", str(sealed["worm"]), "--public-key", str(pub)]
    res = runner.invoke(cli, [*verify, "--witness", str(wpub)], catch_exceptions=False)
    assert res.exit_code == 0 and res.stdout.startswith("OK: 3 digests"), res.output
    assert res.stdout.rstrip().endswith(f"; every digest cosigned by witness {dg.key_id(wkey.public_key())}")
    res = runner.invoke(cli, [*verify, "--witness", str(bad)], catch_exceptions=False)
    assert res.exit_code == 1 and res.output.strip().splitlines() == [
        f"Error: trust file {bad}: not an Ed25519 public key (Incorrect padding)"]
    res = runner.invoke(cli, [*args, "--start", "digests/x.json"], catch_exceptions=False)
    assert res.exit_code == 1 and "give DIGEST_KEY=SHA256" in res.output and "Traceback" not in res.output

    resign_last(sealed, lambda d: d.update(sealed_at="2026-11-28T13:05:04Z"))
    res = runner.invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 1
    assert f"REFUSED to co-sign: digests/{PERIODS[-1]}.json now hashes to" in res.stderr
    res = runner.invoke(cli, [*verify, "--witness", str(wpub)], catch_exceptions=False)
    assert res.exit_code == 1 and res.stdout.startswith(f"BROKEN: unwitnessed: digests/{PERIODS[-1]}.json")


def test_watch_raises_a_gap_in_periods(sealed, tmp_path):
    emitted: list[dict] = []
    digests = sealed["worm"] / "digests"
    held = {p: (digests / f"{p}.json").read_bytes() for p in PERIODS[1:]}
    for p in PERIODS[1:]:
        (digests / f"{p}.json").unlink()
    w = make_watch(sealed, tmp_path / "s.json", emitted)
    assert w.step(NOW - dt.timedelta(hours=2)) == [] and w.point.key == f"digests/{PERIODS[0]}.json"
    (digests / f"{PERIODS[2]}.json").write_bytes(held[PERIODS[2]])  # the next period's digest never came
    (a,) = w.step(NOW - dt.timedelta(hours=2))
    assert a["dedup_key"].endswith(f"|missing|{PERIODS[2]}")
    assert "missing: no digest for 2026-11-28T11:00:00Z .. 2026-11-28T12:00:00Z" in a["entity_value"]
    assert w.point.key == f"digests/{PERIODS[0]}.json"  # not past the gap
