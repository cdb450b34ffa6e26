"""The source families: the one list of them, and what the rest of the project needs to know.

A family's `name` is its `RawRecord.source`, the suffix of its raw topic (`audit.raw.<name>`,
optionally followed by more segments: `audit.raw.syslog.eu-west`) and the `auditflow ingest`
format. Everything that lists the families derives from `FAMILIES`:

- udfs/parse: `PARSERS` (the module under udfs/parse named by `parser`), and `source_system`
  for `event_id` and `lineage.source_system`;
- udfs/normalize.py: `raw_source` (topic -> family) and `source_system` for dead letters and
  filter notes;
- connectors/ingest/framing.py: `FORMATS`, `raw_topic`, `SOURCE_SYSTEM` and the framer of
  each format (`framing`, `framing_what`);
- jobs/normalize.py (the default `--raw-topics`) and auditflow/demo.py (the standing
  pipeline's raw topics).

No imports of the project here: the parsers, the connectors and the jobs all read it.
"""

from __future__ import annotations

from dataclasses import dataclass

RAW_PREFIX = "audit.raw."


def source_system(name: str) -> str:
    """The lineage.source_system of a family; an unknown name stands for itself."""
    return SOURCE_SYSTEMS.get(name, name)


def raw_topic(name: str) -> str:
    """The raw topic of a family (the format need not be known: `audit.raw.<name>`)."""
    return RAW_PREFIX + name


def raw_source(topic: str) -> str:
    """The source family of a raw topic: the segment after `audit.raw.`; more segments may
    follow (`audit.raw.syslog.eu-west`). Any other topic name is returned as it is."""
    return topic[len(RAW_PREFIX):].split(".")[0] if topic.startswith(RAW_PREFIX) else topic


@dataclass(frozen=True, slots=True)
class Family:
    name: str           # RawRecord.source, the raw topic suffix, the ingest format
    source_system: str  # lineage.source_system and DeadLetter.source (schemas/README.md)
    parser: str         # its parser, udfs/parse/<parser>.py (`parse(record) -> event dict`)
    framing: str        # how ingest cuts input into records: line | json | cloudtrail | auditd
    framing_what: str = ""  # json framing: what one line holds, for reject messages

    @property
    def raw_topic(self) -> str:
        return raw_topic(self.name)


FAMILIES: tuple[Family, ...] = (
    Family("syslog", "syslog", "syslog", "line"),
    Family("cloudtrail", "cloudtrail", "cloudtrail", "cloudtrail"),
    Family("k8s-audit", "k8s_audit", "k8s_audit", "json", "audit.k8s.io/v1 Event JSON object"),
    Family("auditd", "auditd", "auditd", "auditd"),
    Family("app", "app_json", "app", "json", "app event JSON object"),
    Family("debezium", "debezium", "debezium", "json", "debezium event JSON object"),
)
BY_NAME: dict[str, Family] = {f.name: f for f in FAMILIES}
NAMES: tuple[str, ...] = tuple(BY_NAME)
# name -> lineage.source_system
SOURCE_SYSTEMS: dict[str, str] = {f.name: f.source_system for f in FAMILIES}
RAW_TOPICS: tuple[str, ...] = tuple(f.raw_topic for f in FAMILIES)
