"""Geolocation (udfs/geo.py) against the bundled GeoLite2-City database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from udfs import geo

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "audit_event.avsc").read_text("utf-8"))


@pytest.fixture(scope="module")
def db():
    with geo.GeoIP() as g:
        yield g


def _schema_geo_fields() -> list[str]:
    enrichment = next(f for f in SCHEMA["fields"] if f["name"] == "enrichment")["type"][1]
    geo_rec = next(f for f in enrichment["fields"] if f["name"] == "geo")["type"][1]
    return [f["name"] for f in geo_rec["fields"]]


def test_default_database_is_the_bundled_geolite2_city(db):
    assert db.city_path.name == "GeoLite2-City.mmdb" and db.city_path.is_file()
    assert db.metadata["database_type"] == "GeoLite2-City"
    assert tuple(_schema_geo_fields()) == geo.GEO_FIELDS


def test_public_addresses_are_located(db):
    r = db.lookup("8.8.8.8")
    assert r["country"] == "US" and r["is_private"] is False
    assert isinstance(r["lat"], float) and isinstance(r["lon"], float)
    assert r["asn"] is None and r["as_org"] is None  # a City database has no ASN data
    uk = db.lookup("81.2.69.142")  # MaxMind's own test address in Britain
    assert uk["country"] == "GB" and uk["city"]
    v6 = db.lookup("2001:4860:4860::8888")
    assert v6["country"] == "US"
    assert db.lookup("::ffff:8.8.8.8")["country"] == "US"
    assert set(r) == set(geo.GEO_FIELDS)


@pytest.mark.parametrize("ip,label", [
    ("10.1.2.3", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"),
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("169.254.169.254", "link_local"),
    ("fe80::1", "link_local"), ("100.64.0.1", "cgnat"), ("192.0.2.10", "documentation"),
    ("198.51.100.7", "documentation"), ("203.0.113.7", "documentation"), ("2001:db8::1", "documentation"),
    ("fd12:3456::1", "unique_local"), ("224.0.0.1", "multicast"), ("0.0.0.0", "this_network"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "broadcast"), ("198.18.0.1", "benchmarking"),
    ("::", "unspecified"), ("::ffff:10.0.0.1", "private"),
])
def test_non_global_addresses_are_labelled_not_looked_up(db, ip, label):
    assert geo.classify(ip) == label
    r = db.lookup(ip)
    assert r == {"country": None, "city": None, "lat": None, "lon": None, "asn": None, "as_org": None,
                 "is_private": True}


@pytest.mark.parametrize("value", ["ec2.amazonaws.com", "", "AWS Internal", "1.2.3", "8.8.8.8:53",
                                   "999.1.1.1", None, 12345, "x" * 1000])
def test_non_addresses_return_none_without_raising(db, value):
    assert db.lookup(value) is None
    assert geo.classify(value) is None


def test_classify_global():
    assert geo.classify("8.8.8.8") == "global"
    assert geo.classify(" 8.8.8.8 ") == "global"


def test_results_are_cached_but_not_shared(db):
    a = db.lookup("8.8.8.8")
    a["country"] = "XX"
    assert db.lookup("8.8.8.8")["country"] == "US"
    small = geo.GeoIP(cache_size=2)
    for ip in ("8.8.8.8", "1.1.1.1", "9.9.9.9", "8.8.8.8"):
        small.lookup(ip)
    assert len(small._cache) == 2
    small.close()


def test_module_level_lookup():
    assert geo.lookup("8.8.8.8")["country"] == "US"
    assert geo.lookup("not an ip") is None


def test_configured_paths_fail_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="GeoIP city database .*missing.mmdb does not exist"):
        geo.GeoIP(tmp_path / "missing.mmdb")
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(b"not a database")
    with pytest.raises(ValueError, match="cannot be read as a MaxMind DB"):
        geo.GeoIP(bad)
    with pytest.raises(FileNotFoundError, match="GeoIP ASN database"):
        geo.GeoIP(asn_db=tmp_path / "asn.mmdb")
