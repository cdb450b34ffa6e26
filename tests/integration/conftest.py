"""Integration tests run against the real local stack, which this fixture brings up.

A service that cannot start fails the session's tests with the service's own error; nothing
here skips. The stack is stopped at the end only if this session started it.
"""

from __future__ import annotations

import pytest

from auditflow import config
from auditflow.stack import lifecycle


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def cfg() -> config.Config:
    return config.load()


@pytest.fixture(scope="session")
def stack(cfg):
    ctx = lifecycle.context(cfg, print)
    already = {s.name for s in lifecycle.status(ctx) if s.pid}
    lifecycle.up(ctx)
    yield ctx
    if not already:
        lifecycle.down(ctx)
