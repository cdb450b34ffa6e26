"""The end-to-end smoke path, as a user runs it with `auditflow smoke`."""

from __future__ import annotations

from click.testing import CliRunner

from auditflow import smoke
from auditflow.cli import cli


def test_smoke_counts_match_end_to_end(stack, cfg):
    result = smoke.run(cfg, 500, print)
    assert result.problems == []
    assert result.counts["produced (acked)"] == 500
    assert result.counts["duckdb rows"] == 500
    assert result.counts["trino rows"] == 500
    assert result.counts["worm refusals"] == "delete and retention shortening refused"


def test_smoke_command_prints_matching_counts(stack):
    out = CliRunner().invoke(cli, ["smoke", "-n", "50"])
    assert out.exit_code == 0, out.output
    assert "OK: all counts equal 50" in out.output
