"""`auditflow stack up` refuses an altered cached artifact before it starts anything.

Runs the real CLI over a copy of the real artifact cache (symlinks to the fetched files, one
file copied and changed by one byte), with a data directory of its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from auditflow import config
from auditflow.stack import artifacts


def mirror_cache(real: Path, dest: Path) -> None:
    """dest looks like the real cache: same stamps, every file a symlink to the real one."""
    for group in artifacts.MAVEN_GROUPS:
        src = real / "maven" / group
        (dest / "maven" / group).mkdir(parents=True)
        for f in src.iterdir():
            target = dest / "maven" / group / f.name
            if f.name.startswith("."):
                shutil.copy(f, target)
            else:
                target.symlink_to(f)
    (dest / "bin").mkdir()
    for f in (real / "bin").iterdir():
        (dest / "bin" / f.name).symlink_to(f)


def stack_up(cache: Path, data: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "AUDITFLOW_STACK__CACHE_DIR": str(cache), "AUDITFLOW_STACK__DATA_DIR": str(data)}
    return subprocess.run([sys.executable, "-m", "auditflow.cli", "stack", "up"], env=env,
                          capture_output=True, text=True, timeout=300)


def test_one_changed_byte_in_a_cached_artifact_stops_stack_up(tmp_path):
    real = config.load().path("stack.cache_dir")
    lock_before = artifacts.LOCK_FILE.read_bytes()
    # the real cache must be complete and intact first (this fetches it when it is not)
    artifacts.fetch_all(real, lambda _m: None)
    cache = tmp_path / "cache"
    mirror_cache(real, cache)
    victim = artifacts.load_lock()["flink-s3"]["artifacts"][0]
    jar = cache / "maven" / "flink-s3" / victim.file
    data = bytearray(jar.read_bytes())
    jar.unlink()
    data[len(data) // 2] ^= 0x01
    jar.write_bytes(bytes(data))

    proc = stack_up(cache, tmp_path / "data")
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    line = next(x for x in err if x.startswith("error: artifact "))
    assert line.startswith(f"error: artifact {victim.coords} ({jar}): SHA-256 mismatch, expected "
                           f"{victim.sha256}, actual {artifacts.sha256_of(jar)}")
    # refused before anything started: no service wrote a pid file
    assert not list((tmp_path / "data" / "run").glob("*.pid"))
    # a normal fetch never rewrites the lock
    assert artifacts.LOCK_FILE.read_bytes() == lock_before


def test_a_changed_weed_binary_stops_stack_up(tmp_path):
    real = config.load().path("stack.cache_dir")
    artifacts.fetch_all(real, lambda _m: None)
    cache = tmp_path / "cache"
    mirror_cache(real, cache)
    weed = cache / "bin" / f"weed-{artifacts.SEAWEEDFS_VERSION}"
    data = bytearray(weed.read_bytes())
    weed.unlink()
    data[-1] ^= 0x01
    weed.write_bytes(bytes(data))

    proc = stack_up(cache, tmp_path / "data")
    assert proc.returncode != 0
    assert f"SeaweedFS {artifacts.SEAWEEDFS_MODULE}@{artifacts.SEAWEEDFS_VERSION} ({weed}): SHA-256 " \
           "mismatch" in proc.stderr
    assert not list((tmp_path / "data" / "run").glob("*.pid"))
