"""Write the JSON export verify-go reads beside each sealed events file of a local archive copy:

    python tools/verify-go/export_json.py ./worm-copy

For every events/**/<period>.parquet it writes <period>.parquet.json, a JSON array of the
file's rows in stored order in the form schemas/CHAIN.md section 2 hashes (timestamps as epoch
milliseconds, maps as objects). The export is not trusted: verify-go recomputes every event
hash from it and checks the chains and the Merkle root against the signed digest.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from auditflow.archive import layout, proof


def export(root: Path) -> int:
    n = 0
    for f in sorted((root / "events").rglob("*.parquet")):
        rows = [proof._jsonable(e) for e in layout.to_records(layout.read_parquet(f.read_bytes()))]
        f.with_name(f.name + ".json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
        n += 1
    return n


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python tools/verify-go/export_json.py ARCHIVE_DIR (a local copy with events/)",
              file=sys.stderr)
        return 2
    print(f"{export(Path(argv[0]))} events files exported", file=sys.stderr)
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    # as in auditflow.cli.main: Arrow's thread pools can abort the process in C++ teardown at
    # interpreter exit after the work is done, so leave without that teardown
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
