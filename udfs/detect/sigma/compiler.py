"""Sigma rules -> this project's rule files (sql/detections/README.md "The rule file").

`where_clause(rule)` is the one entry point that turns a Sigma rule's detection into SQL; the
rule file (`render_rule`) and the correlation compiler build on it. Every failure is a
`Unsupported` with a reason a person can act on; nothing is written for that rule.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.modifiers import SigmaBase64Modifier, SigmaBase64OffsetModifier
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import SigmaCasedString, SigmaExpansion, SigmaString

from udfs.detect.sigma.backend import FlinkSQLBackend
from udfs.detect.sigma.pipelines import Logsource, logsource_for

# ATT&CK tactic names (Sigma tags attack.<tactic>) -> ids, for rules tagged with no technique
TACTICS = {
    "reconnaissance": "TA0043", "resource-development": "TA0042", "initial-access": "TA0001",
    "execution": "TA0002", "persistence": "TA0003", "privilege-escalation": "TA0004",
    "defense-evasion": "TA0005", "credential-access": "TA0006",
    "discovery": "TA0007", "lateral-movement": "TA0008", "collection": "TA0009",
    "command-and-control": "TA0011", "exfiltration": "TA0010", "impact": "TA0040",
}
RE_TECHNIQUE = re.compile(r"^t\d{4}(\.\d{3})?$")
# Every imported rule is a detection of anomalous activity: SOC 2 CC7.2 (system monitoring).
# Analysts add the frameworks a rule evidences after review.
DEFAULT_COMPLIANCE = "SOC2-CC7.2"
DEFAULT_DEDUP_WINDOW = "15m"
OWNER = "sigma-import"


class Unsupported(Exception):
    """A Sigma rule that cannot be compiled faithfully; str() is the reason."""


@dataclass
class Compiled:
    rule: SigmaRule
    logsource: Logsource
    where: str  # scope AND (detection), over `events`
    detection: str  # the detection alone
    rule_id: str = ""
    added_mappings: list[str] = field(default_factory=list)


def rule_id(rule: SigmaRule) -> str:
    """A stable id: SIGMA- and the first 12 hex digits of the Sigma id (SigmaHQ has rules
    that share the first 8)."""
    if rule.id is None:
        raise Unsupported("the rule has no id (Sigma `id:`), needed for a stable rule id")
    return "SIGMA-" + str(rule.id).replace("-", "")[:12].upper()


def _items(detection: SigmaDetection):
    for item in detection.detection_items:
        if isinstance(item, SigmaDetection):
            yield from _items(item)
        else:
            yield item


def _check_auditd(rule: SigmaRule) -> None:
    """aN of a SYSCALL record are syscall arguments; the parser keeps only EXECVE's (as aN)."""
    for name, detection in rule.detection.detections.items():
        for sub in [detection, *[d for d in detection.detection_items if isinstance(d, SigmaDetection)]]:
            items = [i for i in sub.detection_items if isinstance(i, SigmaDetectionItem)]
            fields = {i.field for i in items}
            is_syscall = any(i.field == "type" and any(str(v).upper() == "SYSCALL" for v in i.value)
                             for i in items)
            args = sorted(f for f in fields if f and re.fullmatch(r"a\d", f))
            if is_syscall and args:
                raise Unsupported(f"{name}: {', '.join(args)} of a SYSCALL record (syscall arguments)"
                                  " are not kept by the auditd parser; only EXECVE arguments are")


def _cased_encodings(rule: SigmaRule) -> None:
    """Base64 text is case-sensitive: `|base64` / `|base64offset` values must match exactly
    (lowering both sides would also match other encodings)."""
    def cased(value):
        if isinstance(value, SigmaExpansion):
            value.values = [cased(v) for v in value.values]
            return value
        if isinstance(value, SigmaString) and not isinstance(value, SigmaCasedString):
            return SigmaCasedString.from_sigma_string(value)
        return value

    for detection in rule.detection.detections.values():
        for item in _items(detection):
            if any(m in (SigmaBase64Modifier, SigmaBase64OffsetModifier) for m in item.modifiers):
                item.value = [cased(v) for v in item.value]


def where_clause(rule: SigmaRule) -> Compiled:
    """Compile one Sigma rule's detection into a Flink SQL WHERE expression over `events`.

    `compiled.where` is `<logsource scope> AND (<detection>)`, usable as is in
    `SELECT ... FROM events WHERE <where>` (the correlation compiler does exactly that for each
    referenced rule). Raises Unsupported naming the reason (unknown logsource, a field with no
    column, a modifier without a Flink form). The rule object is consumed: pySigma's pipeline
    rewrites its field names, so load it afresh to compile it again.
    """
    source = logsource_for(rule)
    if source is None:
        ls = rule.logsource
        raise Unsupported(f"logsource product={ls.product} service={ls.service} category={ls.category}"
                          " has no pipeline (udfs/detect/sigma/pipelines.py LOGSOURCES)")
    if source.product == "linux" and source.service == "auditd":
        _check_auditd(rule)
    _cased_encodings(rule)
    fields = {i.field for d in rule.detection.detections.values() for i in _items(d) if i.field}
    backend = FlinkSQLBackend(processing_pipeline=source.pipeline())
    try:
        queries = backend.convert_rule(rule)
        if not queries and not rule._output:
            # a rule only referenced by a correlation: pySigma returns nothing, keeps the queries
            queries = rule.get_conversion_result()
    except SigmaError as exc:
        raise Unsupported(_reason(exc)) from None
    except NotImplementedError as exc:
        raise Unsupported(f"no Flink SQL form: {exc}") from None
    if not queries:
        raise Unsupported("the rule's condition compiled to nothing")
    detection = " OR ".join(f"({q})" for q in queries) if len(queries) > 1 else queries[0]
    return Compiled(rule=rule, logsource=source, where=f"{source.scope}\n  AND ({detection})",
                    detection=detection, rule_id=rule_id(rule),
                    added_mappings=sorted(fields & source.added))


def _reason(exc: SigmaError) -> str:
    text = str(exc).split(" (while ")[0]
    return re.sub(r"\s+", " ", text).strip()


# ------------------------------------------------------------------------------- rule files
def slug(path: Path | str | None, rule: SigmaRule) -> str:
    base = Path(path).stem if path else (rule.title or "rule")
    return re.sub(r"[^a-z0-9]+", "_", base.lower()).strip("_")[:60] or "rule"


def mitre(rule: SigmaRule) -> list[str]:
    techniques = [t.name.upper() for t in rule.tags if t.namespace == "attack" and RE_TECHNIQUE.match(t.name)]
    if techniques:
        return techniques
    # a tactic without a known id (ATT&CK v18's stealth, defense-impairment) keeps its name
    tactics = [TACTICS.get(t.name, t.name) for t in rule.tags if t.namespace == "attack"]
    return tactics or ["none"]


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text or "").strip()


def _header_value(key: str, value: str, width: int = 100) -> list[str]:
    first = f"-- {key}: "
    lines = textwrap.wrap(value, width=width - len(first), break_long_words=False, break_on_hyphens=False)
    if not lines:
        return []
    return [first + lines[0]] + [f"--   {ln}" for ln in lines[1:]]


def render_rule(compiled: Compiled, sigma_path: Path | str | None, source_note: str) -> str:
    """The rule file's text: header (Sigma metadata carried over, attribution kept) and SELECT."""
    rule = compiled.rule
    src = compiled.logsource
    level = rule.level.name.lower() if rule.level else "medium"
    header: list[tuple[str, str]] = [
        ("id", compiled.rule_id),
        ("title", _one_line(rule.title)),
        ("description", _one_line(rule.description) or _one_line(rule.title)),
        ("severity", level),
        ("mitre", ", ".join(mitre(rule))),
        ("compliance", DEFAULT_COMPLIANCE),
        ("dedup_window", DEFAULT_DEDUP_WINDOW),
        ("owner", OWNER),
        ("sigma_id", str(rule.id)),
        ("sigma_author", _one_line(rule.author or "")),
        ("sigma_references", ", ".join(rule.references or [])),
        ("sigma_level", level),
        ("sigma_status", rule.status.name.lower() if rule.status else ""),
        ("sigma_tags", ", ".join(str(t) for t in rule.tags)),
        ("sigma_source", source_note),
    ]
    lines = [ln for key, value in header for ln in _header_value(key, value)]
    ls = rule.logsource
    logsource = ", ".join(f"{k}: {v}" for k, v in (("product", ls.product), ("service", ls.service),
                                                      ("category", ls.category)) if v)
    condition = " | ".join(_one_line(c) for c in rule.detection.condition)
    body = f"""SELECT
    tenant_id,
    '{src.entity_type}' AS entity_type,
    {src.entity_value} AS entity_value,
    event_time AS window_start,
    event_time + INTERVAL '0.001' SECOND AS window_end,
    CAST(1 AS BIGINT) AS event_count,
    ARRAY[ROW(event_id, chain_id, chain_seq, event_hash)] AS evidence,
    event_time AS first_seen,
    event_time AS last_seen
FROM events
-- compiled by `auditflow rules import-sigma` (udfs/detect/sigma): change the Sigma rule and re-import
-- Sigma logsource {logsource}; condition: {condition}
WHERE {compiled.where}
"""
    return "\n".join(lines) + "\n" + body


RE_UNMAPPED = re.compile(r"unmapped\['([^']+)'\]")
RE_WORD = re.compile(r"\b[a-z][a-z0-9_]*\b")


def read_columns(where: str) -> list[str]:
    """The view columns and unmapped keys an expression reads (for the fixture skeleton)."""
    from udfs.detect.fixtures import FIELD_PATHS, RESOURCE_FIELDS

    known = set(FIELD_PATHS) | {f"{r}_{f}" for r in ("resource", "resource2") for f in RESOURCE_FIELDS}
    keys = [f"unmapped.{k}" for k in RE_UNMAPPED.findall(where)]
    words = RE_WORD.findall(re.sub(r"'(?:[^']|'')*'", "''", where))
    return list(dict.fromkeys([w for w in words if w in known and w != "unmapped"] + keys))


def render_fixture_skeleton(compiled: Compiled) -> str:
    rid = compiled.rule_id
    columns = ", ".join(read_columns(compiled.where))
    return f"""# Fixtures for {rid}, imported from Sigma (sql/detections/sigma/README.md).
# Until `cases` holds a positive and a negative case the rule is PENDING: `auditflow rules test`
# lists it without running it and jobs/detect.py does not deploy it. Write events in the columns of
# the `events` view (sql/detections/README.md "Fixtures"), from the shape of a real record.
# This rule reads: {columns}
cases: []
#  - name: matching_event
#    events:
#      - {{id: hit, event_time: "2025-01-12T06:40:00Z", ...}}
#    expect:
#      - {{event_count: 1, evidence: [hit]}}
#  - name: similar_but_benign
#    events:
#      - {{event_time: "2025-01-12T06:41:00Z", ...}}
#    expect: []
"""


def sigma_files(paths: list[Path]) -> list[Path]:
    """The .yml/.yaml files among the paths (folders are searched recursively), sorted."""
    files: list[Path] = []
    for p in paths:
        files += sorted(f for f in p.rglob("*") if f.suffix in (".yml", ".yaml")) if p.is_dir() else [p]
    return files


def load(path: Path) -> tuple[list[SigmaRule], str | None]:
    """The Sigma rules of one file, or the one-line reason it is not a valid Sigma file."""
    try:
        # references are resolved across all files by the import (correlations name rules of
        # other files)
        collection = SigmaCollection.from_yaml(path.read_text(), collect_errors=True,
                                               source=SigmaRuleLocation(path), resolve_references=False)
    except (SigmaError, yaml.YAMLError, UnicodeDecodeError) as exc:
        return [], "not valid Sigma YAML: " + _one_line(str(exc))
    errors = [e for r in collection.rules for e in r.errors] + list(getattr(collection, "errors", []))
    if errors:
        return [], "not a valid Sigma rule: " + _one_line(str(errors[0]))
    return list(collection.rules), None
