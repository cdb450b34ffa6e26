"""A rule's fixtures, `<ID>_<slug>.fixtures.yaml` beside the rule: cases of flat events (in the
names of the `events` view's columns) and the alerts each case must raise, or none.

Loading and checking the cases, each fixture event as the nested canonical event normalize
writes (and as a complete AuditEvent record, for tests and benchmarks that produce to Kafka),
and the comparison of a case's expected alerts with the actual ones, as `auditflow rules test`
prints it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from udfs.detect.rules import Rule, RuleError, iso, parse_duration, parse_time

# Flat fixture field -> path in the canonical event (schemas/audit_event.avsc). The same names as
# the `events` view's columns, so an analyst writes fixtures in the names the rules use.
FIELD_PATHS: dict[str, tuple[str, ...]] = {
    "event_id": ("event_id",), "tenant_id": ("tenant_id",), "event_time": ("time",),
    "class_uid": ("class_uid",), "activity_id": ("activity_id",), "severity_id": ("severity_id",),
    "status_id": ("status_id",), "status_detail": ("status_detail",), "message": ("message",),
    "raw_data": ("raw_data",),
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
    if rule.sigma_id and not doc.get("cases"):
        return []  # an imported rule whose fixtures are still the skeleton: pending (is_pending)
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


def is_pending(rule: Rule) -> bool:
    """An imported (Sigma) rule whose fixtures hold no case yet: `rules test` lists it as
    PENDING without running it, and the detect job does not deploy it (untested SQL on real
    traffic). A hand-written rule is never pending: it needs its cases (load_fixtures)."""
    return bool(rule.sigma_id) and not load_fixtures(rule)


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


def avro_event(flat: dict[str, Any], sequence: int) -> dict[str, Any]:
    """A flat fixture-style event as a complete AuditEvent record (tests and benchmarks)."""
    ev = canonical_event(flat, sequence)
    ev["chain"]["prev_hash"] = "0" * 64
    if "lineage" in ev:
        ev["lineage"].setdefault("source_system", "app_json")
    if "actor" in ev:
        ev["actor"].setdefault("user", None)
        ev["actor"].setdefault("session", None)
    ev.setdefault("metadata", {})["version"] = "1.3.0"
    ev["metadata"].setdefault("log_name", None)
    if "resources" in ev:
        ev["resources"] = [{f: r.get(f) for f in RESOURCE_FIELDS} for r in ev["resources"]]
    return ev


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
