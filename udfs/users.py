"""The user directory: versioned user profiles for ``enrichment.user``, as of each event's time.

Files (``auditflow users load FILE.csv|FILE.json``) have one row per profile version:

- ``uid``: user id in the directory (the ``audit.users`` key); defaults to ``name``
- ``name``: user name as events carry it (``actor.user.name``); ``uid`` or ``name`` is required
- ``display_name``, ``department``, ``title``, ``manager``: profile text, optional
- ``privileged``: true/false, yes/no, 1/0; empty = false
- ``valid_from``: when this version starts: ISO 8601 (``2024-01-31``,
  ``2024-01-31T09:00:00Z``; no offset = UTC) or epoch milliseconds; empty = since ever (0)
- ``valid_to``: optional end (exclusive), same formats
- ``deleted``: optional true/false: the account was removed at ``valid_from``

JSON files hold a list of such objects (or ``{"users": [...]}``); ``.jsonl`` / ``.ndjson``
one object per line. Errors name the file and the row (CSV: the line number; JSON: the item
or line number) and the column, e.g. ``users.csv line 4: valid_from: cannot read 'yesterday'
as ISO 8601 time or epoch milliseconds``.

**Temporal lookup.** ``UserDirectory.profile_at(uid_or_name, time_ms)`` returns the
``enrichment.user`` record of the version valid at ``time_ms``: the latest version with
``valid_from <= time_ms``, unless it is marked deleted or ``time_ms >= valid_to``. Anything
else — unknown user, before the first version, after deletion — gives
``{"known": False, "privileged": False, ...None}``; it never raises. A name is resolved to a
uid through the versions that carried that name, as of ``time_ms`` (names get reused).

**The ``audit.users`` topic** (compacted): key = uid (UTF-8), value = the user's **whole
version history** as compact JSON with sorted keys::

    {"format": "auditflow.users/1", "uid": "u1001",
     "versions": [{"valid_from": 0, "valid_to": null, "name": "alice", "display_name": ...,
                   "department": ..., "title": ..., "manager": ..., "privileged": false,
                   "deleted": false}, ...]}          # sorted by valid_from

Compaction keeps only the latest record per key, so each record carries every version a
temporal lookup needs: an event that arrives late, or a replay of old raw records, still
finds the profile valid at its own time from the single surviving record. (One record per
version, keyed uid+valid_from, would also survive compaction, but then a consumer has to
gather a user from many keys and a correction could not remove a wrong version.) Loading a
file merges its versions into the current history (``merge_versions``: same valid_from =
replaced); the producer writes the merged record. A tombstone (null value) erases the user
completely, e.g. for a GDPR erasure; ``deleted`` keeps the history and ends the account.
Encoding is deterministic, so loading the same file twice produces identical records.

Interface::

    parse_csv(text, source="users.csv") / parse_json(text, source) / load_file(path) -> list[UserVersion]
    UserDirectory(versions=()); .add(version); .apply(key, value)   # a topic record, tombstones too
    UserDirectory.profile_at(user, time_ms) -> dict                 # the enrichment.user record
    encode_record(uid, versions) -> (key: bytes, value: bytes); decode_record(value) -> list[UserVersion]
    profile_from_record(value, time_ms) -> dict                      # one topic value, no directory
    UserDirectory.records() -> iterator of (key, value)             # what `users load` produces
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

FORMAT = "auditflow.users/1"
COLUMNS = ("uid", "name", "display_name", "department", "title", "manager", "privileged",
           "valid_from", "valid_to", "deleted")
PROFILE_FIELDS = ("display_name", "department", "title", "manager", "privileged", "known")
_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f", ""}


class UserDirectoryError(ValueError):
    """A directory file or record that cannot be read; the message names file, row and column."""


@dataclass(frozen=True)
class UserVersion:
    uid: str
    name: str | None = None
    display_name: str | None = None
    department: str | None = None
    title: str | None = None
    manager: str | None = None
    privileged: bool = False
    valid_from: int = 0
    valid_to: int | None = None
    deleted: bool = False

    def profile(self) -> dict:
        return {"display_name": self.display_name, "department": self.department, "title": self.title,
                "manager": self.manager, "privileged": self.privileged, "known": True}

    def to_json(self) -> dict:
        d = asdict(self)
        del d["uid"]
        return d


def unknown_profile() -> dict:
    """The ``enrichment.user`` record of a user the directory does not know (at that time)."""
    return {"display_name": None, "department": None, "title": None, "manager": None,
            "privileged": False, "known": False}


# --- parsing -------------------------------------------------------------------------------

def parse_time_ms(value: Any) -> int:
    """Epoch milliseconds from an int, a digit string, or ISO 8601 (date, or time; naive = UTC)."""
    if isinstance(value, bool):
        raise ValueError(f"cannot read {value!r} as a time")
    if isinstance(value, int):
        return value
    s = str(value).strip()
    if re.fullmatch(r"-?\d+", s) and not re.fullmatch(r"\d{8}", s):
        return int(s)
    try:
        t = dt.datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"cannot read {value!r} as ISO 8601 time or epoch milliseconds") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return int(t.timestamp() * 1000)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    s = str(value).strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise ValueError(f"expected true/false, yes/no or 1/0, got {value!r}")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    s = str(value).strip()
    return s or None


def version_from_row(row: dict[str, Any], where: str, extra: str = "error") -> UserVersion:
    """One UserVersion from a row; ``where`` (e.g. ``users.csv line 4``) prefixes every error.
    ``extra`` = "error" rejects unknown columns (a typo would otherwise be silently lost),
    "ignore" skips them."""
    unknown = sorted(k for k in row if k not in COLUMNS and k is not None)
    if unknown and extra == "error":
        raise UserDirectoryError(f"{where}: unknown column(s) {', '.join(map(repr, unknown))}; "
                                 f"known: {', '.join(COLUMNS)} (or ignore them with extra='ignore')")
    if None in row:  # csv: more fields than header columns
        raise UserDirectoryError(f"{where}: more values than header columns")
    uid, name = _text(row.get("uid")), _text(row.get("name"))
    if not uid and not name:
        raise UserDirectoryError(f"{where}: needs a uid or a name")
    fields: dict[str, Any] = {"uid": uid or name, "name": name}
    for col in ("display_name", "department", "title", "manager"):
        fields[col] = _text(row.get(col))
    for col, conv in (("privileged", _bool), ("deleted", _bool)):
        try:
            fields[col] = conv(row.get(col))
        except ValueError as exc:
            raise UserDirectoryError(f"{where}: {col}: {exc}") from None
    for col in ("valid_from", "valid_to"):
        raw = row.get(col)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            fields[col] = 0 if col == "valid_from" else None
            continue
        try:
            fields[col] = parse_time_ms(raw)
        except ValueError as exc:
            raise UserDirectoryError(f"{where}: {col}: {exc}") from None
    if fields["valid_to"] is not None and fields["valid_to"] <= fields["valid_from"]:
        raise UserDirectoryError(f"{where}: valid_to ({row.get('valid_to')}) is not after "
                                 f"valid_from ({row.get('valid_from')})")
    return UserVersion(**fields)


def parse_csv(text: str, source: str = "users.csv", extra: str = "error") -> list[UserVersion]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise UserDirectoryError(f"{source}: empty file, expected a header row ({', '.join(COLUMNS)})")
    reader.fieldnames = [f.strip() for f in reader.fieldnames]
    out = []
    try:
        for row in reader:
            if not any((v or "").strip() for k, v in row.items() if k is not None):
                continue  # blank line
            out.append(version_from_row(row, f"{source} line {reader.line_num}", extra))
    except csv.Error as exc:
        raise UserDirectoryError(f"{source} line {reader.line_num}: {exc}") from None
    return out


def parse_json(text: str, source: str = "users.json", extra: str = "error") -> list[UserVersion]:
    """A JSON list (or ``{"users": [...]}``); JSON Lines when ``source`` ends in .jsonl/.ndjson."""
    items: list[tuple[str, Any]] = []
    if source.endswith((".jsonl", ".ndjson")):
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    items.append((f"{source} line {n}", json.loads(line)))
                except ValueError as exc:
                    raise UserDirectoryError(f"{source} line {n}: not JSON: {exc}") from None
    else:
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise UserDirectoryError(f"{source}: not JSON: {exc}") from None
        if isinstance(doc, dict) and isinstance(doc.get("users"), list):
            doc = doc["users"]
        if not isinstance(doc, list):
            raise UserDirectoryError(f"{source}: expected a list of user objects or {{\"users\": [...]}}")
        items = [(f"{source} item {i}", x) for i, x in enumerate(doc, 1)]
    out = []
    for where, obj in items:
        if not isinstance(obj, dict):
            raise UserDirectoryError(f"{where}: expected an object, got {type(obj).__name__}")
        out.append(version_from_row(obj, where, extra))
    return out


def load_file(path: str | Path, extra: str = "error") -> list[UserVersion]:
    """Versions from a .csv, .json, .jsonl or .ndjson file (by extension)."""
    p = Path(path)
    try:
        text = p.read_text("utf-8-sig")
    except OSError as exc:
        raise UserDirectoryError(f"{p}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UserDirectoryError(f"{p}: not UTF-8 text: {exc}") from None
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return parse_csv(text, str(p), extra)
    if suffix in (".json", ".jsonl", ".ndjson"):
        return parse_json(text, str(p), extra)
    raise UserDirectoryError(f"{p}: unknown file type {suffix!r}; use .csv, .json, .jsonl or .ndjson")


# --- the topic record ------------------------------------------------------------------------

def merge_versions(old: Iterable[UserVersion], new: Iterable[UserVersion]) -> list[UserVersion]:
    """Union by valid_from, ``new`` winning on the same valid_from; sorted by valid_from."""
    by_start = {v.valid_from: v for v in old}
    by_start.update({v.valid_from: v for v in new})
    return [by_start[k] for k in sorted(by_start)]


def encode_record(uid: str, versions: Iterable[UserVersion]) -> tuple[bytes, bytes]:
    """(key, value) for ``audit.users``: the uid, and the user's sorted history as JSON."""
    vs = sorted(versions, key=lambda v: v.valid_from)
    if any(v.uid != uid for v in vs):
        raise ValueError(f"versions of other users in the record of {uid!r}")
    value = {"format": FORMAT, "uid": uid, "versions": [v.to_json() for v in vs]}
    return uid.encode("utf-8"), json.dumps(value, sort_keys=True, separators=(",", ":"),
                                           ensure_ascii=False).encode("utf-8")


def decode_record(value: bytes | str) -> list[UserVersion]:
    """The versions in an ``audit.users`` value; UserDirectoryError if it is not one."""
    try:
        doc = json.loads(value)
        if doc.get("format") != FORMAT:
            raise ValueError(f"format is {doc.get('format')!r}, expected {FORMAT!r}")
        uid = doc["uid"]
        return sorted((UserVersion(uid=uid, **v) for v in doc["versions"]), key=lambda v: v.valid_from)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise UserDirectoryError(f"audit.users record is not a user history: {exc}") from None


def _profile_in(versions: list[UserVersion], starts: list[int], time_ms: int) -> dict:
    i = bisect.bisect_right(starts, time_ms) - 1
    if i < 0:
        return unknown_profile()
    v = versions[i]
    if v.deleted or (v.valid_to is not None and time_ms >= v.valid_to):
        return unknown_profile()
    return v.profile()


def profile_from_record(value: bytes | str | None, time_ms: int) -> dict:
    """``enrichment.user`` from one ``audit.users`` value (None = unknown user)."""
    if value is None:
        return unknown_profile()
    versions = decode_record(value)
    return _profile_in(versions, [v.valid_from for v in versions], time_ms)


# --- the directory ---------------------------------------------------------------------------

class UserDirectory:
    """Users by uid, each with its versions sorted by valid_from, and a name index."""

    def __init__(self, versions: Iterable[UserVersion] = ()):
        self._users: dict[str, list[UserVersion]] = {}
        self._starts: dict[str, list[int]] = {}
        self._names: dict[str, list[tuple[int, str]]] = {}
        for v in versions:
            self.add(v)

    def __len__(self) -> int:
        return len(self._users)

    def __contains__(self, uid: object) -> bool:
        return uid in self._users

    def versions(self, uid: str) -> list[UserVersion]:
        return list(self._users.get(uid, ()))

    def add(self, version: UserVersion) -> None:
        """Add one version (same uid and valid_from as an existing one: replaces it)."""
        self._set(version.uid, merge_versions(self._users.get(version.uid, ()), [version]))

    def apply(self, key: bytes | str | None, value: bytes | str | None) -> None:
        """Apply one ``audit.users`` record: the full history of its user, or a tombstone."""
        if key is None:
            raise UserDirectoryError("audit.users record without a key (the user uid)")
        uid = key.decode("utf-8") if isinstance(key, bytes | bytearray) else key
        if value is None:
            self._set(uid, [])
            return
        versions = decode_record(value)
        if any(v.uid != uid for v in versions):
            raise UserDirectoryError(f"audit.users record for key {uid!r} holds another user's history")
        self._set(uid, versions)

    def _set(self, uid: str, versions: list[UserVersion]) -> None:
        for old in self._users.get(uid, ()):
            if old.name:
                self._names[old.name] = [(s, u) for s, u in self._names.get(old.name, []) if u != uid]
                if not self._names[old.name]:
                    del self._names[old.name]
        if not versions:
            self._users.pop(uid, None)
            self._starts.pop(uid, None)
            return
        self._users[uid] = versions
        self._starts[uid] = [v.valid_from for v in versions]
        for v in versions:
            if v.name:
                bisect.insort(self._names.setdefault(v.name, []), (v.valid_from, uid))

    def resolve(self, user: str, time_ms: int) -> str | None:
        """The uid ``user`` denotes at ``time_ms``: itself if it is a uid, else the user whose
        version that started last before ``time_ms`` carried this name (case-insensitive as a
        fallback)."""
        if user in self._users:
            return user
        entries = self._names.get(user)
        if entries is None:
            folded = user.casefold()
            entries = [e for n, es in self._names.items() if n.casefold() == folded for e in es]
            entries.sort()
        if not entries:
            return None
        i = bisect.bisect_right([s for s, _ in entries], time_ms) - 1
        return entries[max(i, 0)][1] if i >= 0 else None

    def profile_at(self, user: str | None, time_ms: int) -> dict:
        """The ``enrichment.user`` record for ``user`` (uid or name) at ``time_ms``."""
        if not user:
            return unknown_profile()
        uid = self.resolve(user, time_ms)
        if uid is None:
            return unknown_profile()
        return _profile_in(self._users[uid], self._starts[uid], time_ms)

    def records(self) -> Iterator[tuple[bytes, bytes]]:
        """Every user as an ``audit.users`` (key, value), sorted by uid."""
        for uid in sorted(self._users):
            yield encode_record(uid, self._users[uid])

    @classmethod
    def from_file(cls, path: str | Path, extra: str = "error") -> UserDirectory:
        return cls(load_file(path, extra))

    def merged_with(self, versions: Iterable[UserVersion]) -> UserDirectory:
        """A copy with ``versions`` merged in (what ``users load`` publishes)."""
        out = UserDirectory()
        for uid, vs in self._users.items():
            out._set(uid, [replace(v) for v in vs])
        for v in versions:
            out.add(v)
        return out
