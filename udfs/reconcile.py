"""raw = events + dead letters + filtered, per source and tenant, record by record.

Every output of the normalize job names the raw record it came from (topic, partition,
offset), so reconciling by coordinates finds not only a wrong total but which raw records
have no output (lost or not yet processed) and which have more than one (duplicated).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from udfs.sources import raw_source

Coord = tuple[str, int, int]
OUTPUT_KINDS = ("events", "dead_letters", "filtered")
NO_TENANT = "(none)"


@dataclass
class Line:
    source: str
    tenant: str
    raw: int = 0
    events: int = 0
    dead_letters: int = 0
    filtered: int = 0
    unaccounted: int = 0
    duplicated: int = 0

    @property
    def balanced(self) -> bool:
        return self.unaccounted == 0 and self.duplicated == 0 and \
            self.raw == self.events + self.dead_letters + self.filtered


@dataclass
class Report:
    lines: list[Line]
    ingest_rejects: Counter = field(default_factory=Counter)  # (source, tenant) -> dead letters
    orphans: Counter = field(default_factory=Counter)  # output kind -> outputs of unread raw records
    unaccounted_examples: list[Coord] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return all(line.balanced for line in self.lines)


class Reconciler:
    def __init__(self) -> None:
        self.raw: dict[Coord, tuple[str, str]] = {}
        self.outputs: dict[Coord, Counter] = defaultdict(Counter)
        self.ingest_rejects: Counter = Counter()

    def add_raw(self, topic: str, partition: int, offset: int, tenant: str | None) -> None:
        self.raw[(topic, partition, offset)] = (raw_source(topic), tenant or NO_TENANT)

    def add_output(self, kind: str, topic: str | None, partition: int | None, offset: int | None,
                   source: str | None = None, tenant: str | None = None) -> None:
        """An output record; a dead letter without raw coordinates was rejected at ingest."""
        if topic is None or partition is None or offset is None:
            self.ingest_rejects[(source or "?", tenant or NO_TENANT)] += 1
            return
        self.outputs[(topic, partition, offset)][kind] += 1

    def report(self, examples: int = 5) -> Report:
        lines: dict[tuple[str, str], Line] = {}
        missing: list[Coord] = []
        for coord, (source, tenant) in self.raw.items():
            line = lines.setdefault((source, tenant), Line(source, tenant))
            line.raw += 1
            out = self.outputs.get(coord)
            if not out:
                line.unaccounted += 1
                missing.append(coord)
                continue
            for kind in OUTPUT_KINDS:
                setattr(line, kind, getattr(line, kind) + out[kind])
            line.duplicated += sum(out.values()) - 1
        orphans: Counter = Counter()
        for coord, out in self.outputs.items():
            if coord not in self.raw:
                orphans.update(out)
        return Report(sorted(lines.values(), key=lambda x: (x.source, x.tenant)),
                      Counter(self.ingest_rejects), orphans, sorted(missing)[:examples])
