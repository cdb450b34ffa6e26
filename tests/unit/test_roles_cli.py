"""`auditflow roles`: what each role may do, printed from roles.toml without any service."""

import json

from click.testing import CliRunner

from auditflow.cli import cli


def run(*args: str, tmp_path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--set", f"stack.data_dir={tmp_path}", "roles", *args])
    return result.exit_code, result.output


def test_a_tenant_writes_only_its_own_raw_prefix_and_the_dead_letters(tmp_path):
    code, out = run("show", "ingest:acme", "--service", "kafka", tmp_path=tmp_path)
    assert code == 0, out
    assert out.splitlines() == [
        "# kafka",
        "ALLOW User:ingest-acme DESCRIBE TOPIC audit.dlq (LITERAL)",
        "ALLOW User:ingest-acme WRITE TOPIC audit.dlq (LITERAL)",
        "ALLOW User:ingest-acme DESCRIBE TOPIC audit.raw.acme. (PREFIXED)",
        "ALLOW User:ingest-acme WRITE TOPIC audit.raw.acme. (PREFIXED)",
    ]


def test_the_sealers_iam_policy_denies_every_delete_in_worm(tmp_path):
    code, out = run("show", "sealer", "--service", "s3", tmp_path=tmp_path)
    assert code == 0, out
    policy = json.loads(out.split("\n", 1)[1])
    [deny] = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert "s3:DeleteObject" in deny["Action"] and "s3:DeleteObjectVersion" in deny["Action"]
    assert deny["Resource"] == ["arn:aws:s3:::worm", "arn:aws:s3:::worm/*"]
    allowed = {a for s in policy["Statement"] if s["Effect"] == "Allow" for a in s["Action"]}
    assert "s3:DeleteObject" in allowed  # in staging only: the deny above wins in worm


def test_the_operator_reads_no_topic(tmp_path):
    code, out = run("show", "operator", "--service", "kafka", tmp_path=tmp_path)
    assert code == 0, out
    assert "READ TOPIC" not in out and "CREATE TOPIC * (LITERAL)" in out


def test_a_tenant_auditors_trino_rules_filter_its_rows(tmp_path):
    code, out = run("show", "tenant-auditor:acme", tmp_path=tmp_path)
    assert code == 0, out
    rules = json.loads(out.split("\n", 1)[1])
    [table] = rules["tables"]
    assert table["filter"] == "tenant_id = 'acme'" and table["privileges"] == ["SELECT"]


def test_an_unknown_role_is_a_usage_error_naming_the_roles(tmp_path):
    code, out = run("show", "bogus", tmp_path=tmp_path)
    assert code == 2 and "unknown role 'bogus'; the roles are admin" in out


def test_list_names_every_role_once(tmp_path):
    code, out = run("list", tmp_path=tmp_path)
    assert code == 0, out
    names = [line.split()[0] for line in out.splitlines()]
    assert "tenant-auditor:<tenant>" in names and len(names) == len(set(names)) == 14
