"""A detection rule file: `<ID>_<slug>.sql`, a header of `-- key: value` lines, one SELECT.

Parsing and checking the file, discovering a folder of rules and selecting among them, and the
SQL every rule is wrapped in: its matches in the one shape all rules share (their union feeds
the dedup operator) and the events that came too late for it. Durations and times are written
here as rule headers and fixtures write them. The format is in sql/detections/README.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SEVERITIES = {"informational": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
# Rules imported from Sigma (udfs/detect/sigma) also carry the Sigma rule's metadata and source.
SIGMA_KEYS = ("sigma_id", "sigma_author", "sigma_references", "sigma_level", "sigma_status",
              "sigma_tags", "sigma_source")
HEADER_KEYS = ("id", "title", "description", "severity", "mitre", "compliance", "dedup_window",
               "dedup_key", "owner", "input", *SIGMA_KEYS)
REQUIRED_KEYS = ("id", "title", "description", "severity", "mitre", "compliance", "dedup_window", "owner")
LIST_KEYS = ("mitre", "compliance", "dedup_key")
# Columns every rule must produce (sql/detections/README.md "Output contract").
OUTPUT_COLUMNS = ("tenant_id", "entity_type", "entity_value", "window_start", "window_end",
                  "event_count", "evidence", "first_seen", "last_seen")
OPTIONAL_OUTPUT_COLUMNS = ("severity",)
DEFAULT_DEDUP_KEY = ("tenant_id", "entity_value")
# The columns of a wrapped rule's rows (wrapped_select), in order.
MATCH_COLUMNS = ("rule_id", "severity", "tenant_id", "entity_type", "entity_value", "window_start",
                 "window_end", "event_count", "evidence", "first_seen", "last_seen")
EVIDENCE_TYPE = "ARRAY<ROW<event_id STRING, chain_id STRING, `sequence` BIGINT, event_hash STRING>>"
# AUTH-001; imported Sigma rules: SIGMA- and the first 12 hex digits of the Sigma id (8 collide)
RE_FILE = re.compile(r"^(?P<id>[A-Z][A-Z0-9]*-(?:\d{3}|[0-9A-F]{12}))_(?P<slug>[a-z0-9_]+)\.sql$")
# subfolders of the rules folder holding imported rules (`auditflow rules import-sigma` writes sigma/;
# sigma/correlations/ holds this project's own Sigma correlation rules and their import)
IMPORTED_DIRS = ("sigma", "sigma/correlations")
RE_HEADER = re.compile(r"^--\s*(?P<key>[a-z_]+):\s*(?P<value>.*?)\s*$")
RE_CONTINUATION = re.compile(r"^--\s{2,}(?P<value>\S.*?)\s*$")
RE_DURATION = re.compile(r"^(?P<n>\d+)\s*(?P<unit>ms|s|m|h|d)$")
UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


class RuleError(ValueError):
    """A rule or fixture file that cannot be used; the message starts with file:line."""


@dataclass(frozen=True)
class Rule:
    id: str
    slug: str
    path: Path
    title: str
    description: str
    severity: str
    mitre: tuple[str, ...]
    compliance: tuple[str, ...]
    dedup_window_ms: int
    dedup_key: tuple[str, ...]
    owner: str
    input: str | None
    sql: str
    sigma_id: str | None = None  # set for a rule imported from Sigma

    @property
    def severity_id(self) -> int:
        return SEVERITIES[self.severity]

    @property
    def view_name(self) -> str:
        return "rule_" + self.id.lower().replace("-", "_")

    def fixtures_path(self) -> Path:
        return self.path.with_name(self.path.stem + ".fixtures.yaml")

    def meta(self) -> dict[str, Any]:
        """What the alert needs from the header; picklable for Flink workers."""
        return {"id": self.id, "title": self.title, "severity": self.severity,
                "mitre": list(self.mitre), "compliance": list(self.compliance),
                "dedup_window_ms": self.dedup_window_ms, "dedup_key": list(self.dedup_key)}


def parse_duration(text: str) -> int:
    """'90s', '5m', '1h', '1d', '250ms' -> milliseconds."""
    m = RE_DURATION.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a duration; write e.g. 30s, 5m, 1h or 1d")
    return int(m["n"]) * UNIT_MS[m["unit"]]


def parse_time(value: Any, what: str) -> int:
    """ISO 8601 text (Z or offset; none = UTC) or epoch millis -> epoch millis."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise RuleError(f"{what}: {value!r} is not an ISO 8601 time, e.g. 2025-01-12T06:30:00Z") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_header(text: str, path: Path | str = "<rule>") -> dict[str, str]:
    """The leading `-- key: value` comment lines; `--   text` (2+ spaces) continues a value."""
    out: dict[str, str] = {}
    last = None
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.startswith("--"):
            break
        cont = RE_CONTINUATION.match(line)
        m = RE_HEADER.match(line)
        if cont and last:
            out[last] += " " + cont["value"]
            continue
        if not m:
            break
        key = m["key"]
        if key not in HEADER_KEYS:
            raise RuleError(f"{path}:{lineno}: unknown header key {key!r};"
                            f" known keys: {', '.join(HEADER_KEYS)}")
        if key in out:
            raise RuleError(f"{path}:{lineno}: header key {key!r} given twice")
        out[key] = m["value"]
        last = key
    return out


def load_rule(path: Path) -> Rule:
    m = RE_FILE.match(path.name)
    if not m:
        raise RuleError(f"{path}:1: file name must be <ID>_<slug>.sql, e.g. AUTH-001_brute_force.sql")
    text = path.read_text()
    head = parse_header(text, path)
    missing = [k for k in REQUIRED_KEYS if not head.get(k)]
    if missing:
        raise RuleError(f"{path}:1: header lacks {', '.join(missing)} (see sql/detections/README.md)")
    if head["id"] != m["id"]:
        raise RuleError(f"{path}:1: header id {head['id']!r} differs from the file name's {m['id']!r}")
    severity = head["severity"].lower()
    if severity not in SEVERITIES:
        raise RuleError(f"{path}:1: severity {head['severity']!r} is not one of {', '.join(SEVERITIES)}")
    try:
        dedup_ms = parse_duration(head["dedup_window"])
    except ValueError as exc:
        raise RuleError(f"{path}:1: dedup_window: {exc}") from None
    lists = {k: tuple(x.strip() for x in head.get(k, "").split(",") if x.strip()) for k in LIST_KEYS}
    key = lists["dedup_key"] or DEFAULT_DEDUP_KEY
    bad = [k for k in key if k not in OUTPUT_COLUMNS + OPTIONAL_OUTPUT_COLUMNS]
    if bad:
        raise RuleError(f"{path}:1: dedup_key column(s) {', '.join(bad)} are not output columns")
    body = text.rstrip().rstrip(";").rstrip()
    if ";" in _strip_comments(body):
        raise RuleError(f"{path}:1: a rule is one SELECT statement; remove the ';' inside it")
    return Rule(id=head["id"], slug=m["slug"], path=path, title=head["title"],
                description=head["description"], severity=severity, mitre=lists["mitre"],
                compliance=lists["compliance"], dedup_window_ms=dedup_ms, dedup_key=key,
                owner=head["owner"], input=head.get("input") or None, sql=body,
                sigma_id=head.get("sigma_id") or None)


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", re.sub(r"'(?:[^']|'')*'", "''", sql))


def discover(directory: Path) -> list[Rule]:
    """Every rule in `directory` and its imported-rule folders (sigma/), sorted by id; duplicate
    ids are an error."""
    files = sorted(directory.glob("*.sql"))
    for sub in IMPORTED_DIRS:
        files += sorted((directory / sub).glob("*.sql"))
    rules = sorted((load_rule(p) for p in files), key=lambda r: r.id)
    seen: dict[str, Path] = {}
    for r in rules:
        if r.id in seen:
            raise RuleError(f"{r.path}:1: rule id {r.id} is also used by {seen[r.id]}")
        seen[r.id] = r.path
    return rules


def select(rules: list[Rule], wanted: list[str] | tuple[str, ...], disabled: list[str] | tuple[str, ...] = ()
           ) -> list[Rule]:
    """Rules by id, file stem or '*'; unknown names are an error naming the known ids."""
    by_name = {r.id: r for r in rules} | {r.path.stem: r for r in rules}
    if not wanted or "*" in wanted:
        chosen = list(rules)
    else:
        unknown = [w for w in wanted if w not in by_name]
        if unknown:
            raise RuleError(f"unknown rule(s) {', '.join(unknown)}; known: {', '.join(r.id for r in rules)}")
        chosen = list({by_name[w].id: by_name[w] for w in wanted}.values())
    off = {by_name[d].id if d in by_name else d for d in disabled}
    return [r for r in chosen if r.id not in off]


def sql_error_location(rule: Rule, message: str) -> str:
    """'<file>:<line>: <message>' for a Flink error about the rule's SQL (lines as in the file)."""
    m = re.search(r"line (\d+), column (\d+)", message)
    line = m.group(1) if m else "1"
    first = next((ln for ln in message.splitlines() if ln.strip()), message).strip()
    for exc in ("ValidationException", "SqlParserException"):
        first = first.replace(f"org.apache.flink.table.api.{exc}: ", "")
    return f"{rule.path}:{line}: {first}"


# ------------------------------------------------------------------------------- SQL
def check_output(rule: Rule, columns: list[str]) -> None:
    """The rule's view (with these columns) against the output contract."""
    missing = [c for c in OUTPUT_COLUMNS if c not in columns]
    if missing:
        raise RuleError(f"{rule.path}:1: output lacks column(s) {', '.join(missing)}; a rule must"
                        f" select {', '.join(OUTPUT_COLUMNS)} (sql/detections/README.md)")


def wrapped_select(rule: Rule, columns: list[str]) -> str:
    """The rule's rows in the one shape every rule shares (the union needs identical types)."""
    severity = "CAST(severity AS STRING)" if "severity" in columns else "CAST(NULL AS STRING)"
    return (
        f"SELECT CAST('{rule.id}' AS STRING) AS rule_id, {severity} AS severity,"
        " CAST(tenant_id AS STRING) AS tenant_id, CAST(entity_type AS STRING) AS entity_type,"
        " CAST(entity_value AS STRING) AS entity_value,"
        " CAST(window_start AS TIMESTAMP(3)) AS window_start, CAST(window_end AS TIMESTAMP(3)) AS window_end,"
        " CAST(event_count AS BIGINT) AS event_count,"
        f" CAST(evidence AS {EVIDENCE_TYPE}) AS evidence,"
        " CAST(first_seen AS TIMESTAMP(3)) AS first_seen, CAST(last_seen AS TIMESTAMP(3)) AS last_seen"
        f" FROM `{rule.view_name}`"
    )


def late_select(rule: Rule) -> str:
    """Events behind the watermark within the rule's declared input: the ones its windows,
    patterns and temporal joins no longer take. Counted per rule, never dropped silently.
    Only for rules with `input:`; stateless filter rules take late events like any other."""
    scope = rule.input or "TRUE"
    return (
        f"SELECT CAST('{rule.id}' AS STRING) AS rule_id, tenant_id, event_id, event_time,"
        " CURRENT_WATERMARK(event_time) AS watermark_time, lateness_ms FROM events"
        f" WHERE event_time <= CURRENT_WATERMARK(event_time) AND ({scope})"
    )
