"""Detection rules as files: headers, fixtures, alert suppression and the comparison of alerts.

Pure Python, no Flink: `auditflow rules` and jobs/detect.py wire this into Flink, the unit tests
call it directly. The rule file format and the input/output contract are in
sql/detections/README.md.

A rule's SQL yields *matches* (one row per detection: entity, window, count, evidence). The
`Suppressor` turns matches into alerts: the first match of a (rule, dedup key) raises an alert at
once; further matches until the rule's dedup window has passed (event time) are folded into one
*rollup* alert, emitted when the watermark passes the end of the window, that carries the total
count. A storm of 10,000 matches therefore gives two alerts, not 10,000.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

SEVERITIES = {"informational": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
HEADER_KEYS = ("id", "title", "description", "severity", "mitre", "compliance", "dedup_window",
               "dedup_key", "owner", "input")
REQUIRED_KEYS = ("id", "title", "description", "severity", "mitre", "compliance", "dedup_window", "owner")
LIST_KEYS = ("mitre", "compliance", "dedup_key")
# Columns every rule must produce (sql/detections/README.md "Output contract").
OUTPUT_COLUMNS = ("tenant_id", "entity_type", "entity_value", "window_start", "window_end",
                  "event_count", "evidence", "first_seen", "last_seen")
OPTIONAL_OUTPUT_COLUMNS = ("severity",)
DEFAULT_DEDUP_KEY = ("tenant_id", "entity_value")
ALERT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://auditflow/alert")
RE_FILE = re.compile(r"^(?P<id>[A-Z][A-Z0-9]*-\d{3})_(?P<slug>[a-z0-9_]+)\.sql$")
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
                owner=head["owner"], input=head.get("input") or None, sql=body)


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", re.sub(r"'(?:[^']|'')*'", "''", sql))


def discover(directory: Path) -> list[Rule]:
    """Every rule under `directory`, sorted by id; duplicate ids are an error."""
    rules = [load_rule(p) for p in sorted(directory.glob("*.sql"))]
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


# ------------------------------------------------------------------------------- fixtures
# Flat fixture field -> path in the canonical event (schemas/audit_event.avsc). The same names as
# the `events` view's columns, so an analyst writes fixtures in the names the rules use.
FIELD_PATHS: dict[str, tuple[str, ...]] = {
    "event_id": ("event_id",), "tenant_id": ("tenant_id",), "event_time": ("time",),
    "class_uid": ("class_uid",), "activity_id": ("activity_id",), "severity_id": ("severity_id",),
    "status_id": ("status_id",), "status_detail": ("status_detail",), "message": ("message",),
    "product_name": ("metadata", "product", "name"), "log_name": ("metadata", "log_name"),
    "source_system": ("lineage", "source_system"),
    "user_uid": ("actor", "user", "uid"), "user_name": ("actor", "user", "name"),
    "user_type": ("actor", "user", "type"), "user_groups": ("actor", "user", "groups"),
    "session_uid": ("actor", "session", "uid"), "session_issuer": ("actor", "session", "issuer"),
    "is_mfa": ("actor", "session", "is_mfa"),
    "src_ip": ("src_endpoint", "ip"), "src_hostname": ("src_endpoint", "hostname"),
    "dst_hostname": ("dst_endpoint", "hostname"),
    "api_operation": ("api", "operation"), "api_service": ("api", "service", "name"),
    "http_url": ("http_request", "url"), "user_agent": ("http_request", "user_agent"),
    "cloud_provider": ("cloud", "provider"), "cloud_region": ("cloud", "region"),
    "cloud_account": ("cloud", "account", "uid"),
    "geo_country": ("enrichment", "geo", "country"), "geo_city": ("enrichment", "geo", "city"),
    "geo_lat": ("enrichment", "geo", "lat"), "geo_lon": ("enrichment", "geo", "lon"),
    "geo_is_private": ("enrichment", "geo", "is_private"),
    "user_department": ("enrichment", "user", "department"), "user_title": ("enrichment", "user", "title"),
    "user_privileged": ("enrichment", "user", "privileged"), "user_known": ("enrichment", "user", "known"),
    "lateness_ms": ("lineage", "lateness_ms"), "unmapped": ("unmapped",),
    "chain_id": ("chain", "chain_id"), "chain_seq": ("chain", "sequence"),
    "event_hash": ("chain", "event_hash"),
}
RESOURCE_FIELDS = ("uid", "name", "type", "namespace")  # resource_*, resource2_* -> resources[0], [1]


@dataclass
class Case:
    name: str
    tenant_id: str
    events: list[dict[str, Any]]
    expected: list[dict[str, Any]]
    reference: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    description: str = ""


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


def _expand(items: list[dict], what: str) -> list[dict]:
    """`repeat: N` with `{i}` (0-based) in strings and `every: 10s` spacing of event_time."""
    out: list[dict] = []
    for item in items or []:
        if not isinstance(item, dict):
            raise RuleError(f"{what}: expected a mapping per event, got {item!r}")
        n = int(item.get("repeat", 1))
        step = parse_duration(str(item["every"])) if "every" in item else 0
        base = {k: v for k, v in item.items() if k not in ("repeat", "every")}
        for i in range(n):
            ev = {k: (v.replace("{i}", str(i)) if isinstance(v, str) else v) for k, v in base.items()}
            if step and "event_time" in ev:
                ev["event_time"] = parse_time(ev["event_time"], what) + i * step
            out.append(ev)
    return out


def load_fixtures(rule: Rule) -> list[Case]:
    path = rule.fixtures_path()
    if not path.exists():
        raise RuleError(f"{path}:1: missing; every rule needs fixtures with a positive and a negative case")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise RuleError(f"{path}: invalid YAML: {exc}") from None
    cases = []
    for i, raw in enumerate(doc.get("cases") or []):
        name = str(raw.get("name") or f"case{i + 1}")
        what = f"{path} case {name!r}"
        events = _expand(raw.get("events") or [], what)
        tenant = f"{rule.id}/{name}"
        for n, ev in enumerate(events, 1):
            unknown = set(ev) - set(FIELD_PATHS) - {f"resource_{f}" for f in RESOURCE_FIELDS} \
                - {f"resource2_{f}" for f in RESOURCE_FIELDS} - {"id"}
            if unknown:
                raise RuleError(f"{what} event {n}: unknown field(s) {', '.join(sorted(unknown))}")
            if "event_time" not in ev:
                raise RuleError(f"{what} event {n}: event_time is required")
            ev["event_time"] = parse_time(ev["event_time"], what)
            ev.setdefault("event_id", ev.pop("id", None) or f"{name}-{n}")
            ev["tenant_id"] = tenant
        expected = []
        for alert in raw.get("expect") or []:
            a = dict(alert)
            for key in ("window_start", "window_end", "first_seen", "last_seen"):
                if key in a:
                    a[key] = parse_time(a[key], what)
            expected.append(a)
        reference = {t: [dict(r, tenant_id=tenant) if "tenant_id" not in r else dict(r) for r in rows]
                     for t, rows in (raw.get("reference") or {}).items()}
        cases.append(Case(name=name, tenant_id=tenant, events=events, expected=expected,
                          reference=reference, description=str(raw.get("description") or "")))
    if not any(c.expected for c in cases) or not any(not c.expected for c in cases):
        raise RuleError(f"{path}:1: needs at least one positive case (with expect:) and one negative case"
                        " (no alerts expected)")
    return cases


def canonical_event(flat: dict[str, Any], sequence: int) -> dict[str, Any]:
    """A fixture event as the nested canonical event normalize writes, with defaults filled."""
    ev: dict[str, Any] = {
        "class_uid": 0, "activity_id": 0, "severity_id": 1,
        "metadata": {"product": {"name": "fixture"}, "log_name": None},
        "chain": {"chain_id": flat["tenant_id"], "sequence": sequence,
                  "event_hash": hashlib.sha256(flat["event_id"].encode()).hexdigest()},
    }
    resources: list[dict] = [{}, {}]
    for key, value in flat.items():
        if key.startswith(("resource_", "resource2_")):
            idx = 1 if key.startswith("resource2_") else 0
            resources[idx][key.split("_", 1)[1]] = value
            continue
        node = ev
        path = FIELD_PATHS[key]
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    ev["category_uid"] = ev["class_uid"] // 1000
    ev["type_uid"] = ev["class_uid"] * 100 + ev["activity_id"]
    if resources[0] or resources[1]:
        ev["resources"] = [r for r in resources if r]
    return ev


# ------------------------------------------------------------------------------- alerts
def alert_id(rule_id: str, dedup_key: str, window_start: int, kind: str = "alert") -> str:
    name = f"{rule_id}|{dedup_key}|{window_start}" + ("" if kind == "alert" else f"|{kind}")
    return str(uuid.uuid5(ALERT_NAMESPACE, name))


def dedup_key(meta: dict[str, Any], match: dict[str, Any]) -> str:
    return "|".join([meta["id"], *(str(match.get(c)) for c in meta["dedup_key"])])


def make_alert(meta: dict[str, Any], match: dict[str, Any], created_at: int, kind: str = "alert",
               max_evidence: int = 100) -> dict[str, Any]:
    """An Alert record (schemas/alert.avsc) from a match; severity from the match or the header."""
    severity = (match.get("severity") or meta["severity"]).lower()
    if severity not in SEVERITIES:
        severity = meta["severity"]
    key = dedup_key(meta, match)
    evidence = sorted(match["evidence"], key=lambda e: (e["chain_id"], e["sequence"]))[:max_evidence]
    return {
        "alert_id": alert_id(meta["id"], key, match["window_start"], kind),
        "rule_id": meta["id"], "title": meta["title"], "severity": severity,
        "severity_id": SEVERITIES[severity], "tenant_id": match["tenant_id"],
        "entity_type": match["entity_type"], "entity_value": match["entity_value"],
        "window_start": match["window_start"], "window_end": match["window_end"],
        "event_count": int(match["event_count"]), "evidence": evidence,
        "first_seen": match["first_seen"], "last_seen": match["last_seen"],
        "mitre": list(meta["mitre"]) or None, "compliance": list(meta["compliance"]) or None,
        "dedup_key": key, "created_at": created_at,
    }


@dataclass
class Suppression:
    """Per (rule, dedup key): the open dedup period and what it folded in since its first alert."""

    period_end: int
    first: dict[str, Any]
    folded: dict[str, Any] | None = None  # running merge of suppressed matches, or None


def _merge(a: dict[str, Any], b: dict[str, Any], max_evidence: int) -> dict[str, Any]:
    seen = {e["event_id"] for e in a["evidence"]}
    evidence = a["evidence"] + [e for e in b["evidence"] if e["event_id"] not in seen]
    sev = max((a.get("severity") or ""), (b.get("severity") or ""), key=lambda s: SEVERITIES.get(s, 0))
    return {**a, "window_start": min(a["window_start"], b["window_start"]),
            "window_end": max(a["window_end"], b["window_end"]),
            "event_count": a["event_count"] + b["event_count"], "evidence": evidence[:max_evidence],
            "first_seen": min(a["first_seen"], b["first_seen"]),
            "last_seen": max(a["last_seen"], b["last_seen"]),
            "severity": sev or None}


class Suppressor:
    """Dedup/suppression of one rule's matches per dedup key (event time); see the module doc.

    `admit` takes one match and returns alerts to emit now; `expire(watermark)` returns the rollups
    of periods the watermark has closed. `state` maps dedup key -> Suppression (the Flink job keeps
    one key's entry in keyed state; tests keep the whole dict)."""

    def __init__(self, meta: dict[str, Any], max_evidence: int = 100):
        self.meta = meta
        self.max_evidence = max_evidence
        self.state: dict[str, Suppression] = {}

    def admit(self, match: dict[str, Any], now_ms: int) -> list[dict[str, Any]]:
        key = dedup_key(self.meta, match)
        out: list[dict[str, Any]] = []
        current = self.state.get(key)
        if current is not None and match["first_seen"] >= current.period_end:
            out += self._close(key, now_ms)
            current = None
        if current is None:
            end = match["window_start"] + self.meta["dedup_window_ms"]
            self.state[key] = Suppression(period_end=max(end, match["window_end"]), first=match)
            return out + [make_alert(self.meta, match, now_ms, max_evidence=self.max_evidence)]
        current.folded = match if current.folded is None else _merge(current.folded, match, self.max_evidence)
        return out

    def expire(self, watermark_ms: int, now_ms: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for key in [k for k, s in self.state.items() if s.period_end <= watermark_ms]:
            out += self._close(key, now_ms)
        return out

    def _close(self, key: str, now_ms: int) -> list[dict[str, Any]]:
        s = self.state.pop(key)
        if s.folded is None:
            return []
        total = _merge(s.first, s.folded, self.max_evidence)
        total["window_end"] = max(total["window_end"], s.period_end)
        return [make_alert(self.meta, total, now_ms, kind="rollup", max_evidence=self.max_evidence)]


def suppress(meta: dict[str, Any], matches: list[dict[str, Any]], max_evidence: int = 100
             ) -> list[dict[str, Any]]:
    """All alerts of a bounded list of matches, as the job emits them, ending with a final flush.

    Matches are taken in event-time order (window end, then first seen), which is the order the
    watermark releases them in the job."""
    sup = Suppressor(meta, max_evidence)
    out: list[dict[str, Any]] = []
    for m in sorted(matches, key=lambda m: (m["window_end"], m["first_seen"], str(m["entity_value"]))):
        out += sup.expire(m["window_end"] - 1, 0)
        out += sup.admit(m, 0)
    return out + sup.expire(2**62, 0)


# ------------------------------------------------------------------------------- comparison
def _view(alert: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    out = {}
    for f in fields:
        v = alert.get(f)
        if f == "evidence":
            v = [e["event_id"] if isinstance(e, dict) else e for e in v or []]
        elif f in ("window_start", "window_end", "first_seen", "last_seen"):
            v = iso(v) if isinstance(v, int) else v
        out[f] = v
    return out


def compare(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> tuple[bool, list[str]]:
    """Match each expected alert (only the fields it names) to one actual alert.

    Returns (ok, lines): lines list the missing expected alerts (`- expected`) and the unexpected
    actual ones (`+ actual`), and for a near miss the fields that differ."""
    remaining = list(actual)
    lines: list[str] = []
    ok = True
    for exp in expected:
        fields = list(exp)
        want = _view(exp, fields)
        hit = next((a for a in remaining if _view(a, fields) == want), None)
        if hit is not None:
            remaining.remove(hit)
            continue
        ok = False
        lines.append(f"- expected {json.dumps(want, sort_keys=True, default=str)}")
        near = next((a for a in remaining if a.get("entity_value") == exp.get("entity_value")), None)
        if near is not None:
            got = _view(near, fields)
            for f in fields:
                if got[f] != want[f]:
                    lines.append(f"    {f}: expected {want[f]!r}, got {got[f]!r}")
    for a in remaining:
        ok = False
        shown = _view(a, ["entity_type", "entity_value", "event_count", "severity", "window_start",
                          "window_end", "evidence"])
        lines.append(f"+ unexpected {json.dumps(shown, sort_keys=True, default=str)}")
    return ok, lines


def as_match(row: dict[str, Any]) -> dict[str, Any]:
    """Normalise a match row (timestamps to millis, evidence to dicts) without mutating it."""
    m = copy.deepcopy(row)
    for key in ("window_start", "window_end", "first_seen", "last_seen"):
        v = m[key]
        if isinstance(v, datetime):
            aware = v.replace(tzinfo=UTC) if v.tzinfo is None else v
            m[key] = int(aware.timestamp() * 1000)
    m["evidence"] = [e if isinstance(e, dict) else
                     {"event_id": e[0], "chain_id": e[1], "sequence": int(e[2]), "event_hash": e[3]}
                     for e in m["evidence"] or []]
    m["event_count"] = int(m["event_count"])
    return m
