"""Property tests: any bytes in -> exactly one event the Avro schema accepts, or one ParseError
with a reason; nothing else raises. For every parser family, and through the normalize steps
(prepare: parse, filter, mask, geo; finish: user, lineage, chain; encode).

Profiles (tests/conftest.py): HYPOTHESIS_PROFILE=ci (default, seconds) or fuzz (thousands of
examples per test). bench/fuzz.py runs the same invariant for minutes.
"""

from __future__ import annotations

import json
from pathlib import Path

import fastavro
import fastavro.validation
from hypothesis import given
from hypothesis import strategies as st
from parse_support import FILES, FIXTURES, SCHEMA, record

from udfs import normalize
from udfs.parse import ParseError, parse

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = tuple(FILES)
JSON_FAMILIES = ("cloudtrail", "k8s-audit", "app", "debezium")
SETTINGS = {"schema_ids": {"event": 7, "dlq": 8},
            "schemas": {"event": json.loads((ROOT / "schemas" / "audit_event.avsc").read_text()),
                        "dlq": json.loads((ROOT / "schemas" / "dead_letter.avsc").read_text())},
            "normalize": {"keep_raw": True}, "mask": {"hmac_key_env": "NO_SUCH_VARIABLE"}}
NORMALIZER = normalize.Normalizer(SETTINGS)
DLQ_SCHEMA = fastavro.parse_schema(SETTINGS["schemas"]["dlq"])


def _seeds() -> dict[str, list[bytes]]:
    out = {}
    for family, name in FILES.items():
        text = (FIXTURES / name).read_bytes()
        parts = text.split(b"\n\n") if family == "auditd" else text.splitlines()
        out[family] = [p.strip(b"\n") for p in parts if p.strip()]
    for family in ("syslog", "cloudtrail", "k8s-audit", "auditd"):
        text = next(FIXTURES.glob(f"{family}-variants.*")).read_bytes()
        parts = text.split(b"\n\n") if family == "auditd" else text.splitlines()
        out[family] += [p.strip(b"\n") for p in parts if p.strip()]
    raw = ROOT / "tests" / "fixtures" / "raw"
    out["syslog"] += [ln for p in sorted((raw / "syslog").iterdir()) for ln in p.read_bytes().splitlines()
                      if ln.strip()]
    for family, name in (("app", "events.jsonl"), ("debezium", "changes.jsonl"),
                         ("cloudtrail", "events.jsonl"), ("k8s-audit", "audit.log")):
        out[family] += [ln for ln in (raw / family / name).read_bytes().splitlines() if ln.strip()]
    return out


SEEDS = _seeds()


def outcome(family: str, value: bytes) -> str:
    """'event' or the ParseError's class; fails the test on anything else."""
    try:
        event = parse(record(family, value))
    except ParseError as err:
        assert err.error_class and err.stage in ("decode", "parse", "validate") and str(err)
        return err.error_class
    fastavro.validation.validate(event, SCHEMA, raise_errors=True)
    assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]
    return "event"


def end_to_end(family: str, value: bytes) -> str:
    """Normalizer.prepare + finish + encode as the job runs them; nothing may raise."""
    kind, _tenant, payload = NORMALIZER.prepare(record(family, value))
    assert kind in ("event", "dlq", "filtered")
    if kind == "event":
        payload, _state = NORMALIZER.finish(payload, user_versions=lambda _k: None, chain_state=None,
                                            watermark_ms=None)
        fastavro.validation.validate(payload, SCHEMA, raise_errors=True)
    elif kind == "dlq":
        fastavro.validation.validate(payload, DLQ_SCHEMA, raise_errors=True)
    data = NORMALIZER.encode(kind, payload)
    assert isinstance(data, bytes) and data
    return kind


def both(family: str, value: bytes) -> None:
    result = outcome(family, value)
    kind = end_to_end(family, value)
    assert (kind == "dlq") == (result != "event")


# --- strategies -------------------------------------------------------------------------------

families = st.sampled_from(FAMILIES)
json_families = st.sampled_from(JSON_FAMILIES)
KEYS = ["eventTime", "eventName", "eventSource", "userIdentity", "type", "arn", "awsRegion", "accessKeyId",
        "sessionContext", "apiVersion", "kind", "auditID", "stage", "verb", "user", "username", "groups",
        "objectRef", "responseStatus", "code", "sourceIPs", "requestReceivedTimestamp", "timestamp",
        "action", "actor", "target", "outcome", "tenant", "payload", "schema", "source", "op", "ts_ms",
        "before", "after", "Records", "items", "message"]
scalars = (st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
           | st.sampled_from(["2024-11-28T12:09:01Z", "1732795741", "get", "Event", "audit.k8s.io/v1", "c",
                              "ResponseComplete", "ASIAXXXXXXXXXXXXXXXX", "AssumedRole", "10.0.0.1"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=6),
                           max_leaves=30)
ODD_LITERALS = ["1e400", "-1e400", "NaN", "Infinity", "9" * 5000, "[" * 3000 + "]" * 3000, '"\\ud800"',
                '"\\udc00x"', "1" + "0" * 30, '"' + "a" * 200_000 + '"', "0", "true", "null", "[]", "{}"]


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


@st.composite
def json_mutants(draw):
    """A real JSON fixture with one value replaced by another JSON type or an odd literal."""
    family = draw(json_families)
    doc = json.loads(draw(st.sampled_from(SEEDS[family])))
    paths = [p for p in _paths(doc) if p]
    path = draw(st.sampled_from(paths))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()):
        parent[path[-1]] = draw(json_values)
        return family, json.dumps(doc, ensure_ascii=draw(st.booleans())).encode()
    parent[path[-1]] = "@@ODD@@"
    text = json.dumps(doc).replace('"@@ODD@@"', draw(st.sampled_from(ODD_LITERALS)), 1)
    return family, text.encode()


@st.composite
def byte_mutants(draw):
    """A real fixture record with bytes flipped, inserted, deleted, repeated or cut."""
    family = draw(families)
    data = bytearray(draw(st.sampled_from(SEEDS[family])))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "repeat", "cut", "non_utf8", "run"]))
        pos = draw(st.integers(0, len(data)))
        if op == "flip" and data:
            i = min(pos, len(data) - 1)
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 40))]
        elif op == "repeat":
            data[pos:pos] = data[pos:pos + draw(st.integers(1, 40))] * draw(st.integers(2, 50))
        elif op == "cut":
            del data[pos:]
        elif op == "non_utf8":
            data[pos:pos] = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80"]))
        else:
            data[pos:pos] = draw(st.sampled_from([b"a", b"=", b" ", b"[", b"{", b":"])) * 50_000
    return family, bytes(data)


# --- properties -------------------------------------------------------------------------------


@given(family=families, value=st.binary(max_size=300))
def test_any_bytes_give_an_event_or_a_parse_error(family, value):
    both(family, value)


@given(family=families, value=st.text(max_size=300))
def test_any_text_gives_an_event_or_a_parse_error(family, value):
    both(family, value.encode("utf-8"))


@given(byte_mutants())
def test_mutated_fixtures_give_an_event_or_a_parse_error(case):
    both(*case)


@given(json_mutants())
def test_fixtures_with_values_of_other_json_types_give_an_event_or_a_parse_error(case):
    both(*case)


@given(family=json_families, doc=json_values)
def test_generated_json_gives_an_event_or_a_parse_error(family, doc):
    both(family, json.dumps(doc).encode())


@given(family=st.sampled_from(["cloudtrail", "k8s-audit", "app"]), doc=st.dictionaries(
    st.sampled_from(KEYS), json_values, min_size=3, max_size=12))
def test_generated_objects_of_the_family_keys_give_an_event_or_a_parse_error(family, doc):
    base = json.loads(SEEDS[family][0])
    both(family, json.dumps({**base, **doc}).encode())


@given(syslog=st.sampled_from(SEEDS["syslog"]), extra=st.text(min_size=1, max_size=5000))
def test_syslog_lines_with_any_message_give_an_event_or_a_parse_error(syslog, extra):
    both("syslog", syslog + extra.encode("utf-8"))


def test_the_seed_corpora_all_parse():
    """The fixtures themselves: a known outcome each, so the strategies start from real records."""
    results = {f: [outcome(f, v) for v in SEEDS[f]] for f in FAMILIES}
    assert all(results[f].count("event") >= 3 for f in FAMILIES), results
    for f in FAMILIES:
        for v in SEEDS[f]:
            end_to_end(f, v)
