"""No secret of the stack shows where someone else could read it (issue #14, item 7): in a
process's command line, a log line, a file others can read, or `config show`."""

from __future__ import annotations

import pytest
import secrets_support as ss

from auditflow import credentials, demo


@pytest.fixture(scope="module")
def stack_secrets(stack, cfg):
    found = ss.stack_secrets(cfg)
    # every role's secret at least (stack up makes them), else this module checks nothing
    assert len(found) >= len(credentials.all_roles()), sorted(credentials.directory(cfg).iterdir())
    return found


def test_no_command_line_holds_a_secret(stack_secrets):
    lines = ss.command_lines()
    assert any("kafka.Kafka" in ln for ln in lines)  # the stack's own processes are among them
    assert [ln[:300] for ln in lines if any(s in ln for s in stack_secrets)] == []


def test_no_log_holds_a_secret(stack_secrets, cfg):
    data_dir = cfg.path("stack.data_dir")
    logs = [data_dir / "logs", data_dir / "flink" / "log"]
    assert all(d.is_dir() for d in logs), logs
    assert [hit for d in logs for hit in ss.files_showing(d, stack_secrets, False)] == []


def test_no_file_others_can_read_holds_a_secret(stack_secrets, cfg):
    assert ss.files_showing(cfg.path("stack.data_dir"), stack_secrets, True) == []


def test_config_show_holds_no_secret(stack_secrets):
    r = demo.cli([], "config", "show")
    assert r.returncode == 0, r.stderr
    assert [s[:4] + "…" for s in stack_secrets if s in r.stdout + r.stderr] == []
