"""Pinned trust on the real stack (SeaweedFS S3 with Object Lock, the schema registry): archives
sealed into WORM prefixes of their own, then what an operator who controls the pipeline could
try. Re-sealing the last period with edited events under a fresh key (published in keys/),
a proof re-signed by another key with that key embedded, and a sealer whose key no rotation
introduces are all refused naming the key id; a rotation done with `auditflow keys rotate`
verifies pinned to the first key. Every sealed object here has 90 s COMPLIANCE retention."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditflow import config, registry
from auditflow.archive import digest as dg
from auditflow.archive import layout, sample, trust, wiring
from auditflow.archive.seal import Sealer, SealError, align, iso
from auditflow.archive.store import LocalStore, S3Store, Store
from udfs import chain, wire

RETENTION_S = 90
PERIOD_S = 60
SETS = ["--set", f"archive.period_s={PERIOD_S}", "--set", "archive.grace_s=15",
        "--set", f"archive.retention={RETENTION_S}s"]
PER_PERIOD = 12
# the signing key of the CLI processes comes from this variable only (PEM in the environment,
# never on a command line); the file named instead does not exist, so nothing else is pinned
KEY_ENV = "AUDITFLOW_IT_TRUST_SIGNING_KEY"


def kid(key: Ed25519PrivateKey) -> str:
    return dg.key_id(key.public_key())


def private_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def env(stack, tmp_path_factory):
    """Config, a registered event schema (subject of this run, deleted afterwards) and helpers."""
    run = uuid.uuid4().hex[:8]
    tmp = tmp_path_factory.mktemp("trust")
    overrides = [f"archive.period_s={PERIOD_S}", "archive.grace_s=15", f"archive.retention={RETENTION_S}s",
                 f"archive.signing_key_env={KEY_ENV}", f"archive.signing_key_file={tmp / 'no-such-key.pem'}"]
    cfg = config.load(overrides=overrides)
    client = registry.client(cfg, "schema-admin")
    subject = f"it.{run}.trust-value"
    schema_id = client.register_schema(subject, registry.load_schema("audit_event"))
    yield {"cfg": cfg, "run": run, "tmp": tmp, "schema_id": schema_id,
           "sets": SETS + ["--set", f"archive.signing_key_env={KEY_ENV}",
                           "--set", f"archive.signing_key_file={tmp / 'no-such-key.pem'}"]}
    client.delete_subject(subject)
    client.delete_subject(subject, permanent=True)


def cli(env: dict, *args: str, key: Ed25519PrivateKey | None = None) -> subprocess.CompletedProcess:
    """`auditflow ARGS` in a process of its own (PYTHONPATH as this test's), the signing key in
    KEY_ENV when given."""
    proc_env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    if key is not None:
        proc_env[KEY_ENV] = private_pem(key)
    return subprocess.run([sys.executable, "-m", "auditflow.cli", *env["sets"], *args], capture_output=True,
                          text=True, timeout=300, env=proc_env)


def trust_file(env: dict, *keys: Ed25519PrivateKey) -> str:
    f = env["tmp"] / f"trust-{'-'.join(kid(k) for k in keys)}.pem"
    f.write_bytes(b"".join(dg.public_pem(k.public_key()) for k in keys))
    return str(f)


class Archive:
    """One tenant's archive in a WORM prefix of its own, sealed one period per call."""

    def __init__(self, env: dict, name: str, periods_back: int = 0):
        self.env, self.cfg = env, env["cfg"]
        self.prefix = f"it/{env['run']}-{name}/"
        self.tenant = f"it-trust-{env['run']}-{name}"
        self.staging = wiring.staging_store(self.cfg, self.prefix, "admin")
        self.worm = wiring.worm_store(self.cfg, self.prefix, "admin")
        assert isinstance(self.worm, S3Store) and self.worm.bucket == self.cfg.get("s3.worm_bucket")
        start_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        self.events = list(sample.chained(self.tenant, 4 * PER_PERIOD, start_ms, step_ms=10, seed=7))
        # the next period to seal; in the past when the CLI sealer must find it closed already
        self.start = align(dt.datetime.now(dt.UTC), PERIOD_S) - dt.timedelta(seconds=PERIOD_S * periods_back)
        self.sealed = 0

    def stage(self, store: Store, events: list[dict], name: str) -> None:
        parsed = wire.plain_schema(layout.load_avsc("events"))
        values = [wire.encode(self.env["schema_id"], parsed, e) for e in events]
        buf = io.BytesIO()
        pq.write_table(pa.table({"value": pa.array(values, pa.binary())}), buf)
        store.put(f"events/{layout.partition_path(self.tenant, dt.datetime.now(dt.UTC))}{name}.parquet",
                  buf.getvalue())

    def seal(self, key: Ed25519PrivateKey, with_events: bool = True) -> dict:
        """Seal the next period with `key` through the real staging bucket and registry."""
        if with_events:
            batch = self.events[self.sealed * PER_PERIOD:(self.sealed + 1) * PER_PERIOD]
            self.stage(self.staging, batch, f"part-{self.sealed}")
            self.sealed += 1
        end = self.start + dt.timedelta(seconds=PERIOD_S)
        res = self.sealer(self.staging, self.worm, key).seal(self.start, end, dt.datetime.now(dt.UTC))
        self.start = end
        return res.digest

    def sealer(self, staging: Store, worm: Store, key: Ed25519PrivateKey) -> Sealer:
        return Sealer(staging, worm, key, wiring.decoder(self.cfg), period_s=PERIOD_S, grace_s=15,
                      retention_s=RETENTION_S)

    def retain(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=RETENTION_S)


def test_a_rewrite_resealed_under_a_new_key_is_refused(env):
    a = Archive(env, "rewrite")
    key = Ed25519PrivateKey.generate()
    original = a.seal(key)["key_id"]
    last = a.seal(key)
    ok = cli(env, "verify", "--worm", a.prefix, "--public-key", trust_file(env, key))
    assert ok.returncode == 0 and ok.stdout.startswith("OK: 2 digests"), ok.stdout + ok.stderr
    assert f"{2 * PER_PERIOD} events in 1 chains" in ok.stdout and f"signed by key {original}" in ok.stdout
    # the local profile pins its configured signing key's public half: no flag needed
    local = cli(env, "verify", "--worm", a.prefix, key=key)
    assert local.returncode == 0 and local.stdout == ok.stdout, local.stdout + local.stderr

    # the operator edits the last period's events, relinks the chain and re-seals that period
    # under a fresh key, published in keys/ beside the data, over the sealed objects
    forger = Ed25519PrivateKey.generate()
    edited = [copy.deepcopy(e) for e in a.events[PER_PERIOD:2 * PER_PERIOD]]
    edited[3]["message"] = "nothing happened"
    prev = chain.ChainState.of(a.events[PER_PERIOD - 1])
    relinked = []
    for e in edited:
        e.pop("chain")
        relinked.append(chain.link(e, prev))
        prev = chain.ChainState.of(relinked[-1])
    scratch = LocalStore(env["tmp"] / "forged-worm")
    first_key = sorted(o.key for o in a.worm.list("digests/"))[0]
    scratch.put(first_key, a.worm.get(first_key))
    staging = LocalStore(env["tmp"] / "forged-staging")
    a.stage(staging, relinked, "part-forged")
    start = dg_start(last)
    forging = ForgingSealer(staging, scratch, forger, wiring.decoder(a.cfg), period_s=PERIOD_S, grace_s=15,
                            retention_s=RETENTION_S)
    forged = forging.seal(start, start + dt.timedelta(seconds=PERIOD_S)).digest
    assert forged["previous"] == last["previous"] and forged["key_id"] == kid(forger)
    uploaded = [o.key for o in scratch.list() if o.key != first_key]
    assert f"keys/{kid(forger)}.pem" in uploaded and f"digests/{last['period']['id']}.json" in uploaded
    for k in uploaded:  # new versions on top of the locked ones: what readers now get
        a.worm.put(k, scratch.get(k), retain_until=a.retain())
    assert dg.check_signature(json.loads(a.worm.get(f"digests/{last['period']['id']}.json")),
                              forger.public_key())

    bad = cli(env, "verify", "--worm", a.prefix, "--public-key", trust_file(env, key))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert bad.stdout.startswith(f"BROKEN: untrusted key: digests/{last['period']['id']}.json is signed with "
                                 f"key {kid(forger)}, but the accepted key is {original} and the digest "
                                 "carries no rotation record from it\n"), bad.stdout
    assert f"kind: untrusted key; tenant/chain: -; sequence: -; period: {last['period']['id']}" in bad.stdout
    assert cli(env, "verify", "--worm", a.prefix, key=key).stdout == bad.stdout
    # nothing pinned at all: one line naming the ways to pin a key, not the archive's keys/
    none = cli(env, "verify", "--worm", a.prefix)
    assert none.returncode == 1 and none.stdout == "", none.stdout
    assert none.stderr == f"Error: {trust.NO_PINNED_KEY}\n", none.stderr


class ForgingSealer(Sealer):
    """The operator's own build of the sealer, without the rotation check."""

    def _rotation(self, prev_doc: dict | None, start: dt.datetime) -> dict | None:
        return None


def dg_start(doc: dict) -> dt.datetime:
    return dt.datetime.strptime(doc["period"]["start"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def rotated(env):
    """Two periods sealed by a first key, `auditflow keys rotate` to a second, a third period
    sealed by the second key."""
    a = Archive(env, "rotate")
    first, second = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    a.seal(first)
    before = a.seal(first)
    new_pub = env["tmp"] / "second.pub"
    new_pub.write_bytes(dg.public_pem(second.public_key()))
    done = cli(env, "keys", "rotate", "--new-key", str(new_pub), "--worm", a.prefix, key=first)
    assert done.returncode == 0, done.stdout + done.stderr
    valid_from = before["period"]["end"]
    record_key = trust.rotation_key(kid(second), valid_from)
    assert done.stdout.startswith(f"rotation {kid(first)} -> {kid(second)} valid from {valid_from} stored at "
                                  f"{a.worm.url}{record_key}\n"), done.stdout
    after = a.seal(second)
    return {"archive": a, "first": first, "second": second, "before": before, "after": after,
            "record": json.loads(a.worm.get(record_key))}


def test_a_rotation_done_with_keys_rotate_verifies_pinned_to_the_first_key(env, rotated):
    a, first, second = rotated["archive"], rotated["first"], rotated["second"]
    rot = rotated["after"]["rotation"]
    assert rot == rotated["record"] and (rot["previous_key_id"], rot["key_id"]) == (kid(first), kid(second))
    assert trust.rotation_problem(rot, first.public_key()) is None
    ok = cli(env, "verify", "--worm", a.prefix, "--public-key", trust_file(env, first))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("OK: 3 digests") and f"{3 * PER_PERIOD} events in 1 chains" in ok.stdout
    assert f"signed by key {kid(first)} -> {kid(second)}" in ok.stdout, ok.stdout
    # pinned to the second key only, the digests before the hand-over are not trusted
    second_only = cli(env, "verify", "--worm", a.prefix, "--public-key", trust_file(env, second))
    assert second_only.returncode == 1 and second_only.stdout.startswith(
        f"BROKEN: untrusted key: digests/{sorted_periods(a)[0]}.json is signed with key "
        f"{kid(first)}, which is not pinned (pinned: {kid(second)})"), second_only.stdout
    # a proof of an event sealed after the rotation, checked offline pinned to the first key
    target = a.events[2 * PER_PERIOD + 4]
    proof_file = env["tmp"] / "rotated-proof.json"
    made = cli(env, "prove", target["event_id"], "--worm", a.prefix, "-o", str(proof_file))
    assert made.returncode == 0, made.stdout + made.stderr
    assert json.loads(proof_file.read_text())["rotations"] == [rot]
    checked = cli(env, "verify-proof", str(proof_file), "--public-key", trust_file(env, first))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.endswith(f"whose digest is signed by key {kid(second)} (introduced by a signed "
                                   "rotation from a pinned key)\n"), checked.stdout
    js = node(proof_file, trust_file(env, first))
    assert js.returncode == 0 and js.stdout.endswith(f"digest signed by key {kid(second)}\n"), js.stdout


def sorted_periods(a: Archive) -> list[str]:
    keys = sorted(o.key for o in a.worm.list("digests/"))
    return [k.rsplit("/", 1)[-1].removesuffix(".json") for k in keys]


def node(proof_file: Path, *pins: str) -> subprocess.CompletedProcess:
    exe = shutil.which("node")
    assert exe, "node is part of this machine kind; schemas/verify_chain.js needs it"
    args = [a for p in pins for a in ("--public-key", p)]
    return subprocess.run([exe, str(layout.SCHEMAS / "verify_chain.js"), str(proof_file), *args],
                          capture_output=True, text=True, timeout=60)


def test_a_self_signed_proof_is_refused(env, rotated):
    a, first = rotated["archive"], rotated["first"]
    target = a.events[5]
    proof_file = env["tmp"] / "proof.json"
    made = cli(env, "prove", target["event_id"], "--worm", a.prefix, "--tenant", a.tenant,
               "-o", str(proof_file))
    assert made.returncode == 0, made.stdout + made.stderr
    good = json.loads(proof_file.read_text())
    ok = cli(env, "verify-proof", str(proof_file), "--public-key", trust_file(env, first))
    assert ok.returncode == 0 and f"signed by key {kid(first)} (pinned)" in ok.stdout, ok.stdout + ok.stderr

    # the event edited, the digest re-signed by another key, and that key embedded in the proof
    other = Ed25519PrivateKey.generate()
    forged = copy.deepcopy(good)
    forged["digest"] = dg.sign(forged["digest"], other)
    forged["public_key"] = dg.public_pem(other.public_key()).decode()
    forged_file = env["tmp"] / "self-signed-proof.json"
    forged_file.write_text(json.dumps(forged))
    why = (f"untrusted key: digests/{good['period']}.json is signed with key {kid(other)}, which is not "
           f"pinned (pinned: {kid(first)})")
    bad = cli(env, "verify-proof", str(forged_file), "--public-key", trust_file(env, first))
    assert (bad.returncode, bad.stdout) == (1, f"FAILED: {why}\n"), bad.stdout + bad.stderr
    js = node(forged_file, trust_file(env, first))
    assert (js.returncode, js.stdout) == (1, f"FAIL: {why}\n"), js.stdout + js.stderr
    # pinning the embedded key is the auditor's choice, never the proof's
    assert cli(env, "verify-proof", str(forged_file), "--public-key", trust_file(env, other)).returncode == 0


def test_a_key_change_without_a_rotation_record_is_refused(env, rotated):
    # the sealer refuses a key no rotation introduces, before anything reaches the archive
    a = Archive(env, "norotation", periods_back=3)
    first, third = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    a.seal(first, with_events=False)  # an empty period in the past: the next one is closed already
    refused = cli(env, "seal", "--staging", a.prefix, "--worm", a.prefix, key=third)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    why = (f"the signing key {kid(third)} is not the key of the last digest ({kid(first)}) and no "
           f"rotation to it is valid from {iso(a.start)}")
    assert refused.stderr.startswith(f"Error: {why} ("), refused.stderr
    assert "Traceback" not in refused.stderr and refused.stderr.count("\n") == 1, refused.stderr
    assert [o.key for o in a.worm.list("digests/")] == [f"digests/{sorted_periods(a)[0]}.json"]
    with pytest.raises(SealError, match="^" + re.escape(why)):
        a.seal(third, with_events=False)
    # and a digest the rotated archive's second key signs without its record fails verification
    r = rotated["archive"]
    doc = copy.deepcopy(rotated["after"])
    doc.pop("rotation")
    stripped = env["tmp"] / "stripped"
    shutil.rmtree(stripped, ignore_errors=True)
    copy_archive(r.worm, stripped)
    pid = doc["period"]["id"]
    (stripped / "digests" / f"{pid}.json").write_bytes(dg.encode(dg.sign(doc, rotated["second"])))
    bad = cli(env, "verify", "--worm", str(stripped), "--public-key", trust_file(env, rotated["first"]))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert bad.stdout.startswith(f"BROKEN: untrusted key: digests/{pid}.json is signed with key "
                                 f"{kid(rotated['second'])}, but the accepted key is {kid(rotated['first'])} "
                                 "and the digest carries no rotation record from it\n"), bad.stdout


def copy_archive(store: Store, dest: Path) -> None:
    """An auditor's copy (`aws s3 sync`) of a WORM prefix."""
    for o in store.list():
        p = dest / o.key
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(store.get(o.key))
