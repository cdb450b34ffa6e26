"""Debezium change events (JSON converter, with or without the schema envelope) -> events.

One Kafka record holds one change event: `{"schema": ..., "payload": {...}}` or the bare
payload `{"before", "after", "source", "op", "ts_ms", "transaction"}`.

Mapping (schemas/README.md): Entity Management 3004, `op` `c` 1 Create, `r` (snapshot read)
2 Read, `u` 3 Update, `d` 4 Delete, `t` (truncate) 4 Delete on the whole table; status Success.
`time` is `source.ts_ms` (commit time), falling back to the envelope's `ts_ms`. The row is
`resources[0]`: name `source.table`, type `row` (`table` for truncate), namespace
`<db>.<schema>` (or `<db>`), uid the primary key as compact JSON, taken from the record header
`key` (the Kafka key, when the ingest adapter forwards it) or else the row's `id` column.
`before` / `after` are kept as compact JSON in `unmapped` (masked later), with the transaction
id (`source.txId`, MySQL `source.gtid`, or `transaction.id`), LSN / binlog position.

Tenant: the Kafka key of a CDC topic is the row key, so the tenant comes from the ingest
adapter (RawRecord.tenant_id) or, failing that, a `tenant_id` / `tenant` column of the row.

Not audit activity, but counted: an empty value (tombstone after a delete) -> rule
`debezium.tombstone`; a heartbeat (`{"ts_ms": ...}` only, or a `__debezium-heartbeat` topic)
-> `debezium.heartbeat`; both filtered by the default policy. A schema change event (`ddl`) is
kept: Entity Management 3004 / 3 Update on the table, the DDL in `unmapped['ddl']`.
"""

from __future__ import annotations

import json

from udfs.parse import base

OPS = {"c": 1, "r": 2, "u": 3, "d": 4, "t": 4}
OP_NAMES = {"c": "create", "r": "read", "u": "update", "d": "delete", "t": "truncate"}
SOURCE_CONSUMED = {"version", "connector", "name", "ts_ms", "db", "schema", "table", "txId", "lsn",
                   "gtid", "file", "pos", "row"}


def parse(record: base.RawRecord) -> dict:
    if not record.value.strip():
        return _marker(record, "debezium.tombstone", None)
    doc = base.require_object(base.load_json(record, "debezium"), "debezium")
    payload = doc["payload"] if "payload" in doc and "schema" in doc else doc
    if payload is None:
        return _marker(record, "debezium.tombstone", None)
    payload = base.require_object(payload, "debezium payload")
    if "__debezium-heartbeat" in record.topic or set(payload) <= {"ts_ms"}:
        return _marker(record, "debezium.heartbeat", payload.get("ts_ms"))

    source = payload.get("source") or {}
    if not isinstance(source, dict):
        source = {}
    ts = source.get("ts_ms") or payload.get("ts_ms")
    if ts is None:
        raise base.ParseError(
            "debezium.missing_field",
            "debezium: change event has neither source.ts_ms nor ts_ms; expected a Debezium envelope"
            " (before/after/source/op/ts_ms)",
        )
    db, schema_name, table = (base.text(source.get(k)) for k in ("db", "schema", "table"))
    namespace = ".".join(x for x in (db, schema_name) if x) or None
    unmapped: dict[str, str] = {}
    base.leftovers(source, SOURCE_CONSUMED, unmapped, "source.")
    for key in ("txId", "lsn", "gtid", "file", "pos", "row", "connector", "name"):
        base.put(unmapped, f"source.{key}", source.get(key))
    transaction = payload.get("transaction")
    if isinstance(transaction, dict):
        base.put(unmapped, "transaction.id", transaction.get("id"))
        base.put(unmapped, "transaction.total_order", transaction.get("total_order"))
    base.leftovers(payload, {"before", "after", "source", "op", "ts_ms", "transaction", "ddl",
                        "tableChanges", "databaseName", "schemaName"}, unmapped)

    if "ddl" in payload and "op" not in payload:
        base.put(unmapped, "ddl", payload.get("ddl"))
        base.put(unmapped, "tableChanges", payload.get("tableChanges"))
        db = db or payload.get("databaseName")
        return _event(record, source, ts, 3, "debezium.schema_change", "ddl",
                      [base.resource(name=table, type_="table", namespace=namespace or db)], unmapped, None)

    op = payload.get("op")
    if op not in OPS:
        raise base.ParseError(
            "debezium.bad_op",
            f"debezium: unknown op {op!r} for table {table!r}; expected one of c, r, u, d, t",
        )
    before, after = payload.get("before"), payload.get("after")
    if before is not None:
        unmapped["before"] = base.compact_json(before)
    if after is not None:
        unmapped["after"] = base.compact_json(after)
    row = after if isinstance(after, dict) else before if isinstance(before, dict) else {}
    if not isinstance(op, str):
        op = None
    if op == "t":
        resources = [base.resource(name=table, type_="table", namespace=namespace)]
    else:
        resources = [base.resource(uid=_row_key(record, row), name=table, type_="row", namespace=namespace)]
    tenant = row.get("tenant_id") or row.get("tenant")
    rule = f"debezium.{OP_NAMES[op]}"
    return _event(record, source, ts, OPS[op], rule, op, resources, unmapped, tenant)


def _row_key(record: base.RawRecord, row: dict) -> str | None:
    key = record.headers.get("key")
    if key:
        try:
            parsed = json.loads(key)
        except ValueError:
            return key
        if isinstance(parsed, dict) and "payload" in parsed and "schema" in parsed:
            parsed = parsed["payload"]
        return base.compact_json(parsed)
    if "id" in row:
        return base.compact_json({"id": row["id"]})
    return None


def _event(record, source, ts, activity, rule, operation, resources, unmapped, tenant) -> dict:
    connector = source.get("name")
    position = source.get("lsn") or source.get("gtid")
    if position is None and source.get("file") is not None:
        position = f"{source['file']}:{source.get('pos')}:{source.get('row', 0)}"
    uid = f"{connector}:{position}" if connector and position is not None else None
    return base.build_event(
        record,
        class_uid=base.ENTITY_MANAGEMENT,
        activity_id=activity,
        time_ms=_ms(ts),
        product="Debezium",
        vendor="Debezium",
        product_version=source.get("version"),
        rule=rule,
        status_id=base.STATUS_SUCCESS,
        uid=uid,
        log_name=record.topic,
        original_time=base.text(ts),
        api=base.api(operation),
        resources=resources,
        unmapped=unmapped,
        raw_data=base.raw_text(record),
        payload_tenant=tenant,
    )


def _ms(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        message = f"debezium: ts_ms {base.snippet(base.text(value) or '', 60)} is not epoch milliseconds"
        raise base.ParseError("debezium.bad_time", message) from None


def _marker(record: base.RawRecord, rule: str, ts) -> dict:
    """Tombstones and heartbeats: events only so the filter can count them."""
    return base.build_event(
        record,
        class_uid=base.BASE_EVENT,
        activity_id=base.ACTIVITY_OTHER,
        time_ms=_ms(ts) if ts is not None else record.timestamp_ms,
        product="Debezium",
        vendor="Debezium",
        rule=rule,
        log_name=record.topic,
        raw_data=None,
    )
