"""The package as a user installs it: `pip install` (not -e) of the checkout into a fresh venv,
then the CLI run from another directory, finding its SQL, schemas, connector configs, poms and
defaults in site-packages through auditflow.paths.

The venv gets the dependencies this test runs with through a .pth line naming their
site-packages (a plain path: the .pth files there, the checkout's editable finder among them,
are not run), so the install itself is `--no-deps` and takes seconds, while nothing of the
checkout is importable: every test checks where the code it ran came from.

The last test runs `auditflow smoke` from the install against the test stack.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from udfs.detect import rules as R

REPO = Path(__file__).resolve().parents[2]


def data_files(root: Path, folder: str) -> list[str]:
    """Files under root/folder as root-relative paths, without caches and dotfiles (.gitkeep)."""
    return sorted(
        str(p.relative_to(root)) for p in (root / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")
        and p.suffix != ".pyc"
    )


class Installed:
    def __init__(self, venv: Path, workdir: Path):
        self.venv, self.workdir = venv, workdir
        self.bin = venv / "bin"
        self.site = Path(subprocess.run(
            [str(self.bin / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True, env=self.env()).stdout.strip()).resolve()

    def env(self) -> dict[str, str]:
        # nothing from the caller that could point at the checkout or change the defaults
        drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
        return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("AUDITFLOW_")}

    def run(self, *cmd: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout,
                              cwd=self.workdir, env=env or self.env())

    def auditflow(self, *args: str, timeout: float = 300,
                  env: dict | None = None) -> subprocess.CompletedProcess:
        r = self.run(str(self.bin / "auditflow"), *args, timeout=timeout, env=env)
        assert r.returncode == 0, (f"auditflow {' '.join(args)} failed ({r.returncode}):\n"
                                   f"{r.stdout}\n{r.stderr}")
        return r

    def python(self, code: str) -> subprocess.CompletedProcess:
        r = self.run(str(self.bin / "python"), "-c", code)
        assert r.returncode == 0, f"python -c failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
        return r


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    base = tmp_path_factory.mktemp("installed")
    # build from a clean copy of what the build reads: a build/ folder left in the checkout by an
    # earlier build would otherwise put its stale files into the wheel
    src = base / "src"
    src.mkdir()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    tops = {p.split(".")[0] for p in project["tool"]["setuptools"]["packages"]}
    for name in sorted(tops):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)

    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    inst = Installed(venv, base / "work")
    inst.workdir.mkdir()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (inst.site / "zz_auditflow_test_deps.pth").write_text("".join(f"{d}\n" for d in sorted(deps)))
    r = inst.run(str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps",
                 "--disable-pip-version-check", "-q", str(src), timeout=900)
    assert r.returncode == 0, f"pip install {src} failed:\n{r.stdout}\n{r.stderr}"
    return inst


def test_code_comes_from_the_install(installed):
    out = json.loads(installed.python(
        "import json, auditflow, auditflow.paths, auditflow.cli, udfs.normalize, jobs, connectors.ingest\n"
        "print(json.dumps({'auditflow': list(auditflow.__path__), 'root': str(auditflow.paths.ROOT),\n"
        "  'files': [m.__file__ for m in (auditflow.paths, auditflow.cli, udfs.normalize, jobs,"
        " connectors.ingest)]}))"
    ).stdout)
    assert [Path(p).resolve() for p in out["auditflow"]] == [installed.site / "auditflow"]
    assert Path(out["root"]) == installed.site
    for f in out["files"]:
        assert Path(f).resolve().is_relative_to(installed.site), f
        assert not Path(f).resolve().is_relative_to(REPO), f


def test_every_path_constant_exists_and_data_matches_checkout(installed):
    out = json.loads(installed.python(
        "import json\nfrom pathlib import Path\nfrom auditflow import paths\n"
        "print(json.dumps({'consts': {k: str(v) for k, v in vars(paths).items()"
        " if k.isupper() and isinstance(v, Path)}, 'pyfs': list(paths.PYFS)}))"
    ).stdout)
    assert out["consts"], "auditflow.paths defines no paths"
    for name, value in out["consts"].items():
        path = Path(value)
        assert path.exists(), f"paths.{name} = {path} is missing from the install"
        assert path.resolve().is_relative_to(installed.site), f"paths.{name} = {path} is not in the install"
    for folder in out["pyfs"]:
        assert (installed.site / folder).is_dir(), f"-pyfs folder {folder} is missing from the install"

    # the shipped data is what the checkout has: no rule, view, schema, pom or config left behind
    for folder in ("sql", "schemas", "connectors", "jobs", "udfs", "auditflow"):
        assert data_files(installed.site, folder) == data_files(REPO, folder), folder


def test_help(installed):
    r = installed.auditflow("--help")
    for command in ("stack", "rules", "smoke", "config"):
        assert command in r.stdout


def test_rules_list_finds_the_shipped_rules(installed):
    rows = json.loads(installed.auditflow("rules", "list", "--json").stdout)
    expected = [r.id for r in R.discover(REPO / "sql" / "detections")]
    assert expected, "the checkout has no detection rules"
    assert [row["id"] for row in rows] == expected
    for row in rows:
        assert Path(row["file"]).resolve().is_relative_to(installed.site / "sql" / "detections"), row["file"]
    # the table a person reads lists them too
    table = installed.auditflow("rules", "list").stdout
    assert all(rule_id in table for rule_id in expected)


def test_config_show_reads_the_shipped_defaults(installed):
    r = installed.auditflow("config", "show")
    assert "defaults (defaults.toml)" in r.stdout
    assert "[stack]" in r.stdout


# `flink run` of the bounded job may take up to its own 900 s limit (auditflow.flink.submit)
@pytest.mark.timeout(1200)
def test_smoke_from_the_install(installed, stack, smoke_run):
    # the test stack's settings (ports, data dir) come from the AUDITFLOW_ environment
    env = {**installed.env(), **{k: v for k, v in os.environ.items() if k.startswith("AUDITFLOW_")}}
    r = installed.auditflow("smoke", "-n", "40", timeout=1100, env=env)
    assert "OK: all counts equal 40" in r.stdout + r.stderr
