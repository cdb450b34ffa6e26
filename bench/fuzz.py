"""Fuzz the parsers and the normalize steps: any bytes in -> one event the schema accepts, or one
dead letter; nothing else.

    .venv/bin/python bench/fuzz.py                         # 10 minutes, every family
    .venv/bin/python bench/fuzz.py --minutes 1 --family cloudtrail
    .venv/bin/python bench/fuzz.py --seed 42 --minutes 0.2 # a short reproducible run

Inputs, drawn at random (`--seed` fixes the sequence):

- **mutations of the seed corpora**: the real records of tests/fixtures/parse and
  tests/fixtures/raw (one Kafka record each, as the ingest adapter frames them), with bytes
  flipped, inserted, deleted, duplicated or spliced from another seed, the value cut short,
  non-UTF-8 bytes, huge strings, deep nesting;
- **JSON-aware mutations** (JSON families): one value of the parsed seed, at a random path,
  replaced by a value of another JSON type (0, -1, true, null, [], {}, 1e400, 2**70, a lone
  surrogate, a 100 kB string, 5,000 nested arrays, ...);
- **random input**: random bytes, and random JSON documents built from the fields the parsers
  read.

Each input goes through `udfs.parse.parse()` (which must return an event the Avro schema accepts
or raise ParseError), then through `Normalizer.prepare` + `finish` + `encode` as the normalize
job runs them (nothing may raise; every event must validate against schemas/audit_event.avsc
and encode), in under `--slow` seconds plus `--slow-per-mb` a MB of CPU time (a regular
expression that backtracks on a long line stalls the job; CPU time, so a busy machine does not
make an input slow). Progress every 10 s (inputs/s, escapes, invalid
events); at the end each distinct failure (by family, kind and where it was raised) once, with a
reproducer: the input as base64 and a shortened repr (`--save DIR` writes each whole input).
Exit status 1 when anything escaped, an event failed validation, or an input was slow.
Needs no services.
"""

from __future__ import annotations

import argparse
import base64
import copy
import gzip
import json
import random
import signal
import sys
import time
import traceback
from pathlib import Path

import fastavro
import fastavro.validation

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from udfs import normalize  # noqa: E402
from udfs.parse import ParseError, RawRecord, parse  # noqa: E402

FAMILIES = ("syslog", "cloudtrail", "k8s-audit", "auditd", "app", "debezium")
JSON_FAMILIES = {"cloudtrail", "k8s-audit", "app", "debezium"}
NOW_MS = 1732798800000  # 2024-11-28T13:00:00Z, the fixtures' Kafka timestamp
SCHEMAS = REPO / "schemas"
SETTINGS = {
    "schema_ids": {"event": 7, "dlq": 8},
    "schemas": {"event": json.loads((SCHEMAS / "audit_event.avsc").read_text()),
                "dlq": json.loads((SCHEMAS / "dead_letter.avsc").read_text())},
    "normalize": {"keep_raw": True}, "mask": {"hmac_key_env": "NO_SUCH_VARIABLE"},
}
EVENT_SCHEMA = fastavro.parse_schema(SETTINGS["schemas"]["event"])
ODD_VALUES = [0, -1, 1, True, False, None, [], {}, "", "x", 1e308, -1e308, 2 ** 70, -(2 ** 63) - 1,
              "\ud800", "\udfff x", "ASIA" * 3, "1e400", "9" * 400, "not a time", " ", "\x00",
              [1, "a", None], {"a": {"b": [1]}}, "𝔘nicode ✓", "a" * 100_000, 0.5, -0.0]
RAW_ODD_VALUES = ["1e400", "-1e400", "NaN", "Infinity", "9" * 5000, "[" * 5000 + "]" * 5000,
                  '"\\ud800"', '"\\udc00\\ud800"', "1" + "0" * 30]


# --- seeds ------------------------------------------------------------------------------------


def auditd_groups(lines: list[bytes]) -> list[bytes]:
    """Consecutive lines with one msg=audit(...) id, as connectors/ingest's AuditdFramer groups them."""
    out, current, key = [], [], None
    for line in lines:
        if not line.strip():
            continue
        start = line.find(b"msg=audit(")
        this = line[start:line.find(b")", start)] if start >= 0 else line
        if this != key and current:
            out.append(b"\n".join(current))
            current = []
        key = this
        current.append(line)
    if current:
        out.append(b"\n".join(current))
    return out


def seeds() -> dict[str, list[bytes]]:
    parse_dir, raw_dir = REPO / "tests" / "fixtures" / "parse", REPO / "tests" / "fixtures" / "raw"
    out: dict[str, list[bytes]] = {f: [] for f in FAMILIES}
    for path in sorted(parse_dir.iterdir()):
        family = next(f for f in FAMILIES if path.name.startswith(f))  # k8s-audit-variants.jsonl
        text = path.read_bytes()
        parts = text.split(b"\n\n") if family == "auditd" else text.splitlines()
        out[family] += [p.strip(b"\n") for p in parts if p.strip()]
    for family in FAMILIES:
        folder = raw_dir / family
        for path in sorted(folder.iterdir()) if folder.exists() else []:
            data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
            if family == "cloudtrail" and b'"Records"' in data[:200]:
                out[family] += [json.dumps(r).encode() for r in json.loads(data)["Records"]]
            elif family == "auditd":
                out[family] += auditd_groups(data.splitlines())
            else:
                out[family] += [ln for ln in data.splitlines() if ln.strip()]
    return out


# --- mutations --------------------------------------------------------------------------------


def mutate_bytes(rng: random.Random, value: bytes, pool: list[bytes]) -> bytes:
    data = bytearray(value)
    for _ in range(rng.choice((1, 1, 2, 3, 8))):
        op = rng.randrange(9)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:  # flip a bit
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # insert random bytes
            data[pos:pos] = rng.randbytes(rng.randrange(1, 8))
        elif op == 2 and data:  # delete a range
            del data[pos:pos + rng.randrange(1, 32)]
        elif op == 3 and data:  # duplicate a range
            end = min(len(data), pos + rng.randrange(1, 64))
            data[pos:pos] = data[pos:end]
        elif op == 4:  # splice another seed
            other = rng.choice(pool)
            cut = rng.randrange(len(other) + 1)
            data[pos:] = other[cut:]
        elif op == 5:  # truncate
            del data[pos:]
        elif op == 6:  # non-UTF-8
            data[pos:pos] = rng.choice((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80", b"\xf4\x90\x80\x80"))
        elif op == 7:  # huge run
            size = rng.choice((1000, 1000, 20_000, 100_000)) if rng.random() < 0.98 else 700_000
            data[pos:pos] = bytes([rng.randrange(32, 127)]) * size
        else:  # an odd literal
            data[pos:pos] = rng.choice(RAW_ODD_VALUES).encode()
    return bytes(data)


def paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from paths(v, (*prefix, i))


def odd_value(rng: random.Random):
    choice = rng.randrange(10)
    if choice == 0:
        return random_json(rng, 3)
    if choice == 1:
        return {"nested": [[[[{"x": rng.random()}]]]]}
    return copy.deepcopy(rng.choice(ODD_VALUES))


def mutate_json(rng: random.Random, value: bytes) -> bytes | None:
    try:
        doc = json.loads(value)
    except ValueError:
        return None
    doc = copy.deepcopy(doc)
    for _ in range(rng.choice((1, 1, 2, 4))):
        all_paths = list(paths(doc))
        path = rng.choice(all_paths)
        if not path:
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        op = rng.randrange(6)
        if op == 0 and isinstance(parent, dict):
            del parent[path[-1]]
        elif op == 1:  # raw literal in place of a value: 1e400, NaN, deep nesting
            marker = "@@ODD@@"
            parent[path[-1]] = marker
            text = json.dumps(doc, ensure_ascii=rng.random() < 0.5)
            return text.replace(f'"{marker}"', rng.choice(RAW_ODD_VALUES), 1).encode("utf-8", "surrogatepass")
        else:
            parent[path[-1]] = odd_value(rng)
    return json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")


KEYS = ["eventTime", "eventName", "eventSource", "userIdentity", "type", "arn", "awsRegion", "accessKeyId",
        "sessionContext", "sessionIssuer", "attributes", "apiVersion", "kind", "auditID", "stage", "verb",
        "user", "username", "groups", "objectRef", "responseStatus", "code", "sourceIPs", "timestamp",
        "requestReceivedTimestamp", "action", "actor", "target", "outcome", "tenant", "app", "payload",
        "schema", "source", "op", "ts_ms", "before", "after", "Records", "items", "id", "name", "message"]


def random_json(rng: random.Random, depth: int = 4):
    kind = rng.randrange(8 if depth > 0 else 5)
    if kind == 0:
        return rng.choice((None, True, False))
    if kind == 1:
        return rng.choice((0, -1, 2 ** 31, 2 ** 64, rng.randrange(-10 ** 6, 10 ** 6)))
    if kind == 2:
        return rng.choice((rng.random() * 1e12, 1e308, -2.5))
    if kind in (3, 4):
        return rng.choice(("", "2024-11-28T12:09:01Z", "1732795741", "get", "Event", "audit.k8s.io/v1",
                           "ASIAXXXX", "c", "\ud800", "x" * rng.randrange(50)))
    if kind == 5:
        return [random_json(rng, depth - 1) for _ in range(rng.randrange(4))]
    return {rng.choice(KEYS): random_json(rng, depth - 1) for _ in range(rng.randrange(1, 8))}


def generate(rng: random.Random, family: str, pool: list[bytes]) -> bytes:
    r = rng.random()
    if r < 0.05:
        return rng.randbytes(rng.randrange(200))
    if r < 0.15 and family in JSON_FAMILIES:
        return json.dumps(random_json(rng), ensure_ascii=False).encode("utf-8", "surrogatepass")
    seed = rng.choice(pool)
    if family in JSON_FAMILIES and r < 0.6:
        out = mutate_json(rng, seed)
        if out is not None:
            return out
    return mutate_bytes(rng, seed, pool)


class Stall(BaseException):
    """Raised by the alarm in an input that takes longer than --stall seconds (a BaseException,
    so parse()'s `except Exception` does not turn it into a dead letter)."""


def _alarm(_signum, _frame):
    raise Stall


# --- the check --------------------------------------------------------------------------------


def record(family: str, value: bytes, offset: int, tenant: str | None = "acme") -> RawRecord:
    return RawRecord(source=family, value=value, tenant_id=tenant, topic=f"audit.raw.{family}",
                     partition=0, offset=offset, timestamp_ms=NOW_MS, headers={})


def where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    frame = next((f for f in reversed(frames) if "/udfs/" in f.filename), frames[-1] if frames else None)
    return f"{Path(frame.filename).name}:{frame.lineno}" if frame else "?"


def check(norm: normalize.Normalizer, family: str, value: bytes, offset: int) -> tuple[str, str] | None:
    """None when the input ended as one valid event or one dead letter; else (kind, detail)."""
    rec = record(family, value, offset)
    try:
        event = parse(rec, limits=norm.limits)
    except ParseError:
        event = None
    except Exception as e:  # noqa: BLE001 - the failure we look for
        return "escape:parse", f"{type(e).__name__} at {where(e)}: {str(e)[:120]}"
    if event is not None:
        try:
            fastavro.validation.validate(event, EVENT_SCHEMA, raise_errors=True)
        except Exception as e:  # noqa: BLE001
            return "invalid:parse", f"{str(e)[:160]}"
    try:
        kind, _tenant, payload = norm.prepare(rec)
        if kind == "event":
            payload, _state = norm.finish(payload, user_versions=lambda _k: None, chain_state=None,
                                          watermark_ms=None)
            fastavro.validation.validate(payload, EVENT_SCHEMA, raise_errors=True)
        norm.encode(kind, payload)
    except fastavro.validation.ValidationError as e:
        return "invalid:normalize", str(e)[:160]
    except Exception as e:  # noqa: BLE001
        return "escape:normalize", f"{type(e).__name__} at {where(e)}: {str(e)[:120]}"
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="how long to run (default 10)")
    ap.add_argument("--family", choices=FAMILIES, action="append",
                    help="fuzz only this family (repeatable; default: all)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock)")
    ap.add_argument("--every", type=float, default=10.0, help="seconds between progress lines")
    ap.add_argument("--slow", type=float, default=0.5,
                    help="an input taking longer than this many seconds, plus --slow-per-mb for each"
                         " MB it holds, is a failure too (default 0.5)")
    ap.add_argument("--slow-per-mb", type=float, default=2.0,
                    help="seconds allowed per MB of input on top of --slow (default 2: linear work on"
                         " a 1 MiB record; the backtracking patterns found took minutes)")
    ap.add_argument("--stall", type=float, default=10.0,
                    help="abandon an input after this many seconds, as a slow failure (default 10)")
    ap.add_argument("--save", type=Path, metavar="DIR",
                    help="write each distinct failure's whole input to DIR (to reproduce a long one)")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGPROF, _alarm)
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    families = args.family or list(FAMILIES)
    corpus = seeds()
    norm = normalize.Normalizer(SETTINGS)
    failures: dict[tuple[str, str, str], tuple[bytes, int]] = {}
    counts = {"inputs": 0, "escapes": 0, "invalid": 0, "slow": 0}
    start = last = time.monotonic()
    end = start + args.minutes * 60
    print(f"fuzz: seed {seed}, families {', '.join(families)}, {args.minutes} min,"
          f" {sum(len(corpus[f]) for f in families)} seed records", flush=True)
    offset = 0
    while time.monotonic() < end:
        family = rng.choice(families)
        value = generate(rng, family, corpus[family])
        offset += 1
        # CPU time of this process, not wall time: a busy machine must not make an input slow
        began = time.process_time()
        signal.setitimer(signal.ITIMER_PROF, args.stall)
        try:
            problem = check(norm, family, value, offset)
        except Stall:
            problem = ("slow", f"stalled: over {args.stall} s")
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        took = time.process_time() - began
        if problem is None and took > args.slow + args.slow_per_mb * len(value) / 1e6:
            problem = ("slow", f"{took:.2f} s for {len(value)} bytes")
        counts["inputs"] += 1
        if problem is not None:
            kind, detail = problem
            counts["escapes" if kind.startswith("escape") else "slow" if kind == "slow" else "invalid"] += 1
            key = (family, kind, detail.split(":", 1)[0] if kind.startswith("escape")
                   else "" if kind == "slow" else detail[:60])
            if key not in failures or len(value) < len(failures[key][0]):
                failures[key] = (value, failures.get(key, (b"", 0))[1] + 1)
            else:
                failures[key] = (failures[key][0], failures[key][1] + 1)
        now = time.monotonic()
        if now - last >= args.every:
            last = now
            rate = counts["inputs"] / (now - start)
            print(f"  {now - start:6.0f} s  {counts['inputs']:>9} inputs  {rate:7.0f}/s  escapes"
                  f" {counts['escapes']}  invalid {counts['invalid']}  slow {counts['slow']}"
                  f"  distinct {len(failures)}", flush=True)
    elapsed = time.monotonic() - start
    print(f"fuzz: {counts['inputs']} inputs in {elapsed:.0f} s ({counts['inputs'] / elapsed:.0f}/s),"
          f" escapes {counts['escapes']}, invalid events {counts['invalid']}, slow {counts['slow']},"
          f" distinct failures {len(failures)}")
    for (family, kind, where_), (value, n) in sorted(failures.items()):
        print(f"\n[{family}] {kind} {where_} (x{n})")
        print(f"  input repr: {value[:300]!r}{'...' if len(value) > 300 else ''}")
        if len(value) <= 4096:
            print(f"  base64: {base64.b64encode(value).decode()}")
        else:
            head = base64.b64encode(value[:4096]).decode()
            print(f"  ({len(value)} bytes; base64 of the first 4096) {head}")
        print(f"  reproduce: parse(RawRecord(source={family!r}, value=base64.b64decode(...),"
              f" tenant_id='acme', topic='audit.raw.{family}', partition=0, offset=1,"
              f" timestamp_ms={NOW_MS}))")
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            path = args.save / f"{family}-{kind}-{len(value)}.bin"
            path.write_bytes(value)
            print(f"  whole input: {path}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
