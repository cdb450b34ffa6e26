"""Integration tests run against the real local stack, which this fixture brings up.

A service that cannot start fails the session's tests with the service's own error; nothing
here skips. The stack is stopped at the end only if this session started it.
"""

from __future__ import annotations

import pytest
import requests

from auditflow import config, flink
from auditflow.stack import lifecycle


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def cfg() -> config.Config:
    return config.load()


# the most jobs one test runs at once (the end-to-end test: normalize, detect and archive)
SLOTS_NEEDED = 3


@pytest.fixture(scope="session")
def stack(cfg):
    ctx = lifecycle.context(cfg, print)
    already = {s.name for s in lifecycle.status(ctx) if s.pid}
    lifecycle.up(ctx)
    free_slots_or_fail(cfg)
    yield ctx
    if not already:
        lifecycle.down(ctx)


def free_slots_or_fail(cfg) -> None:
    """Jobs left running (a demo, an aborted test) hold the session cluster's slots, and a test's
    job would wait for one until it times out; say so at once, with the way out."""
    overview = requests.get(cfg.get("flink.rest_url") + "/overview", timeout=10).json()
    if overview["slots-available"] >= SLOTS_NEEDED:
        return
    running = [f"{j['jid']} {j['name']}" for j in flink.list_jobs(cfg) if j["state"] == "RUNNING"]
    pytest.fail(f"the Flink session cluster has {overview['slots-available']} free task slots of "
                f"{overview['slots-total']}; the integration tests need {SLOTS_NEEDED}. Running jobs:\n  "
                + "\n  ".join(running) + "\nStop them with `auditflow jobs stop JOB_ID ...`.", pytrace=False)
