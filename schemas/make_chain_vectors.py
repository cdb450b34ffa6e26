"""Regenerate schemas/chain_vectors.json: chain and Merkle test vectors for schemas/CHAIN.md.

    .venv/bin/python schemas/make_chain_vectors.py          # rewrite the file
    .venv/bin/python schemas/make_chain_vectors.py --check  # exit 1 if the file is stale

The inputs are fixed events chosen to exercise the canonical form: absent vs null optional
fields, the volatile lineage fields, schema defaults, empty containers, doubles (lat/lon),
control characters, non-ASCII and non-BMP text, and member names whose UTF-16 order differs
from their code-point order. The chains acme and globex are version-1 chains (chain_id =
tenant_id, as linked before CHAIN.md version 2); initech is sharded by raw partition (version
2), its two shards interleaved. tests/unit/test_chain.py recomputes everything in the file, and
schemas/verify_chain.js checks it from Node.js.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from udfs import chain, merkle  # noqa: E402

OUT = Path(__file__).resolve().parent / "chain_vectors.json"

# RFC 6962 reference leaves (Certificate Transparency's and Trillian's merkle tree tests).
RFC6962_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                  "606162636465666768696a6b6c6d6e6f"]


def _lineage(offset: int, ingest: int, topic: str = "audit.raw.syslog", system: str = "syslog") -> dict:
    return {"source_system": system, "raw_topic": topic, "raw_partition": 0, "raw_offset": offset,
            "ingest_time": ingest, "job_name": "normalize", "job_version": "0.1.0",
            "flink_job_id": "3c1e5a3a0b9d4b6f8e2f1a7c5d9e0b12", "lateness_ms": 0}


def input_events() -> list[dict]:
    """The unlinked version-1 events, in the order they are linked (acme and globex interleaved)."""
    ssh = {
        "event_id": "6f1c2b1e-0d7a-5c43-9a39-2f2b1c9d8e01", "tenant_id": "acme",
        "time": 1732795741123, "class_uid": 3002, "category_uid": 3, "activity_id": 1,
        "type_uid": 300201, "severity_id": 2, "status_id": 2, "status_detail": "Failed password",
        "message": "Failed password for alice from 203.0.113.7 port 50022 ssh2; contact [MASKED:email]",
        "metadata": {"product": {"name": "OpenSSH", "vendor_name": "OpenBSD", "version": None},
                     "version": "1.3.0", "uid": None, "log_name": "auth.log",
                     "original_time": "Nov 28 12:09:01"},
        "actor": {"user": {"uid": None, "name": "alice", "type": None, "groups": None}, "session": None},
        "src_endpoint": {"ip": "203.0.113.7", "port": 50022, "hostname": None},
        "dst_endpoint": {"ip": None, "port": None, "hostname": "bastion-1"},
        "api": None, "resources": None, "http_request": None, "cloud": None,
        "unmapped": {"syslog.facility": "auth", "syslog.pid": "4242", "auditflow.masked": "email@message"},
        "raw_data": None,
        "enrichment": {"geo": {"country": "AU", "city": "Sydney", "lat": -33.8688, "lon": 151.2093,
                               "asn": None, "as_org": None, "is_private": False},
                       "user": {"display_name": "Alice Example", "department": "Finance", "title": None,
                                "manager": "bob", "privileged": False, "known": True}},
        "lineage": _lineage(1001, 1732795741200),
        "chain": None,
    }
    trail = {
        "event_id": "b2d8a7f0-5a8e-5f62-8d0a-7c1c4e9b3a20", "tenant_id": "acme",
        "time": 1732795800000, "class_uid": 3001, "category_uid": 3, "activity_id": 1,
        "type_uid": 300101, "severity_id": 1, "status_id": 1,
        "metadata": {"product": {"name": "AWS CloudTrail", "vendor_name": "AWS", "version": "1.09"},
                     "uid": "d5b3b1f2-6c2f-4f0e-9e55-3b0f0c1f7a11", "log_name": "cloudtrail",
                     "original_time": "2024-11-28T12:10:00Z"},
        "actor": {"user": {"uid": "AIDAEXAMPLE123456789", "name": "ops-admin", "type": "IAMUser",
                           "groups": []},
                  "session": {"uid": None, "issuer": None, "is_mfa": True}},
        "src_endpoint": {"ip": "198.51.100.23"},
        "api": {"operation": "CreateUser", "service": {"name": "iam.amazonaws.com"},
                "request": {"uid": "0f6e3b0a-1111-4c2d-9f00-abcdefabcdef"}},
        "resources": [{"uid": "arn:aws:iam::123456789012:user/carol", "name": "carol",
                       "type": "AWS::IAM::User", "namespace": None, "owner": None}],
        "cloud": {"provider": "AWS", "region": "eu-west-1", "account": {"uid": "123456789012"}},
        "unmapped": {"requestParameters": '{"userName":"carol","password":"[MASKED:secret]"}',
                     "Z.upper": "sorted before lower case", "a.lower": "x",
                     "auditflow.masked": "secret@unmapped[requestParameters].password"},
        "enrichment": {"geo": {"country": "US", "city": None, "lat": 37.751, "lon": -97.822},
                       "user": {"display_name": None, "known": False}},
        "lineage": _lineage(77, 1732795800450, "audit.raw.cloudtrail", "cloudtrail"),
    }
    globex = {
        "event_id": "globex-app-0001", "tenant_id": "globex", "time": 1732795805000,
        "class_uid": 6003, "category_uid": 6, "activity_id": 2, "type_uid": 600302, "severity_id": 1,
        "metadata": {"product": {"name": "billing-api"}},
        "http_request": {"http_method": "GET", "url": "/invoices/42?token=[MASKED:secret]",
                         "user_agent": "curl/8.5.0"},
        "lineage": {"source_system": "app_json", "raw_topic": "audit.raw.app", "raw_partition": 3,
                    "raw_offset": 5, "ingest_time": 1732795805010, "flink_job_id": "ffff", "lateness_ms": 12},
    }
    minimal = {
        "event_id": "acme-minimal-3", "tenant_id": "acme", "time": 1732795900000,
        "class_uid": 1007, "category_uid": 1, "activity_id": 1, "type_uid": 100701, "severity_id": 1,
        "metadata": {"product": {"name": "Linux auditd"}},
    }
    text = {
        "event_id": "acme-text-4", "tenant_id": "acme", "time": 1732796000001,
        "class_uid": 1001, "category_uid": 1, "activity_id": 3, "type_uid": 100103, "severity_id": 1,
        "message": 'quote " backslash \\ tab \t newline \n nul \u0000 del \u007f ls \u2028 é 😀 €',
        "metadata": {"product": {"name": "Linux auditd"}, "version": "1.3.0"},
        "resources": [{"name": "/srv/Zürich/report.pdf", "type": "File"}, {}],
        "unmapped": {"ﬀ": "U+FB00 sorts after U+1F600 in UTF-16 order", "😀": "non-BMP name",
                     "é": "latin", "e": "ascii"},
        "enrichment": {"geo": {"lat": 0.0, "lon": -0.5, "asn": 4294967295, "as_org": "Edge AS",
                               "is_private": False}},
        "lineage": {"source_system": "auditd", "raw_offset": 9007199254740991, "lateness_ms": None},
    }
    return [ssh, trail, globex, minimal, text]


def sharded_events() -> list[dict]:
    """initech's unlinked events in raw offset order per partition, partitions 0 and 1
    interleaved: two version-2 chains, initech/audit.raw.app/0 and initech/audit.raw.app/1."""
    out = []
    for n, (partition, offset, user, method, url) in enumerate([
            (0, 40, "peter", "GET", "/tps/reports/1999"), (1, 17, "milton", "POST", "/stapler/claim"),
            (0, 41, "peter", "PUT", "/tps/reports/1999/cover-sheet"), (1, 18, "bill", "GET", "/memos/latest"),
            (0, 42, "samir", "DELETE", "/tps/reports/1998"),
            (1, 19, "milton", "GET", "/basement/storage-b")]):
        activity = {"GET": 2, "POST": 1, "PUT": 3, "DELETE": 4}[method]
        ingest = 1732796100000 + 1000 * n
        out.append({
            "event_id": f"initech-app-{n + 1:04d}", "tenant_id": "initech", "time": ingest - 7,
            "class_uid": 6003, "category_uid": 6, "activity_id": activity, "type_uid": 600300 + activity,
            "severity_id": 1, "metadata": {"product": {"name": "tps-portal"}},
            "actor": {"user": {"name": user}},
            "http_request": {"http_method": method, "url": url, "user_agent": "Mozilla/5.0"},
            "lineage": {"source_system": "app_json", "raw_topic": "audit.raw.app", "raw_partition": partition,
                        "raw_offset": offset, "ingest_time": ingest, "job_name": "normalize",
                        "job_version": "0.1.0", "flink_job_id": "5e1f" * 8, "lateness_ms": 3},
        })
    return out


def canonical_cases() -> list[dict]:
    """Unlinked events that pin one rule of CHAIN.md section 2 each: the canonical text, or
    `error` when the event cannot be canonicalized (a verifier must refuse it, not round it)."""
    base = {"event_id": "case", "tenant_id": "acme", "time": 1732795741123, "class_uid": 1007,
            "category_uid": 1, "activity_id": 1, "type_uid": 100701, "severity_id": 1,
            "metadata": {"product": {"name": "Linux auditd"}}}
    cases = [
        ("absent", "optional members absent", {}),
        ("null", "the same optional members null: the same canonical form as absent",
         {"message": None, "actor": None, "resources": None, "unmapped": None}),
        ("empty", "the same optional members empty, or holding only nulls and empties: the same "
         "canonical form as absent", {"message": None, "actor": {"user": {"groups": [], "name": None}},
                                      "resources": [], "unmapped": {}}),
        ("nulls_in_arrays", "array items are never removed: a null item stays null, an item that "
         "prunes to {} stays {}, in its place",
         {"actor": {"user": {"name": "alice", "groups": ["admins", None, "ops"]}},
          "resources": [{"name": None}, None, {"name": "x", "type": None}]}),
        ("defaults_null", "a default member present as null is filled like an absent one",
         {"metadata": {"product": {"name": "Linux auditd"}, "version": None},
          "enrichment": {"user": {"privileged": None, "name": "bob"}, "geo": {"country": "NZ"}}}),
        ("numbers", "doubles as ECMAScript writes them: shortest round-trip, exponent from 1e21 "
         "up and below 1e-6, -0 and integral doubles as integers; the largest safe integer",
         {"enrichment": {"geo": {"lat": 1e21, "lon": 1e-07, "asn": 9007199254740991}},
          "unmapped": None, "src_endpoint": {"port": -0.0},
          "lineage": {"raw_offset": 9007199254740991, "ingest_time": -9007199254740991}}),
        ("numbers_2", "more doubles: 1e20 without exponent, 5e-324, 0.1 + 0.2, 123.0",
         {"enrichment": {"geo": {"lat": 1e20, "lon": 5e-324}},
          "unmapped": None, "dst_endpoint": {"port": 123.0},
          "src_endpoint": {"ip": "0.30000000000000004", "port": 0.1 + 0.2}}),
        ("big_integer", "an integer beyond 2^53 - 1: not canonicalizable",
         {"lineage": {"raw_offset": 2**53}}),
        ("big_negative_integer", "an integer below -(2^53 - 1): not canonicalizable",
         {"time": -(2**53)}),
    ]
    out = []
    for name, description, change in cases:
        event = {**copy.deepcopy(base), **change}
        row: dict = {"name": name, "description": description, "event": event}
        try:
            row["canonical"] = chain.canonical_bytes(event).decode("utf-8")
        except ValueError:
            row["error"] = "integer outside +-(2^53 - 1)"
        out.append(row)
    return out


def _chain_order(events: list[dict]) -> list[dict]:
    """CHAIN.md section 6: by chain_id as UTF-8 bytes, then sequence (auditflow.archive.layout's
    sort_key, which schemas/ may not import)."""
    return sorted(events, key=lambda e: (e["chain"]["chain_id"].encode(), e["chain"]["sequence"]))


def build() -> dict:
    states: dict[str, chain.ChainState] = {}
    rows = []
    # version 1 (chain_id = tenant_id) is passed explicitly; version 2 is link's default
    for e, cid in [(e, e["tenant_id"]) for e in input_events()] + [(e, None) for e in sharded_events()]:
        ev = chain.link(e, states.get(cid or chain.chain_id_of(e)), chain_id=cid)
        states[ev["chain"]["chain_id"]] = chain.ChainState.of(ev)
        rows.append({"event": ev, "canonical": chain.canonical_bytes(ev).decode("utf-8")})

    acme = [r["event"] for r in rows if r["event"]["chain"]["chain_id"] == "acme"]
    initech = [r["event"] for r in rows if r["event"]["tenant_id"] == "initech"]
    shard0 = "initech/audit.raw.app/0"
    tampered = []

    def case(name: str, events: list[dict], description: str) -> None:
        brk = chain.verify_chain(events)
        assert brk is not None, name
        tampered.append({"name": name, "description": description, "events": events,
                         "expect": {"kind": brk.kind, "chain_id": brk.chain_id, "sequence": brk.sequence,
                                    "message": brk.message}})

    modified = copy.deepcopy(acme)
    modified[1]["actor"]["user"]["name"] = "someone-else"
    case("modified", modified, "acme sequence 2: actor.user.name changed, chain fields untouched")
    case("missing", [acme[0], acme[2], acme[3]], "acme sequence 2 deleted")
    case("reordered", [acme[0], acme[2], acme[1], acme[3]], "acme sequences 2 and 3 swapped")
    case("duplicate", [acme[0], acme[1], acme[1], acme[2], acme[3]], "acme sequence 2 stored twice")
    forged = copy.deepcopy(acme)
    forged[1]["status_id"] = 2
    forged[1]["chain"]["event_hash"] = chain.compute_hash(forged[1]["chain"]["prev_hash"], forged[1])
    case("rehashed", forged,
         "acme sequence 2 changed and its event_hash recomputed: sequence 3 no longer links")
    genesis = copy.deepcopy(acme)
    genesis[0]["chain"]["prev_hash"] = "f" * 64
    genesis[0]["chain"]["event_hash"] = chain.compute_hash("f" * 64, genesis[0])
    case("bad_genesis", genesis[:1], "acme sequence 1 with a prev_hash other than 64 zeros")
    moved = copy.deepcopy(initech)
    moved[3]["chain"]["chain_id"] = shard0
    case("moved", moved, "initech/audit.raw.app/1 sequence 2 relabelled as an event of chain "
         "initech/audit.raw.app/0; its lineage still says raw_partition 1")
    forged = copy.deepcopy(initech)
    forged[3]["lineage"]["raw_partition"] = 0
    forged[3] = chain.link(forged[3], chain.ChainState.of(forged[2]))  # after shard 0's sequence 2
    case("moved_rehashed", forged,
         "initech/audit.raw.app/1 sequence 2 moved into initech/audit.raw.app/0 with raw_partition, "
         "sequence, prev_hash and event_hash recomputed there: shard 0's own sequence 3 follows as a "
         "second sequence 3, and shard 1 lacks sequence 2")

    big = copy.deepcopy(acme[:1])
    big[0]["lineage"]["raw_offset"] = 2**53
    # the hash a verifier that rounds or accepts the integer would compute: it must not match
    naive = json.dumps(chain.canonical_form(big[0]), sort_keys=True, ensure_ascii=False,
                       separators=(",", ":")).encode("utf-8")
    big[0]["chain"]["event_hash"] = hashlib.sha256(bytes(32) + naive).hexdigest()
    case("big_integer", big, "acme sequence 1 with lineage.raw_offset 2^53, an integer beyond "
         "+-(2^53 - 1), and the event_hash of its naive serialization: it cannot be canonicalized")

    leaves = [e["chain"]["event_hash"] for e in acme]
    period = [e["chain"]["event_hash"] for e in _chain_order([r["event"] for r in rows])]
    return {
        "about": "Test vectors for schemas/CHAIN.md. Regenerate with schemas/make_chain_vectors.py; "
                 "checked by tests/unit/test_chain.py, tests/unit/test_merkle.py and "
                 "schemas/verify_chain.js.",
        "genesis_prev_hash": chain.GENESIS_PREV_HASH,
        "removed_fields": ["chain"] + [f"lineage.{f}" for f in chain.VOLATILE_LINEAGE_FIELDS],
        "defaults": [{"path": ".".join(p), "value": v} for p, v in chain.SCHEMA_DEFAULTS],
        "events": rows,
        "tampered": tampered,
        "canonical_cases": canonical_cases(),
        "merkle": {
            "rfc6962": {
                "leaves": RFC6962_LEAVES,
                "roots": [merkle.merkle_root(RFC6962_LEAVES[:n]) for n in range(len(RFC6962_LEAVES) + 1)],
                "inclusion": [{"index": i, "size": n, "proof": merkle.inclusion_proof(i, RFC6962_LEAVES[:n])}
                              for i, n in ((0, 8), (5, 8), (2, 3), (1, 5), (0, 1), (6, 7))],
            },
            "acme_period": {
                "description": "Merkle tree over the acme chain's event_hash values in sequence order",
                "leaves": leaves,
                "root": merkle.merkle_root(leaves),
                "inclusion": [{"index": i, "size": len(leaves), "proof": merkle.inclusion_proof(i, leaves)}
                              for i in range(len(leaves))],
            },
            "all_chains_period": {
                "description": "Merkle tree over every event in `events`, as one period's digest orders "
                               "them: by chain_id (UTF-8 bytes), then sequence; version-1 chains and "
                               "shards alike",
                "chain_ids": sorted({r["event"]["chain"]["chain_id"] for r in rows}, key=str.encode),
                "leaves": period,
                "root": merkle.merkle_root(period),
            },
        },
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is stale: run python schemas/make_chain_vectors.py", file=sys.stderr)
            return 1
        print(f"{OUT} is up to date")
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
