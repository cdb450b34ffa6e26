"""`auditflow rules import-sigma` over the 82 vendored SigmaHQ rules (tests/fixtures/sigma): the
exact number that compile, the named reason of each that does not, Flink planning every compiled
query (one local mini-cluster), and the committed sql/detections/sigma/ being that output.
Also: imported rules without fixture cases are pending (not tested, not deployed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from auditflow import rules_runner
from udfs.detect import fixtures as F
from udfs.detect import rules as R

ROOT = Path(__file__).resolve().parents[2]
SIGMA = ROOT / "tests" / "fixtures" / "sigma"
COMMITTED = ROOT / "sql" / "detections" / "sigma"
UNSUPPORTED = {
    "linux/auditd/syscall/lnx_auditd_clean_disable_dmesg_logs_via_syslog.yml":
        "selection: a0 of a SYSCALL record (syscall arguments) are not kept by the auditd parser;"
        " only EXECVE arguments are",
    "linux/auditd/service_stop/lnx_auditd_disable_system_firewall.yml":
        "field 'unit': not kept by the auditd parser (udfs/parse/auditd.py) in a column of the events view",
}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "auditflow.cli", "rules", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("sigma")
    proc = cli("import-sigma", str(SIGMA), "--output", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(proc.stdout)


def test_82_rules_80_compile_and_each_other_has_its_reason(imported):
    out, results = imported
    assert len(results) == 82
    compiled = [r for r in results if r["status"].startswith("compiled")]
    assert len(compiled) == 80  # >= 90 % (74 of 82)
    assert {r["file"]: r["reason"] for r in results if r["status"] == "unsupported"} == UNSUPPORTED
    added = {r["file"]: r["added_mappings"] for r in compiled if r["added_mappings"]}
    assert added == {
        "application/kubernetes/audit/kubernetes_audit_hostpath_mount.yml": ["hostPath"],
        "application/kubernetes/audit/kubernetes_audit_privileged_pod_creation.yml": ["capabilities"],
    }
    by_source: dict[str, int] = {}
    for r in compiled:
        by_source[r["logsource"]] = by_source.get(r["logsource"], 0) + 1
    assert by_source == {"aws/cloudtrail": 32, "kubernetes/audit": 8, "linux/auditd": 30, "linux": 6,
                         "linux/cron": 1, "linux/sshd": 1, "linux/syslog": 1, "linux/vsftpd": 1}
    assert len(list(out.glob("*.sql"))) == 80 and len(list(out.glob("*.fixtures.yaml"))) == 80


def test_the_committed_import_is_this_output(imported):
    out, _ = imported
    fresh = {p.name: p.read_text() for p in out.glob("*.sql")}
    committed = {p.name: p.read_text() for p in COMMITTED.glob("*.sql")}
    assert sorted(fresh) == sorted(committed)
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"re-run `auditflow rules import-sigma tests/fixtures/sigma`: {stale}"
    for name in fresh:  # every imported rule has fixtures, filled in or still the skeleton
        assert (COMMITTED / name).with_suffix("").with_suffix(".fixtures.yaml").exists(), name


def test_flink_plans_every_compiled_rule(imported):
    out, _ = imported
    rules = [R.load_rule(p) for p in sorted(out.glob("*.sql"))]
    assert len(rules) == 80
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "events.json"
        empty.write_text("")
        t_env = rules_runner.local_table_env()
        rules_runner.create_events(t_env, rules_runner.fixture_source_options(empty),
                                   rules_runner.FIXTURE_OUT_OF_ORDERNESS_MS)
        failures = []
        for rule in rules:
            try:
                plan = rules_runner.validate(t_env, rule)  # EXPLAIN of the rule as the job runs it
            except R.RuleError as exc:
                failures.append(str(exc))
                continue
            assert "== Optimized Execution Plan ==" in plan and "audit_events" in plan, rule.id
    assert failures == []


def test_rerun_keeps_fixtures_that_were_filled_in(tmp_path):
    one = SIGMA / "cloud" / "aws" / "cloudtrail" / "aws_cloudtrail_disable_logging.yml"
    assert cli("import-sigma", str(one), "-o", str(tmp_path)).returncode == 0
    fixtures = tmp_path / "SIGMA-4DB60CC036FB_aws_cloudtrail_disable_logging.fixtures.yaml"
    fixtures.write_text("cases: [{name: filled}]\n")
    assert cli("import-sigma", str(one), "-o", str(tmp_path)).returncode == 0
    assert fixtures.read_text() == "cases: [{name: filled}]\n"


def test_bad_input_gives_one_line(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.yml").write_text("title: x\nlogsource: {product: aws}\ndetection: [1\n")
    (tmp_path / "in" / "nodetection.yml").write_text("title: x\nlogsource: {product: aws}\n")
    proc = cli("import-sigma", str(tmp_path / "in"), "-o", str(tmp_path / "out"))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == "Error: none of the 2 Sigma rule(s) compiled"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("FAIL")]
    assert len(lines) == 2 and "Traceback" not in proc.stderr
    assert lines[0].startswith("FAIL bad.yml  not valid Sigma YAML: while parsing a flow sequence")
    assert lines[1].startswith("FAIL nodetection.yml  not a valid Sigma rule: ")
    assert not (tmp_path / "out").exists()
    proc = cli("import-sigma", str(tmp_path / "missing.yml"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_skeleton_fixtures_make_an_imported_rule_pending_not_a_hand_written_one(tmp_path):
    one = SIGMA / "cloud" / "aws" / "cloudtrail" / "aws_cloudtrail_disable_logging.yml"
    assert cli("import-sigma", str(one), "-o", str(tmp_path)).returncode == 0
    [rule] = [R.load_rule(p) for p in tmp_path.glob("*.sql")]
    assert rule.sigma_id == "4db60cc0-36fb-42b7-9b58-a5b53019fb74"
    assert F.load_fixtures(rule) == [] and F.is_pending(rule)
    plain = tmp_path / "TEST-001_x.sql"
    plain.write_text(rule.path.read_text().replace(rule.id, "TEST-001").split("-- sigma_id")[0]
                     + "SELECT * FROM events")
    plain.with_suffix("").with_suffix(".fixtures.yaml").write_text("cases: []\n")
    with pytest.raises(R.RuleError, match="needs at least one positive case"):
        F.load_fixtures(R.load_rule(plain))


def test_discovery_finds_the_imported_rules_and_the_job_skips_pending_ones():
    rules = R.discover(rules_runner.RULES_DIR)
    imported = [r for r in rules if r.sigma_id]
    # the 80 SigmaHQ rules, and this project's own correlations (tests/unit/test_sigma_correlation.py)
    by_dir: dict[Path, int] = {}
    for r in imported:
        by_dir[r.path.parent] = by_dir.get(r.path.parent, 0) + 1
    assert by_dir == {COMMITTED: 80, COMMITTED / "correlations": 6}

    class Cfg:
        def get(self, key):
            return {"detect.rules_dir": "", "detect.rules": ["*"], "detect.disabled": []}[key]

    enabled = {r.id for r in rules_runner.enabled_rules(Cfg())}
    assert enabled == {r.id for r in rules if not F.is_pending(r)}
    assert {r.id for r in rules if not r.sigma_id} <= enabled
