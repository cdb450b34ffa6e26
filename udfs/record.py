"""The raw record and the parse error: what the parsers (udfs.parse), validation (udfs.validate)
and the normalize pipeline (udfs.normalize) hand each other.

Its own module, outside the udfs.parse package, so that udfs.validate can use these without
importing udfs.parse (which imports udfs.validate to run the checks).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Key in `unmapped` naming the parser pattern that produced the event (e.g. 'sshd.accepted',
# 'syslog.generic'); filter policies (udfs/validate.py) and analysts select on it.
RULE_KEY = "auditflow.parser"


@dataclass(frozen=True)
class RawRecord:
    """One Kafka record of a raw topic (`audit.raw.<tenant>.<source>`), as the normalize job read it."""

    source: str  # 'syslog' | 'cloudtrail' | 'k8s-audit' | 'auditd' | 'app' | 'debezium'
    value: bytes  # the Kafka record value exactly as ingested
    tenant_id: str | None  # the raw topic's tenant (udfs.sources.topic_tenant); None: bound to none
    topic: str
    partition: int
    offset: int
    timestamp_ms: int  # Kafka record timestamp: lineage.ingest_time and 'now' for year inference
    headers: dict[str, str] = field(default_factory=dict)  # e.g. file, line, tz


class ParseError(ValueError):
    """A raw record that cannot become an event; the job dead-letters it with these fields.

    `error_class` is a short stable code ('syslog.unframed', 'json.invalid',
    'validate.no_tenant', ...) to count and alert on; `str(error)` says what failed, with which
    input, and what to do. `stage` is the DeadLetter stage ('decode', 'parse' or 'validate');
    `tenant_id` is set when the tenant was known before the failure.
    """

    def __init__(self, error_class: str, message: str, *, stage: str = "parse",
                 tenant_id: str | None = None):
        super().__init__(message)
        self.error_class = error_class
        self.message = message
        self.stage = stage
        self.tenant_id = tenant_id

    def __reduce__(self):  # picklable across Flink's Python workers
        return (_rebuild_error, (self.error_class, self.message, self.stage, self.tenant_id))


def _rebuild_error(error_class: str, message: str, stage: str, tenant_id: str | None) -> ParseError:
    return ParseError(error_class, message, stage=stage, tenant_id=tenant_id)
