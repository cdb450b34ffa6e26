"""Parsing: one raw Kafka record of any source family -> one canonical event dict.

    from udfs.parse import RawRecord, ParseError, parse

    event = parse(RawRecord(source="syslog", value=b"<38>Nov 28 12:09:01 web1 sshd[42]: ...",
                            tenant_id="acme", topic="audit.raw.acme.syslog", partition=0, offset=7,
                            timestamp_ms=1732795741000, headers={}))

`parse` returns a dict that validates against schemas/audit_event.avsc (`enrichment`, `chain`
and the job-specific lineage fields left None for the job to fill), or raises `ParseError`
(`.error_class`, `.stage`, message) for the dead letter queue. It validates too (see
udfs/validate.py): oversize values before parsing, tenant and time range after it. It never
filters; `udfs.validate.should_filter(event, policy)` decides that separately.

Nothing else escapes: any other exception of a parser becomes ParseError (`json.too_deep` for
a RecursionError, `json.number` for an OverflowError, `<source>.unexpected` for the rest), and
`validate.check_event` ends with a type check of the whole event (`validate.schema`). When
`raw_data` is kept, a `message` longer than `limits.max_message_bytes` is cut (`cut_message`):
the raw payload is stored once (schemas/README.md "message and raw_data").

One module per family (the families and their modules: udfs/sources.py); the OCSF
mapping of each is documented in schemas/README.md "Source families".
"""

from __future__ import annotations

from collections.abc import Callable

from udfs import validate
from udfs.parse import app, auditd, cloudtrail, debezium, k8s_audit, syslog
from udfs.record import ParseError, RawRecord
from udfs.sources import FAMILIES, SOURCE_SYSTEMS

__all__ = ["PARSERS", "SOURCE_SYSTEMS", "TRUNCATED", "ParseError", "RawRecord", "cut_message", "parse"]

# the parser modules by file name, which udfs/sources.py names per family (`Family.parser`)
_MODULES = {m.__name__.rpartition(".")[2]: m for m in (app, auditd, cloudtrail, debezium, k8s_audit, syslog)}

# RawRecord.source -> family parser (record -> event dict, without validation).
PARSERS: dict[str, Callable[[RawRecord], dict]] = {f.name: _MODULES[f.parser].parse for f in FAMILIES}


def parse(record: RawRecord, *, limits: validate.Limits = validate.DEFAULT_LIMITS,
          keep_raw: bool = True) -> dict:
    """One canonical event for `record`, or ParseError.

    `keep_raw=False` leaves `raw_data` None (schemas/README.md: kept only when the deployment's
    policy says so; when kept, the masking step masks it like every other text field).
    """
    parser = PARSERS.get(record.source)
    if parser is None:
        raise ParseError(
            "source.unknown",
            f"unknown source family {record.source!r} (topic {record.topic}); expected one of"
            f" {', '.join(sorted(PARSERS))}",
            stage="decode",
            tenant_id=record.tenant_id,
        )
    validate.check_raw(record, limits)
    try:
        event = parser(record)
    except ParseError as e:
        if e.tenant_id is None:
            e.tenant_id = record.tenant_id
        raise
    except RecursionError:
        raise ParseError(
            "json.too_deep",
            f"{record.source}: input nested too deeply to parse at {_where(record)}; audit events"
            " nest a few levels, so this is not one",
            tenant_id=record.tenant_id,
        ) from None
    except OverflowError as e:
        raise ParseError(
            "json.number",
            f"{record.source}: a number out of range ({e}) at {_where(record)}",
            tenant_id=record.tenant_id,
        ) from None
    except Exception as e:  # noqa: BLE001 - the contract: an event or a ParseError, nothing else
        # A parser bug or an input shape nobody foresaw: dead-letter it, never crash the job.
        raise ParseError(
            f"{record.source}.unexpected",
            f"{record.source}: unexpected input shape ({type(e).__name__}: {str(e)[:200]}) at"
            f" {_where(record)}; please report with the raw record",
            tenant_id=record.tenant_id,
        ) from e
    validate.check_event(event, record, limits)
    if not keep_raw:
        event["raw_data"] = None
    elif event.get("raw_data") is not None:
        event["message"] = cut_message(event.get("message"), limits.max_message_bytes)
    return event


TRUNCATED = " …[truncated; full text in raw_data]"
_TRUNCATED_BYTES = len(TRUNCATED.encode("utf-8"))


def cut_message(message: str | None, max_bytes: int) -> str | None:
    """`message` unchanged when it fits in `max_bytes` UTF-8 bytes, else its first characters
    and TRUNCATED, together at most `max_bytes` bytes (schemas/README.md "message and
    raw_data": an event never stores the raw payload twice)."""
    if message is None or len(message) * 4 <= max_bytes:
        return message
    data = message.encode("utf-8")
    if len(data) <= max_bytes:
        return message
    head = data[:max(0, max_bytes - _TRUNCATED_BYTES)].decode("utf-8", "ignore")
    return head + TRUNCATED


def _where(record: RawRecord) -> str:
    return f"{record.topic}/{record.partition}@{record.offset}"
