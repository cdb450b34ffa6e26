import json

import pytest
from parse_support import fixture_events, parse_one, record

from udfs.parse import ParseError, parse
from udfs.validate import should_filter


@pytest.fixture(scope="module")
def events():
    return fixture_events("debezium")


def test_update_with_schema_envelope(events):
    e = events[0]
    assert (e["class_uid"], e["activity_id"], e["status_id"]) == (3004, 3, 1)
    assert e["time"] == 1732797600123  # source.ts_ms, the commit time
    assert e["resources"][0] == {"uid": '{"id":7}', "name": "customers", "type": "row",
                                 "namespace": "app.public", "owner": None}
    assert json.loads(e["unmapped"]["before"])["email"] == "old@example.com"
    assert json.loads(e["unmapped"]["after"])["email"] == "new@example.com"
    assert e["unmapped"]["source.txId"] == "781" and e["unmapped"]["transaction.id"] == "781:24023400"
    assert e["metadata"]["uid"] == "appdb:24023400"
    assert e["metadata"]["product"] == {"name": "Debezium", "vendor_name": "Debezium",
                                        "version": "2.7.3.Final"}
    assert e["api"]["operation"] == "u"
    assert e["metadata"]["log_name"] == "audit.raw.debezium"


def test_mysql_create_position(events):
    e = events[1]
    assert e["type_uid"] == 300401
    assert e["metadata"]["uid"] == "shopdb:mysql-bin.000003:154:0"
    assert e["resources"][0]["namespace"] == "shop"
    assert "before" not in e["unmapped"]


def test_truncate_and_snapshot_read(events):
    assert (events[2]["activity_id"], events[2]["resources"][0]["type"]) == (4, "table")
    assert events[2]["resources"][0]["uid"] is None
    assert events[3]["activity_id"] == 2 and events[3]["unmapped"]["source.snapshot"] == "true"


def test_schema_change_is_kept(events):
    e = events[4]
    assert (e["class_uid"], e["activity_id"]) == (3004, 3)
    assert e["unmapped"]["ddl"] == "ALTER TABLE orders DROP COLUMN audit_user"
    assert should_filter(e) is None


def test_key_header_gives_the_primary_key():
    value = json.dumps({"before": None, "after": {"sku": "A1"}, "op": "c",
                        "source": {"ts_ms": 1732797600000, "table": "t", "db": "d", "name": "n", "lsn": 1}})
    e = parse_one("debezium", value, headers={"key": '{"schema":{},"payload":{"sku":"A1"}}'})
    assert e["resources"][0]["uid"] == '{"sku":"A1"}'


def test_tenant_column_when_key_has_none(events):
    value = json.dumps({"before": None, "after": {"id": 1, "tenant_id": "globex"}, "op": "c",
                        "source": {"ts_ms": 1732797600000, "table": "t"}})
    assert parse_one("debezium", value, tenant=None)["tenant_id"] == "globex"


def test_tombstone_and_heartbeat_are_counted_as_filtered():
    tomb = parse_one("debezium", b"", tenant="acme")
    assert should_filter(tomb) == "rule:debezium.tombstone"
    beat = parse_one("debezium", '{"ts_ms": 1732797600000}', topic="__debezium-heartbeat.appdb")
    assert should_filter(beat) == "rule:debezium.heartbeat"


def test_ingestion_fixtures_parse_too():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "fixtures" / "raw" / "debezium" / "changes.jsonl"
    for i, line in enumerate(path.read_bytes().splitlines()):
        parse_one("debezium", line, offset=i, ts=1736668800000)


@pytest.mark.parametrize(
    ("value", "error_class"),
    [
        ('{"before":null,"after":{"id":1},"op":"x","source":{"ts_ms":1732797600000}}', "debezium.bad_op"),
        ('{"before":null,"after":{"id":1},"op":"c","source":{}}', "debezium.missing_field"),
        ('{"payload": {"op": "c"', "json.invalid"),
    ],
)
def test_rejects(value, error_class):
    with pytest.raises(ParseError) as err:
        parse(record("debezium", value))
    assert err.value.error_class == error_class
