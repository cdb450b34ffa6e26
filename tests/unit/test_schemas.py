"""The Avro contracts in schemas/: they parse, round-trip, are documented, and can evolve.

Pure unit tests: fastavro only, no registry, no Kafka.
"""

from __future__ import annotations

import copy
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastavro import schemaless_reader, schemaless_writer
from fastavro.schema import load_schema, parse_schema
from fastavro.validation import validate

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
README = SCHEMA_DIR / "README.md"

EXPECTED_SCHEMAS = {
    "audit_event.avsc": "io.auditflow.AuditEvent",
    "alert.avsc": "io.auditflow.Alert",
    "dead_letter.avsc": "io.auditflow.DeadLetter",
}

# Fields without a default, as dotted paths ("[]" = array items). Adding one is a breaking
# change under FULL_TRANSITIVE compatibility, so this list only changes on purpose.
EXPECTED_REQUIRED = {
    "audit_event.avsc": {
        "event_id",
        "tenant_id",
        "time",
        "class_uid",
        "category_uid",
        "activity_id",
        "type_uid",
        "severity_id",
        "metadata",
        "metadata.product",
        "metadata.product.name",
        # required only when the enclosing optional record is present
        "lineage.source_system",
        "chain.chain_id",
        "chain.sequence",
        "chain.prev_hash",
        "chain.event_hash",
    },
    "alert.avsc": {
        "alert_id",
        "rule_id",
        "title",
        "severity",
        "severity_id",
        "tenant_id",
        "entity_type",
        "entity_value",
        "window_start",
        "window_end",
        "event_count",
        "evidence",
        "evidence[].event_id",
        "evidence[].chain_id",
        "evidence[].sequence",
        "evidence[].event_hash",
        "first_seen",
        "last_seen",
        "dedup_key",
        "created_at",
    },
    "dead_letter.avsc": {
        "source",
        "raw",
        "error_class",
        "error_message",
        "time",
        "job_name",
    },
}

# The only fields whose default is not null; each is documented in its `doc`.
EXPECTED_NON_NULL_DEFAULTS = {
    "metadata.version": "1.3.0",
    "enrichment.geo.is_private": False,
    "enrichment.user.privileged": False,
    "enrichment.user.known": False,
}

T0 = datetime(2024, 11, 28, 12, 9, 1, 123000, tzinfo=UTC)
HASH_A = "a" * 64
HASH_B = "b" * 64


def raw_schema(filename: str) -> dict:
    return json.loads((SCHEMA_DIR / filename).read_text(encoding="utf-8"))


def iter_fields(schema: dict):
    """Yield (dotted_path, field, inner_type) for every field, resolving named types.

    A record reused by name (e.g. dst_endpoint: NetworkEndpoint) is yielded but not walked
    again: its fields are documented where the record is defined.
    """
    named: dict[str, dict] = {}

    def resolve(t):
        if isinstance(t, str):
            return named.get(t, t)
        return t

    def register(t):
        if isinstance(t, dict) and t.get("type") == "record":
            named[t["name"]] = t

    def walk(record: dict, prefix: str):
        register(record)
        for field in record["fields"]:
            path = prefix + field["name"]
            t = field["type"]
            inner = next(x for x in t if x != "null") if isinstance(t, list) else t
            register(inner)
            yield path, field, resolve(inner)
            if isinstance(inner, dict) and inner.get("type") == "record":
                yield from walk(inner, path + ".")
            elif isinstance(inner, dict) and inner.get("type") == "array":
                items = inner["items"]
                if isinstance(items, dict) and items.get("type") == "record":
                    yield from walk(items, path + "[].")

    yield from walk(schema, "")


def iter_records(schema: dict):
    """Yield every record definition (top level and nested)."""
    yield schema
    for _, _, inner in iter_fields(schema):
        if isinstance(inner, dict) and inner.get("type") == "array":
            inner = inner["items"]
        if isinstance(inner, dict) and inner.get("type") == "record":
            yield inner


def roundtrip(parsed: dict, record: dict) -> dict:
    buf = io.BytesIO()
    schemaless_writer(buf, parsed, record)
    buf.seek(0)
    return schemaless_reader(buf, parsed, parsed)


def full_event() -> dict:
    """An AuditEvent with every field set (a CloudTrail IAM CreateUser call)."""
    user = {
        "uid": "arn:aws:iam::123456789012:user/alice",
        "name": "alice",
        "type": "IAMUser",
        "groups": ["admins", "oncall"],
    }
    return {
        "event_id": "6f1c2a9e-4a0b-5c1d-9e2f-3a4b5c6d7e8f",
        "tenant_id": "acme",
        "time": T0,
        "class_uid": 3001,
        "category_uid": 3,
        "activity_id": 1,
        "type_uid": 300101,
        "severity_id": 1,
        "status_id": 1,
        "status_detail": "OK",
        "message": "alice created IAM user bob",
        "metadata": {
            "product": {"name": "CloudTrail", "vendor_name": "AWS", "version": "1.09"},
            "version": "1.3.0",
            "uid": "0c1a2b3c-1111-2222-3333-444455556666",
            "log_name": "cloudtrail",
            "original_time": "2024-11-28T12:09:01Z",
        },
        "actor": {
            "user": user,
            "session": {
                "uid": "ASIAEXAMPLEKEY",
                "issuer": "arn:aws:iam::123456789012:role/Admin",
                "is_mfa": True,
            },
        },
        "src_endpoint": {"ip": "203.0.113.5", "port": 52311, "hostname": "laptop.example"},
        "dst_endpoint": {"ip": "52.94.0.1", "port": 443, "hostname": "iam.amazonaws.com"},
        "api": {
            "operation": "CreateUser",
            "service": {"name": "iam.amazonaws.com"},
            "request": {"uid": "req-8d7c6b5a"},
        },
        "resources": [
            {
                "uid": "arn:aws:iam::123456789012:user/bob",
                "name": "bob",
                "type": "AWS::IAM::User",
                "namespace": "123456789012",
                "owner": user,
            }
        ],
        "http_request": {
            "http_method": "POST",
            "url": "https://iam.amazonaws.com/",
            "user_agent": "aws-cli/2.15.0",
        },
        "cloud": {"provider": "AWS", "region": "us-east-1", "account": {"uid": "123456789012"}},
        "unmapped": {"eventType": "AwsApiCall", "readOnly": "false"},
        "raw_data": '{"eventName": "CreateUser"}',
        "enrichment": {
            "geo": {
                "country": "DE",
                "city": "Berlin",
                "lat": 52.52,
                "lon": 13.405,
                "asn": 4_200_000_000,  # 32-bit ASN: does not fit a signed int
                "as_org": "Example Networks",
                "is_private": False,
            },
            "user": {
                "display_name": "Alice Example",
                "department": "Platform",
                "title": "SRE",
                "manager": "carol",
                "privileged": True,
                "known": True,
            },
        },
        "lineage": {
            "source_system": "cloudtrail",
            "raw_topic": "audit.raw.cloudtrail",
            "raw_partition": 3,
            "raw_offset": 9_876_543_210,
            "ingest_time": T0,
            "job_name": "normalize",
            "job_version": "0.1.0",
            "flink_job_id": "0123456789abcdef0123456789abcdef",
            "lateness_ms": 0,
        },
        "chain": {"chain_id": "acme", "sequence": 42, "prev_hash": HASH_A, "event_hash": HASH_B},
    }


def minimal_event() -> dict:
    """An AuditEvent with only the required fields (an sshd logon)."""
    return {
        "event_id": "evt-1",
        "tenant_id": "acme",
        "time": T0,
        "class_uid": 3002,
        "category_uid": 3,
        "activity_id": 1,
        "type_uid": 300201,
        "severity_id": 1,
        "metadata": {"product": {"name": "OpenSSH"}},
    }


def full_alert() -> dict:
    return {
        "alert_id": "alrt-1",
        "rule_id": "AUTH-001",
        "title": "SSH brute force",
        "severity": "high",
        "severity_id": 4,
        "tenant_id": "acme",
        "entity_type": "ip",
        "entity_value": "203.0.113.5",
        "window_start": T0,
        "window_end": T0,
        "event_count": 12,
        "evidence": [
            {"event_id": "evt-1", "chain_id": "acme", "sequence": 41, "event_hash": HASH_A},
            {"event_id": "evt-2", "chain_id": "acme", "sequence": 42, "event_hash": HASH_B},
        ],
        "first_seen": T0,
        "last_seen": T0,
        "mitre": ["T1110.001"],
        "compliance": ["PCI-DSS-10.2.4"],
        "dedup_key": "AUTH-001|acme|203.0.113.5",
        "created_at": T0,
        "late_ms": 900_000,
    }


def full_dead_letter() -> dict:
    return {
        "source": "syslog",
        "raw": b"<38>Nov 31 25:00:00 host sshd[1]: \xff",
        "error_class": "ParseError",
        "error_message": "time: cannot parse 'Nov 31 25:00:00' as an RFC 3164 timestamp",
        "stage": "parse",
        "raw_topic": "audit.raw.syslog",
        "raw_partition": 0,
        "raw_offset": 17,
        "tenant_id": "acme",
        "time": T0,
        "job_name": "normalize",
        "job_version": "0.1.0",
    }


def assert_fully_populated(value, path="") -> None:
    """Every key of every nested record is set (no None), so the sample covers the schema."""
    assert value is not None, f"{path} is None in the 'full' sample"
    if isinstance(value, dict):
        for key, sub in value.items():
            assert_fully_populated(sub, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        assert value, f"{path} is empty in the 'full' sample"
        for item in value:
            assert_fully_populated(item, f"{path}[]")


# --- parsing ---------------------------------------------------------------------------


def test_schema_dir_holds_exactly_the_expected_schemas():
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.avsc")) == sorted(EXPECTED_SCHEMAS)


@pytest.mark.parametrize("filename", sorted(EXPECTED_SCHEMAS))
def test_schema_loads_and_parses(filename):
    loaded = load_schema(str(SCHEMA_DIR / filename))
    assert loaded["name"] == EXPECTED_SCHEMAS[filename]
    parsed = parse_schema(raw_schema(filename))
    assert parsed["name"] == EXPECTED_SCHEMAS[filename]


# --- documentation, defaults, required fields -----------------------------------------


@pytest.mark.parametrize("filename", sorted(EXPECTED_SCHEMAS))
def test_every_record_and_field_has_a_doc(filename):
    schema = raw_schema(filename)
    undocumented = [r["name"] for r in iter_records(schema) if not r.get("doc", "").strip()]
    undocumented += [p for p, f, _ in iter_fields(schema) if not f.get("doc", "").strip()]
    assert not undocumented, f"{filename}: no doc on {undocumented}"


@pytest.mark.parametrize("filename", sorted(EXPECTED_SCHEMAS))
def test_optional_fields_are_null_first_unions_defaulting_to_null(filename):
    for path, field, _ in iter_fields(raw_schema(filename)):
        t = field["type"]
        if isinstance(t, list):
            assert t[0] == "null" and len(t) == 2, f"{path}: union must be [null, T], got {t}"
            assert "default" in field and field["default"] is None, f"{path}: default null"
        elif "default" in field:
            assert EXPECTED_NON_NULL_DEFAULTS.get(path) == field["default"], (
                f"{path}: unexpected non-null default {field['default']!r}; "
                "optional fields are [null, T] with default null"
            )
            assert "default" in field["doc"].lower(), f"{path}: document the default in its doc"


@pytest.mark.parametrize("filename", sorted(EXPECTED_SCHEMAS))
def test_required_fields_are_exactly_the_agreed_minimum(filename):
    required = {p for p, f, _ in iter_fields(raw_schema(filename)) if "default" not in f}
    assert required == EXPECTED_REQUIRED[filename]


def test_no_avro_enums_so_new_values_never_break_old_readers():
    for filename in EXPECTED_SCHEMAS:
        text = (SCHEMA_DIR / filename).read_text(encoding="utf-8")
        assert '"enum"' not in text, f"{filename} uses an Avro enum"


@pytest.mark.parametrize(
    ("filename", "paths"),
    [
        ("audit_event.avsc", {"time", "lineage.ingest_time"}),
        ("alert.avsc", {"window_start", "window_end", "first_seen", "last_seen", "created_at"}),
        ("dead_letter.avsc", {"time"}),
    ],
)
def test_timestamps_are_long_timestamp_millis(filename, paths):
    found = {
        p
        for p, _, inner in iter_fields(raw_schema(filename))
        if isinstance(inner, dict) and inner.get("logicalType") == "timestamp-millis"
    }
    assert found == paths
    for p, _, inner in iter_fields(raw_schema(filename)):
        if p in paths:
            assert inner["type"] == "long"


def test_readme_documents_every_field():
    text = README.read_text(encoding="utf-8")
    for filename in EXPECTED_SCHEMAS:
        missing = [p for p, _, _ in iter_fields(raw_schema(filename)) if f"| `{p}` |" not in text]
        assert not missing, f"schemas/README.md has no row for {filename} fields {missing}"


# --- round trips -----------------------------------------------------------------------


def test_full_event_round_trips_unchanged():
    parsed = load_schema(str(SCHEMA_DIR / "audit_event.avsc"))
    event = full_event()
    assert_fully_populated(event)
    assert validate(event, parsed)
    # The reader returns every schema field, so equality also proves the sample sets all of
    # them (and has no stray keys, which the writer would drop).
    assert roundtrip(parsed, event) == event


def test_minimal_event_round_trips_with_defaults_filled_in():
    parsed = load_schema(str(SCHEMA_DIR / "audit_event.avsc"))
    event = minimal_event()
    assert validate(event, parsed)
    out = roundtrip(parsed, event)
    for key, value in event.items():
        if key != "metadata":
            assert out[key] == value
    assert out["metadata"]["product"] == {"name": "OpenSSH", "vendor_name": None, "version": None}
    assert out["metadata"]["version"] == "1.3.0"
    optional_top_level = set(out) - set(event)
    assert optional_top_level  # the schema has optional fields, and they all read back as null
    assert all(out[key] is None for key in optional_top_level)


def test_event_without_a_required_field_is_rejected():
    parsed = load_schema(str(SCHEMA_DIR / "audit_event.avsc"))
    for key in ("event_id", "tenant_id", "time", "type_uid", "metadata"):
        event = minimal_event()
        del event[key]
        assert not validate(event, parsed, raise_errors=False), f"accepted an event without {key}"


@pytest.mark.parametrize(
    ("filename", "record"),
    [("alert.avsc", full_alert()), ("dead_letter.avsc", full_dead_letter())],
)
def test_alert_and_dead_letter_round_trip_unchanged(filename, record):
    parsed = load_schema(str(SCHEMA_DIR / filename))
    assert_fully_populated(record)
    assert validate(record, parsed)
    assert roundtrip(parsed, record) == record


# --- OCSF id invariants ----------------------------------------------------------------


@pytest.mark.parametrize("event", [full_event(), minimal_event()], ids=["full", "minimal"])
def test_sample_events_satisfy_the_ocsf_id_invariants(event):
    assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]
    assert event["category_uid"] == event["class_uid"] // 1000


def test_type_uid_invariant_is_documented_in_the_schema():
    fields = {p: f for p, f, _ in iter_fields(raw_schema("audit_event.avsc"))}
    assert "class_uid * 100 + activity_id" in fields["type_uid"]["doc"]
    assert "class_uid * 100 + activity_id" in raw_schema("audit_event.avsc")["doc"]
    assert "class_uid / 1000" in fields["category_uid"]["doc"]


def test_readme_ocsf_id_table_satisfies_the_invariants():
    text = README.read_text(encoding="utf-8")
    section = text.split("## OCSF ids used", 1)[1].split("\n## ", 1)[0]
    row = re.compile(
        r"^\|\s*(\d+)\s*\|[^|]+\|\s*(\d+)\s*\|[^|]+\|\s*(\d+)\s*\|[^|]+\|\s*(\d+)\s*\|$"
    )
    rows = [tuple(map(int, m.groups())) for m in map(row.match, section.splitlines()) if m]
    assert len(rows) >= 20
    for class_uid, category_uid, activity_id, type_uid in rows:
        assert type_uid == class_uid * 100 + activity_id, (class_uid, activity_id, type_uid)
        assert category_uid == class_uid // 1000, (class_uid, category_uid)
    classes = {r[0] for r in rows}
    assert {1001, 1007, 3001, 3002, 3004, 6003} <= classes


# --- evolution -------------------------------------------------------------------------


@pytest.mark.parametrize("filename", sorted(EXPECTED_SCHEMAS))
def test_adding_an_optional_field_resolves_both_ways(filename):
    """The evolution rule in schemas/README.md: an added [null, T] field with default null
    lets new readers read old data and old readers read new data (FULL compatibility)."""
    v1 = raw_schema(filename)
    v2 = copy.deepcopy(v1)
    v2["fields"].append(
        {"name": "added_later", "type": ["null", "string"], "default": None, "doc": "v2 field"}
    )
    p1, p2 = parse_schema(v1), parse_schema(copy.deepcopy(v2))
    sample = {
        "audit_event.avsc": minimal_event,
        "alert.avsc": full_alert,
        "dead_letter.avsc": full_dead_letter,
    }[filename]()

    buf = io.BytesIO()
    schemaless_writer(buf, p1, sample)
    buf.seek(0)
    assert schemaless_reader(buf, p1, p2)["added_later"] is None  # new reader, old data

    buf = io.BytesIO()
    schemaless_writer(buf, p2, {**sample, "added_later": "x"})
    buf.seek(0)
    assert "added_later" not in schemaless_reader(buf, p2, p1)  # old reader, new data
