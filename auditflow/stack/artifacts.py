"""Fetch every non-PyPI part with its ecosystem's own client into the cache, and check each file
against the SHA-256 pinned in ``artifacts.lock``.

The poms in ``maven/`` say what the stack asks for; ``artifacts.lock`` lists every file they
resolve to, transitive jars included, with its coordinates and SHA-256. A normal fetch asks
Maven for exactly the locked files (one flat pom per group, nothing transitive), so a POM the
registry does not serve cannot lose a jar, and Maven's own checksum check is only a warning
(``-c``): a registry here may serve a jar without its ``.sha1``, and our check is stronger.
Every file is checked after each download and again on every ``stack up``; a mismatch stops
with one line naming the artifact and both hashes. ``auditflow stack fetch --update-lock``
resolves the poms afresh and rewrites the lock; nothing else writes it.

SeaweedFS comes from the Go module proxy (``go mod download`` verifies the module against the
Go checksum database) and is built with ``go build``; the binary's SHA-256 is kept in its stamp.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from auditflow import paths
from auditflow.stack.process import StackError

MAVEN_DIR = paths.MAVEN
LOCK_FILE = paths.STACK / "artifacts.lock"
MAVEN_GROUPS = sorted(p.name.removesuffix(".pom.xml") for p in MAVEN_DIR.glob("*.pom.xml"))
# the plugin that copies the locked files; pinned like everything else Maven runs here
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

# SeaweedFS publishes no semver tags, so a pseudo-version pins one commit. Its go.mod carries a
# `replace` (go-bip39 moved), which `go install module@version` refuses; building inside the
# downloaded, checksum-verified module directory honours it.
SEAWEEDFS_MODULE = "github.com/seaweedfs/seaweedfs"
SEAWEEDFS_VERSION = "v0.0.0-20261109003541-7506e5f91cd6"

Say = Callable[[str], None]


@dataclass(frozen=True)
class Locked:
    """One pinned file: Maven coordinates as ``group:artifact:type[:classifier]:version``."""

    coords: str
    file: str
    sha256: str

    def parts(self) -> tuple[str, str, str, str, str]:
        f = self.coords.split(":")
        g, a, t = f[0], f[1], f[2]
        classifier, version = (f[3], f[4]) if len(f) == 5 else ("", f[3])
        return g, a, t, classifier, version


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def load_lock(lock_file: Path = LOCK_FILE) -> dict[str, dict]:
    """The lock as {group: {"pom_sha256": str, "artifacts": [Locked, ...]}}."""
    if not lock_file.exists():
        raise StackError(f"{lock_file} is missing; `auditflow stack fetch --update-lock` writes it")
    data = tomllib.loads(lock_file.read_text())
    return {
        group: {"pom_sha256": entry["pom_sha256"],
                "artifacts": [Locked(a["coords"], a["file"], a["sha256"]) for a in entry["artifact"]]}
        for group, entry in data.items()
    }


def write_lock(lock: dict[str, dict], lock_file: Path = LOCK_FILE) -> None:
    lines = [
        "# Every non-PyPI file the local stack uses: Maven coordinates and SHA-256.",
        "# Written by `auditflow stack fetch --update-lock` from the poms in maven/; a normal fetch",
        "# downloads exactly these files and refuses any whose hash differs. Do not edit by hand.",
    ]
    for group in sorted(lock):
        lines += ["", f'["{group}"]', f'pom_sha256 = "{lock[group]["pom_sha256"]}"']
        for a in sorted(lock[group]["artifacts"], key=lambda x: x.file):
            lines += ["", f'[["{group}".artifact]]', f'coords = "{a.coords}"', f'file = "{a.file}"',
                      f'sha256 = "{a.sha256}"']
    lock_file.write_text("\n".join(lines) + "\n")


def check_file(path: Path, a: Locked, remedy: str = "") -> None:
    """Refuse a missing or altered file with one line naming the artifact and both hashes."""
    if not path.is_file():
        raise StackError(f"artifact {a.coords}: {path} is missing; run `auditflow stack fetch`")
    actual = sha256_of(path)
    if actual != a.sha256:
        remedy = remedy or f"delete {path.parent} and run `auditflow stack fetch` to download it again"
        raise StackError(f"artifact {a.coords} ({path}): SHA-256 mismatch, expected {a.sha256}, "
                         f"actual {actual}; refusing it ({remedy})")


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
        plain = re.sub(r"^\[INFO\] ", "", re.sub(r"\x1b\[[0-9;]*m", "", line.rstrip()))
        if plain.startswith("Downloaded from") or plain.startswith("go: downloading"):
            say("  " + plain)
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


def flat_pom(group: str, locked: list[Locked]) -> str:
    """A pom asking for exactly the locked files, each without its transitive dependencies."""
    deps = []
    for a in locked:
        g, art, t, classifier, version = (escape(p) for p in a.parts())
        deps.append(
            f"    <dependency><groupId>{g}</groupId><artifactId>{art}</artifactId>"
            f"<version>{version}</version><type>{t}</type>"
            + (f"<classifier>{classifier}</classifier>" if classifier else "")
            + "<exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion>"
            "</exclusions></dependency>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n  <modelVersion>4.0.0</modelVersion>\n'
        f"  <groupId>io.auditflow.stack.locked</groupId><artifactId>{escape(group)}</artifactId>"
        "<version>1</version><packaging>pom</packaging>\n  <dependencies>\n"
        + "\n".join(deps) + "\n  </dependencies>\n</project>\n"
    )


def _pom_sha256(group: str) -> str:
    return sha256_of(MAVEN_DIR / f"{group}.pom.xml")


def _locked_group(group: str, lock: dict[str, dict]) -> list[Locked]:
    pom = MAVEN_DIR / f"{group}.pom.xml"
    entry = lock.get(group)
    if entry is None:
        raise StackError(f"{pom.name} has no entry in {LOCK_FILE.name}; run `auditflow stack fetch "
                         "--update-lock` to resolve it and pin its files")
    if entry["pom_sha256"] != _pom_sha256(group):
        raise StackError(f"{pom.name} changed since {LOCK_FILE.name} was written; run `auditflow stack "
                         "fetch --update-lock` to resolve it again and pin its files")
    return entry["artifacts"]


def fetch_maven(group: str, cache_dir: Path, say: Say, lock: dict[str, dict] | None = None) -> Path:
    return fetch_maven_groups([group], cache_dir, say, lock)[group]


def fetch_maven_groups(groups: list[str], cache_dir: Path, say: Say,
                       lock: dict[str, dict] | None = None) -> dict[str, Path]:
    """Each group's locked files in its cache folder, every file checked against its SHA-256
    (also when cached). What is missing comes in one Maven run: a JVM start per group would
    cost ~25 s each."""
    lock = load_lock() if lock is None else lock
    wanted = {g: _locked_group(g, lock) for g in groups}
    dests = {g: cache_dir / "maven" / g for g in groups}
    digests = {g: hashlib.sha256(json.dumps([a.__dict__ for a in wanted[g]], sort_keys=True)
                                 .encode()).hexdigest() for g in groups}
    stale = [g for g in groups if not _stamp_ok(dests[g], digests[g])]
    for g in groups:
        if g not in stale:
            _check_group(dests[g], wanted[g], g)
    if not stale:
        return dests
    union = {a.coords: a for g in stale for a in wanted[g]}
    if len({a.file for a in union.values()}) != len(union):
        raise StackError(f"{LOCK_FILE.name}: two artifacts of {', '.join(stale)} share a file name")
    # Maven keeps one version of an artifact per pom (groups may lock different ones), so the
    # files are split into as few flat poms as that allows: usually one or two Maven runs
    layers: list[dict[tuple[str, ...], Locked]] = []
    for a in union.values():
        g, art, t, classifier, _version = a.parts()
        key = (g, art, t, classifier)
        layer = next((x for x in layers if key not in x), None)
        if layer is None:
            layers.append(layer := {})
        layer[key] = a
    say(f"fetching {', '.join(stale)} from Maven Central (mvn): {len(union)} files")
    download = cache_dir / "maven" / ".download"
    shutil.rmtree(download, ignore_errors=True)
    download.mkdir(parents=True)
    what = f"Maven artifacts of {', '.join(stale)} ({', '.join(g + '.pom.xml' for g in stale)})"
    pom = download / "pom.xml"
    for layer in layers:
        pom.write_text(flat_pom("locked", list(layer.values())))
        cmd = ["mvn", "-B", "-c", "-f", str(pom), f"{DEPENDENCY_PLUGIN}:copy-dependencies",
               f"-DoutputDirectory={download}", "-DincludeScope=runtime"]
        _run_client(cmd, what, "mvn", say)
    pom.unlink()
    for a in union.values():
        check_file(download / a.file, a, remedy=(
            "the registry served other bytes than the lock pins; Maven's copy is under "
            "~/.m2/repository; update the lock only once you know why"))
    for g in stale:
        tmp = dests[g].with_name(g + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for a in wanted[g]:
            try:
                os.link(download / a.file, tmp / a.file)
            except OSError:
                shutil.copy2(download / a.file, tmp / a.file)
        shutil.rmtree(dests[g], ignore_errors=True)
        tmp.rename(dests[g])
        _mark(dests[g], digests[g])
    shutil.rmtree(download)
    return dests


def _check_group(folder: Path, locked: list[Locked], group: str) -> None:
    for a in locked:
        check_file(folder / a.file, a)
    extra = sorted({p.name for p in folder.iterdir() if not p.name.startswith(".")}
                   - {a.file for a in locked})
    if extra:
        raise StackError(f"{folder}: files not in {LOCK_FILE.name} for {group}: {', '.join(extra)}; "
                         f"delete {folder} and run `auditflow stack fetch`")


_LISTED = re.compile(
    r"^\s*([^:\s]+):([^:\s]+):([^:\s]+):(?:([^:\s]+):)?([^:\s]+):(?:compile|runtime|provided|system)"
    r":(/[^\s]+)"
)


def resolve_group(group: str, say: Say) -> list[Locked]:
    """Resolve a hand-written pom with its transitive dependencies: the files it stands for."""
    pom = MAVEN_DIR / f"{group}.pom.xml"
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "resolved.txt"
        out = _run_client(
            ["mvn", "-B", "-c", "-f", str(pom), f"{DEPENDENCY_PLUGIN}:list", "-DincludeScope=runtime",
             "-DoutputAbsoluteArtifactFilename=true", f"-DoutputFile={listing}"],
            f"Maven artifacts of {group} ({pom.name})", "mvn", say,
        )
        text = listing.read_text()
    for missing in sorted(set(re.findall(r"The POM for (\S+) is (?:missing|invalid)", out))):
        say(f"  warning: the registry serves no POM for {missing}; its own dependencies (if any) "
            f"are not resolved — add them to {pom.name} if it needs them")
    locked = []
    for line in text.splitlines():
        m = _LISTED.match(line)
        if not m:
            continue
        g, a, t, classifier, version, file = m.groups()
        coords = ":".join(p for p in (g, a, t, classifier, version) if p)
        locked.append(Locked(coords, Path(file).name, sha256_of(Path(file))))
    if not locked:
        raise StackError(f"{pom.name}: mvn dependency:list resolved no files")
    return locked


def update_lock(say: Say) -> dict[str, tuple[int, int, int]]:
    """Resolve every pom afresh and rewrite the lock; returns (added, removed, changed) per group."""
    old = {}
    if LOCK_FILE.exists():
        old = {g: {a.file: a for a in e["artifacts"]} for g, e in load_lock().items()}
    lock, changes = {}, {}
    for group in MAVEN_GROUPS:
        say(f"resolving {group}")
        locked = resolve_group(group, say)
        lock[group] = {"pom_sha256": _pom_sha256(group), "artifacts": locked}
        before, now = old.get(group, {}), {a.file: a for a in locked}
        changed = sum(1 for f in now.keys() & before.keys() if now[f] != before[f])
        changes[group] = (len(now.keys() - before.keys()), len(before.keys() - now.keys()), changed)
    write_lock(lock)
    return changes


def fetch_seaweedfs(cache_dir: Path, say: Say) -> Path:
    """The weed binary, built once; its SHA-256 kept beside it and checked on every fetch."""
    binary = cache_dir / "bin" / f"weed-{SEAWEEDFS_VERSION}"
    stamp = binary.with_name(binary.name + ".sha256")
    what = f"SeaweedFS {SEAWEEDFS_MODULE}@{SEAWEEDFS_VERSION}"
    if binary.exists() and not stamp.exists():
        # built by an auditflow from before the stamp: record it now, check it from here on
        stamp.write_text(f"{sha256_of(binary)}  {binary.name}\n")
    if binary.exists():
        expected, actual = stamp.read_text().split()[0], sha256_of(binary)
        if actual != expected:
            raise StackError(f"{what} ({binary}): SHA-256 mismatch, expected {expected} (recorded when "
                             f"it was built), actual {actual}; refusing it (delete it to build it again)")
        return binary
    say(f"fetching {what} from the Go module proxy (go), then building it (a few minutes)")
    out = _run_client(
        ["go", "mod", "download", "-json", f"{SEAWEEDFS_MODULE}@{SEAWEEDFS_VERSION}"],
        what, "go", say,
    )
    module_dir = json.loads(out[out.index("{"):])["Dir"]
    binary.parent.mkdir(parents=True, exist_ok=True)
    tmp = binary.with_name(binary.name + ".partial")
    _run_client(["go", "build", "-C", module_dir, "-o", str(tmp), "./weed"], what, "go", say)
    stamp.write_text(f"{sha256_of(tmp)}  {binary.name}\n")
    tmp.rename(binary)
    return binary


def extract(archive: Path, dest: Path, say: Say, strip_top: bool = True) -> Path:
    """Unpack a tar.gz or zip once into dest (skipped when dest holds this archive's contents).
    The archive itself was checked against the lock by the fetch that found it; its name
    carries the locked version, so name and size identify it without hashing it again."""
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
    found = fetch_maven_groups(groups, cache_dir, say)
    found["seaweedfs"] = fetch_seaweedfs(cache_dir, say)
    return found
