"""Avro schema evolution in words: what changed between two schemas, and why a change breaks
readers. Pure functions over parsed JSON schemas; the registry stays the authority on *whether*
a change is allowed (``auditflow schemas check``), this module says *why* in words a person can
act on, following the Avro specification's schema resolution rules.

Directions: BACKWARD = consumers on the new schema read data written with the old one (reader
new, writer old); FORWARD = consumers still on the old schema read new data; FULL = both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
# writer type -> reader types that can read it (Avro spec, "Schema Resolution")
PROMOTIONS = {
    "int": {"long", "float", "double"}, "long": {"float", "double"}, "float": {"double"},
    "string": {"bytes"}, "bytes": {"string"},
}
LEVELS = ("NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
          "FULL", "FULL_TRANSITIVE")


# ------------------------------------------------------------------ parsing
class Names:
    """Named types (records, enums, fixed) by full name, so references can be resolved."""

    def __init__(self) -> None:
        self.types: dict[str, dict] = {}

    def define(self, node: dict, namespace: str | None) -> str:
        name = node["name"]
        ns = node.get("namespace", namespace)
        full = name if "." in name or not ns else f"{ns}.{name}"
        self.types[full] = node
        return full


def _full(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def resolve(schema: Any, names: Names, namespace: str | None = None) -> Any:
    """A copy of the schema where every named-type reference is replaced by its definition
    (recursive types keep a {'$ref': fullname} marker)."""
    if isinstance(schema, str):
        if schema in PRIMITIVES:
            return {"type": schema}
        full = _full(schema, namespace)
        target = names.types.get(full) or names.types.get(schema)
        if target is None:
            raise ValueError(f"unknown type {schema!r}")
        return {"$ref": full if full in names.types else schema}
    if isinstance(schema, list):
        return [resolve(s, names, namespace) for s in schema]
    t = schema.get("type")
    if isinstance(t, (dict, list)) or (isinstance(t, str) and t not in PRIMITIVES
                                        and t not in ("record", "error", "enum", "fixed", "array", "map")):
        return resolve(t, names, namespace)
    if t in ("record", "error"):
        full = names.define(schema, namespace)
        ns = full.rpartition(".")[0] or None
        out = {**schema, "type": "record", "fullname": full}
        names.types[full] = out
        out["fields"] = [{**f, "type": resolve(f["type"], names, ns)} for f in schema.get("fields", [])]
        return out
    if t in ("enum", "fixed"):
        full = names.define(schema, namespace)
        out = {**schema, "fullname": full}
        names.types[full] = out
        return out
    if t == "array":
        return {**schema, "items": resolve(schema["items"], names, namespace)}
    if t == "map":
        return {**schema, "values": resolve(schema["values"], names, namespace)}
    return dict(schema)


def parse(schema: str | dict | list) -> tuple[Any, Names]:
    doc = json.loads(schema) if isinstance(schema, str) else schema
    names = Names()
    return resolve(doc, names), names


def _deref(node: Any, names: Names) -> Any:
    return names.types[node["$ref"]] if isinstance(node, dict) and "$ref" in node else node


def render(node: Any, names: Names | None = None) -> str:
    """A compact type description: 'int', '[null, string]', 'array<string>', 'record Actor'."""
    if isinstance(node, list):
        return "[" + ", ".join(render(n, names) for n in node) + "]"
    if "$ref" in node:
        return node["$ref"].rpartition(".")[2]
    t = node["type"]
    if t == "record":
        return f"record {node['name']}"
    if t in ("enum", "fixed"):
        return f"{t} {node['name']}"
    if t == "array":
        return f"array<{render(node['items'], names)}>"
    if t == "map":
        return f"map<{render(node['values'], names)}>"
    return f"{t} ({node['logicalType']})" if node.get("logicalType") else t


# ------------------------------------------------------------------ compatibility
@dataclass(frozen=True)
class Problem:
    kind: str          # missing_default | type_mismatch | enum_symbols | name_mismatch | fixed_size
    path: str          # dotted field path, '' for the top level
    writer: str = ""
    reader: str = ""
    detail: str = ""


def _branch_matches(w: Any, r: Any, wn: Names, rn: Names) -> bool:
    w, r = _deref(w, wn), _deref(r, rn)
    if isinstance(w, list) or isinstance(r, list):
        return False
    wt, rt = w["type"], r["type"]
    if wt in ("record", "enum", "fixed") or rt in ("record", "enum", "fixed"):
        return wt == rt and (w["name"] == r["name"] or w["name"] in r.get("aliases", []))
    return wt == rt or rt in PROMOTIONS.get(wt, set())


def reader_problems(writer: Any, reader: Any, wn: Names, rn: Names, path: str = "",
                    seen: set | None = None) -> list[Problem]:
    """Why data written with ``writer`` cannot be read with ``reader`` (empty: it can)."""
    seen = set() if seen is None else seen
    w, r = _deref(writer, wn), _deref(reader, rn)
    if isinstance(w, list):
        out: list[Problem] = []
        for branch in w:
            out += reader_problems(branch, r, wn, rn, path, seen)
        return out
    if isinstance(r, list):
        exact = [b for b in r if _branch_matches(w, b, wn, rn)
                 and _deref(b, rn)["type"] == w["type"]]
        match = exact or [b for b in r if _branch_matches(w, b, wn, rn)]
        if not match:
            return [Problem("type_mismatch", path, render(w), render(r))]
        return reader_problems(w, match[0], wn, rn, path, seen)
    wt, rt = w["type"], r["type"]
    if not _branch_matches(w, r, wn, rn):
        if wt == rt and wt in ("record", "enum", "fixed"):
            return [Problem("name_mismatch", path, w["name"], r["name"])]
        return [Problem("type_mismatch", path, render(w), render(r))]
    if wt == "record":
        key = (w.get("fullname"), r.get("fullname"))
        if key in seen:
            return []
        seen.add(key)
        wfields = {f["name"]: f for f in w["fields"]}
        out = []
        for f in r["fields"]:
            sub = f"{path}.{f['name']}" if path else f["name"]
            src = wfields.get(f["name"]) or next(
                (wfields[a] for a in f.get("aliases", []) if a in wfields), None)
            if src is None:
                if "default" not in f:
                    out.append(Problem("missing_default", sub, reader=render(f["type"])))
            else:
                out += reader_problems(src["type"], f["type"], wn, rn, sub, seen)
        return out
    if wt == "enum":
        missing = [s for s in w["symbols"] if s not in r["symbols"]]
        if missing and "default" not in r:
            return [Problem("enum_symbols", path, detail=", ".join(missing), writer=w["name"])]
    if wt == "fixed" and w["size"] != r["size"]:
        return [Problem("fixed_size", path, str(w["size"]), str(r["size"]))]
    if wt == "array":
        return reader_problems(w["items"], r["items"], wn, rn, f"{path}[]", seen)
    if wt == "map":
        return reader_problems(w["values"], r["values"], wn, rn, f"{path}{{}}", seen)
    return []


def _field(path: str) -> str:
    return f"field '{path}'" if path else "the top-level type"


def explain(problem: Problem, direction: str) -> str:
    """One sentence per problem. direction: 'backward' (reader new) or 'forward' (reader old)."""
    who = ("consumers on the new schema cannot read data written with the old one"
           if direction == "backward" else
           "consumers still on the old schema cannot read data written with the new one")
    p = problem
    if p.kind == "missing_default":
        if direction == "backward":
            return (f"{_field(p.path)} was added without a default: {who}. Give it a default "
                    "(an optional field: \"type\": [\"null\", ...], \"default\": null).")
        return (f"{_field(p.path)} was removed and has no default in the old schema: {who}. Keep the "
                "field (mark it deprecated in its doc), or give it a default in a compatible release "
                "first.")
    if p.kind == "type_mismatch":
        return (f"{_field(p.path)} changed type from {p.writer if direction == 'backward' else p.reader} "
                f"to {p.reader if direction == 'backward' else p.writer}: {who} ({p.writer} cannot be "
                f"read as {p.reader}). Add a new field with the new type and a default instead.")
    if p.kind == "enum_symbols":
        verb = "removed" if direction == "backward" else "added"
        return (f"enum {p.writer} at {_field(p.path)}: symbol(s) {p.detail} {verb} and the enum has no "
                f"default symbol: {who}. Give the enum a \"default\" symbol.")
    if p.kind == "name_mismatch":
        return (f"{_field(p.path)}: type renamed from {p.writer} to {p.reader}: {who}. Keep the name, "
                "or list the old name in \"aliases\".")
    if p.kind == "fixed_size":
        return f"{_field(p.path)}: fixed size changed from {p.writer} to {p.reader}: {who}."
    return f"{_field(p.path)}: {p.kind}: {who}."


def incompatibilities(old: str | dict, new: str | dict, level: str = "FULL") -> list[str]:
    """Reasons, in words, why ``new`` is not compatible with ``old`` under ``level``."""
    level = level.upper().removesuffix("_TRANSITIVE")
    if level not in ("NONE", "BACKWARD", "FORWARD", "FULL"):
        raise ValueError(f"unknown compatibility level {level!r}; one of {', '.join(LEVELS)}")
    (o, on), (n, nn) = parse(old), parse(new)
    out: list[str] = []
    if level in ("BACKWARD", "FULL"):
        out += [explain(p, "backward") for p in reader_problems(o, n, on, nn)]
    if level in ("FORWARD", "FULL"):
        for p in reader_problems(n, o, nn, on):
            text = explain(p, "forward")
            if p.kind == "type_mismatch" and any(f"field '{p.path}' changed type" in t for t in out):
                continue   # the same type change already explained for the other direction
            out.append(text)
    return out


# ------------------------------------------------------------------ diff
def _fields(node: Any, names: Names) -> dict[str, dict] | None:
    node = _deref(node, names)
    return {f["name"]: f for f in node["fields"]} if isinstance(node, dict) and node.get("type") == "record" \
        else None


def _records_in(node: Any, names: Names) -> list[dict]:
    """The record(s) a field's type holds: itself, union branches, array items, map values."""
    node = _deref(node, names)
    if isinstance(node, list):
        return [r for b in node for r in _records_in(b, names)]
    if node.get("type") == "record":
        return [node]
    if node.get("type") == "array":
        return _records_in(node["items"], names)
    if node.get("type") == "map":
        return _records_in(node["values"], names)
    return []


def _default(f: dict) -> str:
    return f", default {json.dumps(f['default'])}" if "default" in f else ", no default"


def diff(old: str | dict, new: str | dict) -> list[str]:
    """Human-readable changes from old to new: '+' added, '-' removed, '~' changed."""
    (o, on), (n, nn) = parse(old), parse(new)
    out: list[str] = []
    _diff_node(o, n, on, nn, "", out, set())
    return out


def _diff_node(o: Any, n: Any, on: Names, nn: Names, path: str, out: list[str], seen: set) -> None:
    od, nd = _deref(o, on), _deref(n, nn)
    if render(od) != render(nd):
        where = f"field '{path}'" if path else "top-level type"
        out.append(f"~ {where}: type {render(od)} → {render(nd)}")
    if isinstance(od, dict) and isinstance(nd, dict) and od.get("type") == nd.get("type") == "enum":
        added = [s for s in nd["symbols"] if s not in od["symbols"]]
        removed = [s for s in od["symbols"] if s not in nd["symbols"]]
        if added:
            out.append(f"~ enum {nd['name']} at '{path}': symbols added {', '.join(added)}")
        if removed:
            out.append(f"~ enum {nd['name']} at '{path}': symbols removed {', '.join(removed)}")
    orecs = {r["name"]: r for r in _records_in(od, on)}
    for nrec in _records_in(nd, nn):
        orec = orecs.get(nrec["name"])
        if orec is None or (orec.get("fullname"), nrec.get("fullname")) in seen:
            continue
        seen.add((orec.get("fullname"), nrec.get("fullname")))
        ofs, nfs = _fields(orec, on) or {}, _fields(nrec, nn) or {}
        for name, f in nfs.items():
            sub = f"{path}.{name}" if path else name
            if name not in ofs:
                out.append(f"+ field '{sub}': {render(f['type'])}{_default(f)}")
                continue
            g = ofs[name]
            if ("default" in g) != ("default" in f) or g.get("default") != f.get("default"):
                out.append(f"~ field '{sub}': default {json.dumps(g.get('default', '(none)'))} → "
                           f"{json.dumps(f.get('default', '(none)'))}")
            if g.get("doc") != f.get("doc"):
                out.append(f"~ field '{sub}': doc changed")
            _diff_node(g["type"], f["type"], on, nn, sub, out, seen)
        for name, g in ofs.items():
            if name not in nfs:
                sub = f"{path}.{name}" if path else name
                out.append(f"- field '{sub}': {render(g['type'])}{_default(g)}")
