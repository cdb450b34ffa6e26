"""udfs.schema_compat: Avro diffs and incompatibility explanations. Pure, no registry."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from udfs.schema_compat import diff, incompatibilities

EVENT = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "audit_event.avsc").read_text())


def rec(*fields, name="T"):
    return {"type": "record", "name": name, "namespace": "t", "fields": list(fields)}


def test_identical_schemas_have_no_diff_and_no_incompatibility():
    assert diff(EVENT, EVENT) == []
    assert incompatibilities(EVENT, copy.deepcopy(EVENT), "FULL_TRANSITIVE") == []


def test_optional_field_with_default_is_compatible_both_ways():
    new = rec({"name": "a", "type": "int"}, {"name": "b", "type": ["null", "string"], "default": None})
    old = rec({"name": "a", "type": "int"})
    assert incompatibilities(old, new, "FULL") == []
    assert diff(old, new) == ["+ field 'b': [null, string], default null"]


def test_added_field_without_default_breaks_backward():
    reasons = incompatibilities(rec({"name": "a", "type": "int"}),
                                rec({"name": "a", "type": "int"}, {"name": "b", "type": "string"}),
                                "BACKWARD")
    assert reasons == [
        "field 'b' was added without a default: consumers on the new schema cannot read data written "
        "with the old one. Give it a default (an optional field: \"type\": [\"null\", ...], "
        "\"default\": null)."]


def test_removed_required_field_breaks_forward_and_says_so():
    old = rec({"name": "a", "type": "int"}, {"name": "user", "type": "string"})
    new = rec({"name": "a", "type": "int"})
    assert incompatibilities(old, new, "BACKWARD") == []          # new readers ignore it
    (reason,) = incompatibilities(old, new, "FULL_TRANSITIVE")
    assert reason.startswith("field 'user' was removed and has no default in the old schema: "
                             "consumers still on the old schema cannot read data written with the new one")


def test_type_change_names_both_types_once():
    (reason,) = incompatibilities(rec({"name": "a", "type": "int"}), rec({"name": "a", "type": "string"}),
                                  "FULL")
    assert reason.startswith("field 'a' changed type from int to string")
    assert "int cannot be read as string" in reason


def test_promotion_is_one_way():
    old, new = rec({"name": "n", "type": "int"}), rec({"name": "n", "type": "long"})
    assert incompatibilities(old, new, "BACKWARD") == []
    (reason,) = incompatibilities(old, new, "FORWARD")
    assert "changed type from int to long" in reason and "long cannot be read as int" in reason


def test_nested_field_paths_and_named_type_references():
    inner = {"type": "record", "name": "Geo", "fields": [{"name": "city", "type": "string"}]}
    old = rec({"name": "src", "type": inner}, {"name": "dst", "type": ["null", "Geo"], "default": None})
    new = copy.deepcopy(old)
    new["fields"][0]["type"]["fields"][0]["type"] = "int"
    reasons = incompatibilities(old, new, "BACKWARD")
    assert any(r.startswith("field 'src.city' changed type from string to int") for r in reasons)
    assert "~ field 'src.city': type string → int" in diff(old, new)


def test_union_narrowing_and_enum_symbols():
    old = rec({"name": "x", "type": ["null", "string"], "default": None},
              {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}})
    new = rec({"name": "x", "type": "string"},
              {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A"]}})
    reasons = incompatibilities(old, new, "BACKWARD")
    assert any("field 'x' changed type from null to string" in r for r in reasons)
    assert any("enum E at field 'e': symbol(s) B removed" in r for r in reasons)
    assert "~ enum E at 'e': symbols removed B" in diff(old, new)


def test_real_event_schema_changes():
    new = copy.deepcopy(EVENT)
    new["fields"] = [f for f in new["fields"] if f["name"] != "class_uid"]
    new["fields"].append({"name": "risk", "type": ["null", "int"], "default": None})
    changes = diff(EVENT, new)
    assert "- field 'class_uid': int, no default" in changes
    assert "+ field 'risk': [null, int], default null" in changes
    (reason,) = incompatibilities(EVENT, new, "FULL_TRANSITIVE")
    assert "field 'class_uid' was removed" in reason


def test_unknown_level_is_refused():
    with pytest.raises(ValueError, match="unknown compatibility level 'SIDEWAYS'"):
        incompatibilities(EVENT, EVENT, "SIDEWAYS")
