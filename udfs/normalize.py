"""The normalize pipeline as plain functions; jobs/normalize.py only wires them into Flink.

Per raw record, `Normalizer.prepare` (stateless, any parallel instance) returns one of
  ("event", tenant, event)       parsed, validated, masked, geo-enriched
  ("dlq", tenant, dead_letter)   rejected, with the error and the raw bytes
  ("filtered", tenant, note)     dropped on purpose by the filter policy, with the rule
and, keyed by tenant, `Normalizer.finish` adds the user profile valid at the event's time,
lineage (job, version, lateness) and the SHA-256 chain link. `encode` turns each into the bytes
its topic holds: Confluent-framed Avro for events and dead letters, JSON for filter notes.
Nothing here raises on bad input: every record ends in exactly one of the three topics.

The settings come from the job (jobs/normalize.py `job_settings`): the registered schemas and
their ids, and the policies from the configuration.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from typing import Any

from udfs import chain, mask, users, validate, wire
from udfs.geo import GeoIP
from udfs.parse import ParseError, RawRecord, parse
from udfs.sources import raw_source, source_system, topic_tenant

JOB_NAME = "auditflow-normalize"
JOB_VERSION = "0.1.0"
NAME_KEY = "name:"
DEFAULT_MAX_RECORD_BYTES = 2 << 20  # kafka.max_record_bytes
RECORD_HEADROOM = 64 << 10  # broadcast-state key prefix: user name -> that user's directory record


def directory_entries(key: bytes | None, value: bytes | None) -> dict[str, str | None]:
    """State entries for one audit.users record: uid -> record, and each name -> record,
    so events that carry only a user name are enriched too. A tombstone removes the uid."""
    if key is None:
        return {}
    uid = bytes(key).decode()
    if value is None:
        return {uid: None}
    text = bytes(value).decode()
    entries: dict[str, str | None] = {uid: text}
    try:
        for version in users.decode_record(text):
            if version.name:
                entries[NAME_KEY + version.name] = text
    except users.UserDirectoryError:
        pass
    return entries


def raw_record(*, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
               timestamp_ms: int, headers: dict[str, bytes] | None) -> RawRecord:
    """A RawRecord from Kafka coordinates. The tenant is the one the topic is bound to
    (`audit.raw.<tenant>.<source>`, which only that tenant's principal may write: udfs/sources.py),
    None on a topic bound to none; neither the key nor a header can choose it (`tenant_claim`)."""
    text = {k: bytes(v).decode("utf-8", "replace") for k, v in (headers or {}).items()}
    return RawRecord(
        source=raw_source(topic), value=bytes(value or b""), tenant_id=topic_tenant(topic), topic=topic,
        partition=partition, offset=offset, timestamp_ms=timestamp_ms, headers=text,
    )


def tenant_refusal(record: RawRecord) -> ParseError | None:
    """Why a record cannot be trusted to belong to its tenant, None when it can. Its tenant is
    its topic's (`raw_record`); a record on a topic bound to no tenant (e.g. the old shared
    `audit.raw.<source>`) is `tenant.unbound_topic`, and one whose `tenant` header names another
    tenant than its topic is `tenant.mismatch`: a producer claiming someone else's tenant is
    recorded for an auditor to see, not silently relabelled. The key is not a claim (Kafka
    Connect sources keep their own, e.g. Debezium's row key)."""
    if record.tenant_id is None:
        return ParseError("tenant.unbound_topic", f"topic {record.topic!r} is bound to no tenant: "
                           "raw input goes to audit.raw.<tenant>.<source> (`auditflow tenants add`)",
                           stage="decode", tenant_id=None)
    claim = record.headers.get("tenant")
    if claim is not None and claim != record.tenant_id:
        return ParseError("tenant.mismatch", f"the record's tenant header says {claim[:64]!r} but its "
                           f"topic {record.topic!r} is tenant {record.tenant_id!r}'s",
                           stage="decode", tenant_id=record.tenant_id)
    return None


class Normalizer:
    """Holds the policies and open resources (geo database) of one worker.

    `settings["schemas"]` holds the Avro schemas (parsed JSON) that `settings["schema_ids"]`
    were registered for, both under "event" and "dlq"; the other sections are config tables."""

    def __init__(self, settings: dict[str, Any]):
        self.settings = settings
        norm = settings.get("normalize", {})
        self.keep_raw = bool(norm.get("keep_raw", True))
        self.limits = validate.Limits.from_config(settings.get("limits"))
        self.filters = validate.FilterPolicy.from_config(settings.get("filter"))
        self.mask_policy = mask.MaskPolicy.from_dict(settings.get("mask"))
        self.geo = GeoIP(norm.get("geo_city_db") or None, norm.get("geo_asn_db") or None)
        self.job_version = settings.get("job_version", JOB_VERSION)
        # the largest event the Kafka sinks may write, with room for the key and the batch framing
        limit = int(settings.get("max_record_bytes", DEFAULT_MAX_RECORD_BYTES))
        self.max_event_bytes = limit - RECORD_HEADROOM
        ids = settings["schema_ids"]
        self._encoders = {"event": wire.Encoder(ids["event"], settings["schemas"]["event"]),
                          "dlq": wire.Encoder(ids["dlq"], settings["schemas"]["dlq"])}

    # -- stateless half ---------------------------------------------------------------------
    def prepare(self, record: RawRecord) -> tuple[str, str, dict]:
        if (refused := tenant_refusal(record)) is not None:
            return "dlq", record.tenant_id or "", self.dead_letter(record, refused)
        try:
            event = parse(record, limits=self.limits, keep_raw=self.keep_raw)
        except ParseError as err:
            return "dlq", err.tenant_id or record.tenant_id or "", self.dead_letter(record, err)
        except Exception as err:  # noqa: BLE001 - a bug must dead-letter, never stop the job
            return "dlq", record.tenant_id or "", self.dead_letter(record, err)
        try:
            reason = validate.should_filter(event, self.filters)
        except Exception as err:  # noqa: BLE001
            return "dlq", event["tenant_id"], self.dead_letter(record, err, stage="validate")
        if reason:
            return "filtered", event["tenant_id"], self.filter_note(record, event, reason)
        try:
            event, _found = mask.mask_event(event, self.mask_policy)
            ip = (event.get("src_endpoint") or {}).get("ip")
            geo = self.geo.lookup(ip) if ip else None
            if geo is not None:
                event["enrichment"] = {**(event.get("enrichment") or {}), "geo": geo}
        except Exception as err:  # noqa: BLE001
            return "dlq", event["tenant_id"], self.dead_letter(record, err, stage="enrich")
        return "event", event["tenant_id"], event

    def dead_letter(self, record: RawRecord, err: Exception, stage: str | None = None) -> dict:
        if isinstance(err, ParseError):
            error_class, message, stage = err.error_class, err.message, stage or err.stage
        else:
            error_class = f"internal.{type(err).__name__}"
            message = f"{err}; {traceback.format_exc(limit=3).strip()[-800:]}"
            stage = stage or "parse"
        return {
            "source": source_system(record.source),
            "raw": record.value, "error_class": error_class, "error_message": message,
            "stage": stage, "raw_topic": record.topic, "raw_partition": record.partition,
            "raw_offset": record.offset,
            "tenant_id": getattr(err, "tenant_id", None) or record.tenant_id,
            "time": record.timestamp_ms, "job_name": JOB_NAME, "job_version": self.job_version,
        }

    @staticmethod
    def filter_note(record: RawRecord, event: dict, reason: str) -> dict:
        return {
            "source": source_system(record.source), "tenant_id": event["tenant_id"],
            "reason": reason, "event_id": event["event_id"], "raw_topic": record.topic,
            "raw_partition": record.partition, "raw_offset": record.offset, "time": event["time"],
        }

    # -- keyed half -------------------------------------------------------------------------
    def finish(self, event: dict, *, user_versions: Callable[[str], str | None],
               chain_state: dict | None, watermark_ms: int | None,
               flink_job_id: str | None = None, chain_id: str | None = None) -> tuple[dict, dict]:
        """User profile, lineage and chain link. Returns the event and the new chain state.
        `chain_id` defaults to the event's shard (`chain.chain_id_of`); the tenant for chains
        per tenant."""
        user = (event.get("actor") or {}).get("user") or {}
        if user.get("uid") or user.get("name"):
            record = (user_versions(user.get("uid") or "")
                      or user_versions(NAME_KEY + (user.get("name") or "")))
            try:
                profile = users.profile_from_record(record, event["time"])
            except users.UserDirectoryError:  # a malformed directory record must not lose the event
                profile = users.unknown_profile()
            event["enrichment"] = {**(event.get("enrichment") or {}), "user": profile}
        lineage = event.setdefault("lineage", {})
        lateness = (watermark_ms - event["time"]) if watermark_ms and watermark_ms > 0 else 0
        lineage.update(job_name=JOB_NAME, job_version=self.job_version,
                       flink_job_id=flink_job_id, lateness_ms=max(0, lateness))
        prev = chain.ChainState(**chain_state) if chain_state else None
        linked = chain.link(event, prev, chain_id)
        state = chain.ChainState.of(linked)
        return linked, {"chain_id": state.chain_id, "sequence": state.sequence,
                        "event_hash": state.event_hash}

    def finish_encoded(self, event: dict, **finish_args: Any) -> tuple[str, bytes, dict | None]:
        """`finish` and `encode` for the keyed half, which must never raise because of one event:
        Flink would restart from the checkpoint, meet the same event and stall every tenant.
        Returns ("event", bytes, new chain state), or ("dlq", bytes, None) for an event that
        cannot be linked or encoded (a value the schema rejects) or is over the Kafka record
        limit; the chain is then not advanced, so it stays gap-free."""
        try:
            linked, state = self.finish(event, **finish_args)
            value = self.encode("event", linked)
        except Exception as err:  # noqa: BLE001 - one bad event must dead-letter, never stop the job
            return "dlq", self.encode("dlq", self.event_dead_letter(event, err)), None
        if len(value) > self.max_event_bytes:
            err = ParseError(
                "normalize.oversize", f"the event is {len(value)} bytes encoded, over the"
                f" {self.max_event_bytes}-byte limit (kafka.max_record_bytes less"
                f" {RECORD_HEADROOM} for framing); lower limits.max_bytes or raise kafka.max_record_bytes",
                stage="serialize")
            return "dlq", self.encode("dlq", self.event_dead_letter(linked, err)), None
        return "event", value, state

    def event_dead_letter(self, event: dict, err: Exception) -> dict:
        """A dead letter for an event that failed after `prepare`, where the raw bytes are no
        longer at hand: it keeps the event's raw coordinates (so `auditflow reconcile` counts it
        and the original can be re-read from the raw topic) and the masked event as JSON."""
        lineage = event.get("lineage") or {}
        record = RawRecord(
            source=raw_source(lineage.get("raw_topic") or ""),
            value=json.dumps(event, sort_keys=True, default=repr).encode()[: self.max_event_bytes // 2],
            tenant_id=event.get("tenant_id"), topic=lineage.get("raw_topic") or "",
            partition=lineage.get("raw_partition", -1), offset=lineage.get("raw_offset", -1),
            timestamp_ms=lineage.get("ingest_time") or event.get("time") or 0, headers={},
        )
        stage = getattr(err, "stage", None) or "serialize"
        return self.dead_letter(record, err, stage=stage)

    def encode(self, kind: str, payload: dict) -> bytes:
        encoder = self._encoders.get(kind)
        if encoder is not None:
            return encoder(payload)
        return json.dumps(payload, sort_keys=True).encode()
