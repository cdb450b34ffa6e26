"""Continuous verification (`auditflow verify --watch`): each round verifies the digests that
appeared since the last verified one (`Verifier.run(resume=...)`), re-reads only the sealed
objects whose listing changed (size or time: an overwrite adds a version, a delete removes it),
and raises an INTEGRITY-001 alert for a break, a gap in periods, a missing witness cosignature
or a digest that stops arriving. Files that no digest lists (`extra`) are left to a full
`auditflow verify`: the sealer uploads a period's files before its digest.

The last verified point (digest key and SHA-256) and the SHA-256 of every object verified so far
are kept in a small JSON state file, so a restarted watcher resumes instead of starting over and
still notices an object changed while it was down.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError

from auditflow.archive import digest as dg
from auditflow.archive import layout
from auditflow.archive.seal import from_iso
from auditflow.archive.store import Store
from auditflow.archive.verify import Checkpoint, Problem, Verifier
from udfs.detect.rules import SEVERITIES
from udfs.detect.suppress import alert_id

RULE_ID = "INTEGRITY-001"
TITLE = "Audit archive integrity: verification failed"
MITRE = ["T1565.001", "T1070"]  # stored data manipulation, indicator removal
COMPLIANCE = ["PCI-DSS-10.3.4", "SOC2-CC7.2", "HIPAA-164.312(c)(1)", "ISO27001-A.8.15"]


def ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


def integrity_alert(archive: str, kind: str, message: str, period: str | None, window: tuple[int, int],
                    now: dt.datetime, tenant: str | None = None) -> dict:
    """An Alert record (schemas/alert.avsc) for one integrity finding. alert_id and dedup_key
    depend only on the archive, the kind and the period (not on the window), so a finding raised again (every
    round, after a restart) is the same alert and the router delivers it once."""
    key = f"{RULE_ID}|{archive}|{kind}|{period or '-'}"
    return {
        "alert_id": alert_id(RULE_ID, key, 0), "rule_id": RULE_ID, "title": TITLE,
        "severity": "critical", "severity_id": SEVERITIES["critical"],
        "tenant_id": (tenant or "*").split("/", 1)[0], "entity_type": "archive",
        "entity_value": f"{archive}: {message}"[:2000],  # messages begin with their kind
        "window_start": window[0], "window_end": window[1], "event_count": 1, "evidence": [],
        "first_seen": window[0], "last_seen": window[1], "mitre": MITRE, "compliance": COMPLIANCE,
        "dedup_key": key, "created_at": ms(now),
    }


@dataclass
class Settings:
    period_s: int
    grace_s: int
    slack_s: int
    witness_wait_s: int


def state_file(state_dir: str | Path, archive_url: str) -> Path:
    name = f"verify-watch-{dg.sha256(archive_url.encode())[:12]}.json"
    return Path(os.path.expanduser(str(state_dir))) / name


class Watch:
    def __init__(self, worm: Store, verifier: Verifier, state: Path, settings: Settings,
                 emit: Callable[[dict], None], say: Callable[[str], None] = lambda _m: None):
        self.worm, self.verifier, self.state, self.s = worm, verifier, state, settings
        self.emit, self.say = emit, say
        self.point: Checkpoint | None = None
        self.objects: dict[str, list] = {}  # key -> [sha256, size, modified ISO] of what was verified
        self.raised: set[str] = set()
        self.started = False

    # ------------------------------------------------------------------ state
    def _load(self) -> None:
        self.started = True
        if not self.state.exists():
            return
        st = json.loads(self.state.read_text())
        self.objects, self.raised = st.get("objects", {}), set(st.get("raised", []))
        if not st.get("last"):
            return
        key, sha = st["last"]["key"], st["last"]["sha256"]
        raw = self.worm.get(key) if self.worm.exists(key) else None
        if raw is not None and dg.sha256(raw) == sha:  # else the changed-object check names it
            self.point = Checkpoint(key, raw)

    def _save(self) -> None:
        self.state.parent.mkdir(parents=True, exist_ok=True)
        st = {"archive": self.worm.url, "objects": self.objects, "raised": sorted(self.raised),
              "last": {"key": self.point.key, "sha256": dg.sha256(self.point.raw)} if self.point else None}
        tmp = self.state.with_name(self.state.name + ".tmp")
        tmp.write_text(json.dumps(st, sort_keys=True))
        tmp.replace(self.state)

    # ------------------------------------------------------------------ one round
    def step(self, now: dt.datetime | None = None) -> list[dict]:
        """Verify what is new; the alerts raised (each once)."""
        now = now or dt.datetime.now(dt.UTC)
        if not self.started:
            self._load()
        found = self._changed_objects(now)
        rep = self.verifier.run(resume=self.point, extras=False)
        for cp in rep.verified:
            self._track(cp)
        if rep.last is not None:
            self.point = rep.last
        p = rep.problem
        if p is not None and not self._waiting_for_witness(p, now):
            found.append(self._alert(p.kind, p.message, p.period, now, p.tenant))
        stale = self._overdue(now)
        if stale:
            found.append(stale)
        new = [a for a in found if a["alert_id"] not in self.raised]
        for a in new:
            self.emit(a)
            self.raised.add(a["alert_id"])
        if rep.verified and self.point is not None:
            self.say(f"verified {len(rep.verified)} new digest(s) up to {self.point.key}")
        self._save()
        return new

    def _track(self, cp: Checkpoint) -> None:
        """Remember the verified SHA-256 of a digest and its files; the first one verified stays
        (a rewritten copy verified from scratch later must not replace it)."""
        files = [(f["key"], f["sha256"]) for f in cp.doc.get("files", [])]
        for key, sha in [(cp.key, dg.sha256(cp.raw)), *files]:
            if key not in self.objects:
                o = next((o for o in self.worm.list(key) if o.key == key), None)
                self.objects[key] = [sha, *self._fingerprint(o)]

    @staticmethod
    def _fingerprint(o) -> list:
        return [o.size, o.modified.isoformat()] if o is not None else [None, None]

    def _changed_objects(self, now: dt.datetime) -> list[dict]:
        """Objects verified before that were deleted or whose listing changed, re-read."""
        if not self.objects:
            return []
        listing = {o.key: o for o in self.worm.list()}
        out = []
        for key, (sha, size, modified) in sorted(self.objects.items()):
            o = listing.get(key)
            if o is None:
                out.append(self._alert("missing", f"missing: {key}, verified before, is gone from the "
                                       "archive", self._period_of(key), now, self._tenant_of(key)))
                continue
            if [o.size, o.modified.isoformat()] == [size, modified]:
                continue
            got = dg.sha256(self.worm.get(key))
            if got == sha:  # e.g. the same bytes put again
                self.objects[key] = [sha, *self._fingerprint(o)]
                continue
            out.append(self._alert("modified", f"modified: {key} now hashes to {got[:16]}..., verified as "
                                   f"{sha[:16]}... (changed after it was sealed and verified)",
                                   self._period_of(key), now, self._tenant_of(key)))
        return out

    def _period_of(self, key: str) -> str | None:
        name = key.rsplit("/", 1)[-1]
        return name.split(".", 1)[0] if name.endswith((".json", ".parquet")) else None

    @staticmethod
    def _tenant_of(key: str) -> str | None:
        part = layout.parse_partition(key)
        return part[0] if part else None

    def _waiting_for_witness(self, p: Problem, now: dt.datetime) -> bool:
        """A new digest's cosignatures get witness_wait_s to appear (the witness runs on its own)."""
        if p.kind != "unwitnessed" or not p.period:
            return False
        try:
            sealed = from_iso(json.loads(self.worm.get(f"digests/{p.period}.json"))["sealed_at"])
        except (ValueError, KeyError):
            return False
        return now < sealed + dt.timedelta(seconds=self.s.witness_wait_s)

    def _overdue(self, now: dt.datetime) -> dict | None:
        """The next digest is due grace_s after its period ends; slack_s later it is missing."""
        if self.point is None:
            return None
        end = from_iso(self.point.doc["period"]["end"])
        due = end + dt.timedelta(seconds=self.s.period_s + self.s.grace_s + self.s.slack_s)
        if now <= due:
            return None
        nxt = self.point.doc["period"]["end"]
        return self._alert("stale", f"stale: no digest after {self.point.key}; the period from {nxt} "
                           f"closed at {end + dt.timedelta(seconds=self.s.period_s + self.s.grace_s)} "
                           f"and is still not sealed", self.point.doc["period"]["id"], now)

    def _alert(self, kind: str, message: str, period: str | None, now: dt.datetime,
               tenant: str | None = None) -> dict:
        window = (ms(now), ms(now))
        if period:
            try:
                doc = json.loads(self.worm.get(f"digests/{period}.json"))
                window = (ms(from_iso(doc["period"]["start"])), ms(from_iso(doc["period"]["end"])))
            except (ValueError, KeyError, OSError, ClientError):  # the digest is gone: now
                pass
        return integrity_alert(self.worm.url, kind, message, period, window, now, tenant)
