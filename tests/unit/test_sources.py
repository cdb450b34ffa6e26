"""The source-family registry (udfs/sources.py) and what derives from it."""

from connectors.ingest import framing
from udfs import sources
from udfs.parse import PARSERS, SOURCE_SYSTEMS
from udfs.parse.base import build_event
from udfs.record import RawRecord


def test_every_family_has_a_parser_a_framer_and_a_topic():
    assert set(PARSERS) == set(sources.NAMES) == set(framing.FORMATS)
    assert SOURCE_SYSTEMS == framing.SOURCE_SYSTEM == sources.SOURCE_SYSTEMS
    for family in sources.FAMILIES:
        assert PARSERS[family.name].__module__ == f"udfs.parse.{family.parser}"
        assert isinstance(framing.line_framer(family.name), framing.LineFramer)
        topic = framing.raw_topic("acme", family.name)
        assert topic == sources.raw_topic("acme", family.name) == f"audit.raw.acme.{family.name}"
        assert sources.raw_source(topic) == family.name
        assert sources.raw_source(f"{topic}.eu-west") == family.name
        assert sources.raw_source(f"audit.raw.{family.name}") == family.name  # bound to no tenant


def test_an_unknown_source_stands_for_itself():
    assert sources.source_system("other") == "other"
    assert sources.raw_source("other.topic") == "other.topic"


def test_lineage_names_the_source_system():
    record = RawRecord(source="app", value=b"{}", tenant_id="acme", topic="audit.raw.acme.app", partition=0,
                       offset=1, timestamp_ms=0, headers={})
    event = build_event(record, class_uid=0, activity_id=99, time_ms=0, product="x", rule="r")
    assert event["lineage"]["source_system"] == "app_json"
