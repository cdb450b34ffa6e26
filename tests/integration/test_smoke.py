"""The end-to-end smoke path, as a user runs it with `auditflow smoke`.

`auditflow smoke` names its own topic (audit.smoke.<run>) and runs a bounded Flink job; the
fixtures delete the topics and the job's checkpoint folder that appear during each test."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from auditflow import smoke
from auditflow.cli import cli


# `flink run` of the bounded job may take up to its own 900 s limit (auditflow.flink.submit)
@pytest.mark.timeout(1200)
def test_smoke_counts_match_end_to_end(stack, cfg, smoke_run):
    result = smoke.run(cfg, 500, print)
    assert result.problems == []
    assert result.counts["produced (acked)"] == 500
    assert result.counts["duckdb rows"] == 500
    assert result.counts["trino rows"] == 500
    assert result.counts["worm refusals"] == "delete and retention shortening refused"


@pytest.mark.timeout(1200)
def test_smoke_command_prints_matching_counts(stack, smoke_run):
    out = CliRunner().invoke(cli, ["smoke", "-n", "50"])
    assert out.exit_code == 0, out.output
    assert "OK: all counts equal 50" in out.output
