"""Legal holds on the sealed objects of a case: a tenant and a time range.

A hold (S3 Object Lock legal hold) keeps an object version from deletion whatever its
retention, until it is released: the tool for a case that outlives archive.retention. It is
put on the version each digest sealed (`version_id`), so a newer version on top changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from auditflow.archive.seal import from_iso, quarantined_of
from auditflow.archive.store import Store


@dataclass(frozen=True)
class Target:
    key: str
    version_id: str | None
    what: str  # events | alerts | quarantine | digest
    period: str


def targets(worm: Store, tenant: str, start: dt.datetime, end: dt.datetime,
            digests: bool = True) -> list[Target]:
    """The tenant's sealed files and quarantined records in every period overlapping
    [start, end), and (``digests``) those periods' digests, which prove them."""
    out: list[Target] = []
    for o in sorted(worm.list("digests/"), key=lambda o: o.key):
        if not o.key.endswith(".json"):
            continue
        doc = json.loads(worm.get(o.key))
        p_start, p_end = from_iso(doc["period"]["start"]), from_iso(doc["period"]["end"])
        if p_end <= start or p_start >= end:
            continue
        pid = doc["period"]["id"]
        mine = [Target(f["key"], f.get("version_id"), f["kind"], pid)
                for f in doc["files"] if f["tenant"] == tenant]
        mine += [Target(q["key"], None, "quarantine", pid) for q in doc.get("quarantined", [])
                 if q.get("key") and quarantined_of(q, tenant)]
        if mine and digests:
            mine.append(Target(o.key, None, "digest", pid))
        out += mine
    return out
