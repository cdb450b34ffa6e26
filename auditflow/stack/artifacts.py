"""Fetch every non-PyPI part with its ecosystem's own client into the cache directory.

Maven Central parts come from the poms in ``maven/`` through ``mvn dependency:copy-dependencies``
(``-C`` makes Maven fail on a checksum mismatch); SeaweedFS comes from the Go module proxy
(``go mod download`` verifies the module against the checksum database) and is built with
``go build``. A stamp holding the pom's or version's hash marks a finished fetch, so a second
run downloads and copies nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from auditflow.stack.process import StackError

MAVEN_DIR = Path(__file__).with_name("maven")
MAVEN_GROUPS = sorted(p.name.removesuffix(".pom.xml") for p in MAVEN_DIR.glob("*.pom.xml"))

# SeaweedFS publishes no semver tags, so a pseudo-version pins one commit. Its go.mod carries a
# `replace` (go-bip39 moved), which `go install module@version` refuses; building inside the
# downloaded, checksum-verified module directory honours it.
SEAWEEDFS_MODULE = "github.com/seaweedfs/seaweedfs"
SEAWEEDFS_VERSION = "v0.0.0-20261109003541-7506e5f91cd6"

Say = Callable[[str], None]


def _stamp_ok(dest: Path, digest: str) -> bool:
    stamp = dest / ".complete"
    return stamp.exists() and stamp.read_text().strip() == digest


def _mark(dest: Path, digest: str) -> None:
    (dest / ".complete").write_text(digest + "\n")


def _run_client(cmd: list[str], what: str, client: str, say: Say, env: dict | None = None) -> str:
    """Run a package client, echo its download lines as progress, fail with one clear line."""
    if shutil.which(cmd[0]) is None:
        raise StackError(f"{what}: the {client} client ({cmd[0]}) is not installed or not on PATH")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})},
    )
    out: list[str] = []
    assert proc.stdout
    for line in proc.stdout:
        out.append(line)
        if line.startswith("Downloaded from") or line.startswith("go: downloading"):
            say("  " + re.sub(r"\x1b\[[0-9;]*m", "", line.rstrip()))
    if proc.wait() != 0:
        raise StackError(f"{what}: {client} failed: {_reason(''.join(out))}")
    return "".join(out)


def _reason(output: str) -> str:
    """The most telling line of a failed client's output."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", output)
    patterns = [
        r"Could not (?:resolve|transfer|find) [^\n]*", r"[^\n]*Checksum validation failed[^\n]*",
        r"[^\n]*(?:dial tcp|no such host|connection refused|i/o timeout)[^\n]*",
        r"\[ERROR\] [^\n]+", r"go: [^\n]+",
    ]
    for pat in patterns:
        m = re.search(pat, text)
        if m:
            return m.group(0).strip()[:400]
    return text.strip().splitlines()[-1][:400] if text.strip() else "no output"


def fetch_maven(group: str, cache_dir: Path, say: Say) -> Path:
    pom = MAVEN_DIR / f"{group}.pom.xml"
    dest = cache_dir / "maven" / group
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    if _stamp_ok(dest, digest):
        return dest
    say(f"fetching {group} from Maven Central (mvn)")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    cmd = [
        "mvn", "-B", "-C", "-f", str(pom), "dependency:copy-dependencies",
        f"-DoutputDirectory={dest}", "-DincludeScope=runtime",
    ]
    _run_client(cmd, f"Maven artifacts of {group} ({pom.name})", "mvn", say)
    _mark(dest, digest)
    return dest


def fetch_seaweedfs(cache_dir: Path, say: Say) -> Path:
    binary = cache_dir / "bin" / f"weed-{SEAWEEDFS_VERSION}"
    if binary.exists():
        return binary
    what = f"SeaweedFS {SEAWEEDFS_MODULE}@{SEAWEEDFS_VERSION}"
    say(f"fetching {what} from the Go module proxy (go), then building it (a few minutes)")
    out = _run_client(
        ["go", "mod", "download", "-json", f"{SEAWEEDFS_MODULE}@{SEAWEEDFS_VERSION}"],
        what, "go", say,
    )
    module_dir = json.loads(out[out.index("{"):])["Dir"]
    binary.parent.mkdir(parents=True, exist_ok=True)
    tmp = binary.with_suffix(".partial")
    _run_client(["go", "build", "-C", module_dir, "-o", str(tmp), "./weed"], what, "go", say)
    tmp.rename(binary)
    return binary


def extract(archive: Path, dest: Path, say: Say, strip_top: bool = True) -> Path:
    """Unpack a tar.gz or zip once into dest (skipped when dest is complete)."""
    digest = f"{archive.name} {archive.stat().st_size}"
    if _stamp_ok(dest, digest):
        return dest
    say(f"unpacking {archive.name}")
    if dest.exists():
        shutil.rmtree(dest)
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(tmp, filter="tar")
    entries = list(tmp.iterdir())
    src = entries[0] if strip_top and len(entries) == 1 and entries[0].is_dir() else tmp
    src.rename(dest)
    shutil.rmtree(tmp, ignore_errors=True)
    _mark(dest, digest)
    return dest


def one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise StackError(f"expected one {pattern} in {folder}, found {len(found)}")
    return found[0]


def fetch_all(cache_dir: Path, say: Say, trino: bool = True) -> dict[str, Path]:
    groups = [g for g in MAVEN_GROUPS if trino or g != "trino"]
    paths = {g: fetch_maven(g, cache_dir, say) for g in groups}
    paths["seaweedfs"] = fetch_seaweedfs(cache_dir, say)
    return paths
