"""Tenant-bound raw topics (udfs/sources.py): a raw record's tenant is the one its topic names,
and one PREFIXED ACL gives a tenant's principal exactly its own topics."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from auditflow import cli, credentials, tenants
from auditflow.config import ConfigError
from udfs import sources


def test_a_tenant_has_one_raw_topic_per_family_that_names_it():
    topics = sources.tenant_topics("acme")
    assert topics == tuple(f"audit.raw.acme.{f}" for f in sources.NAMES)
    for family, topic in zip(sources.NAMES, topics, strict=True):
        assert (sources.topic_tenant(topic), sources.raw_source(topic)) == ("acme", family)
        # more segments (a region, a test run) stay the tenant's
        assert sources.topic_tenant(f"{topic}.eu-west") == "acme"
        assert sources.raw_source(f"{topic}.eu-west") == family
    assert sources.tenant_topics("acme", "run1")[0] == "audit.raw.acme.syslog.run1"


@pytest.mark.parametrize("topic", [
    "audit.raw.syslog", "audit.raw.syslog.eu-west", "audit.raw.k8s-audit.acme",  # the old shared layout
    "audit.raw.acme", "audit.raw.acme.", "audit.raw..syslog", "audit.events", "raw.acme.syslog",
    "audit.raw.-x.syslog",
])
def test_a_topic_that_names_no_tenant_is_not_tenant_bound(topic):
    assert sources.topic_tenant(topic) is None


@pytest.mark.parametrize("tenant", ["a.b", "", "-x", "acme corp", "x" * 64, "syslog", "k8s-audit", "é"])
def test_tenant_ids_that_would_make_topic_names_ambiguous_are_refused(tenant):
    with pytest.raises(sources.TenantError):
        sources.raw_topic(tenant, "syslog")
    with pytest.raises(sources.TenantError):
        sources.tenant_topics(tenant)


def test_principals_of_tenants_take_no_dot():
    assert credentials.principal("ingest:acme-eu_1") == "ingest-acme-eu_1"
    with pytest.raises(ConfigError):
        credentials.principal("ingest:a.b")


def test_the_write_acl_covers_exactly_the_tenants_topics():
    [(kind, prefix)] = sources.tenant_write_acls("acme")
    assert (kind, prefix) == ("PREFIXED", "audit.raw.acme.")
    everyone = [*sources.tenant_topics("acme"), *sources.tenant_topics("acme", "run1"),
                *sources.tenant_topics("acme-eu"), *sources.tenant_topics("acmex"),
                *sources.tenant_topics("globex"), "audit.raw.syslog", "audit.events"]
    covered = {t for t in everyone if t.startswith(prefix)}
    assert covered == {t for t in everyone if sources.topic_tenant(t) == "acme"}
    assert sources.tenant_prefix("acme") == prefix


def test_the_subscription_pattern_reads_every_tenant_and_only_the_runs_own():
    standing = re.compile(sources.raw_topic_pattern())
    run = re.compile(sources.raw_topic_pattern("e2e1a2b3c"))
    for tenant in ("acme", "globex", "tenant-e2e9"):
        for topic in sources.tenant_topics(tenant):
            assert standing.fullmatch(topic) and not run.fullmatch(topic)
            assert run.fullmatch(f"{topic}.e2e1a2b3c") and not standing.fullmatch(f"{topic}.e2e1a2b3c")
    assert not run.fullmatch("audit.raw.acme.syslog.e2e1a2b3cX")
    assert not standing.fullmatch("audit.events") and not standing.fullmatch("audit.raw.syslog")


def test_a_tenants_topics_take_the_raw_settings_of_the_topics_file():
    specs = tenants.topic_specs("acme")
    template = tenants.raw_template()
    assert [s.name for s in specs] == list(sources.tenant_topics("acme"))
    assert {(s.partitions, s.replication_factor) for s in specs} == {(template.partitions,
                                                                      template.replication_factor)}
    assert template.partitions >= 2 and "retention.ms" in template.config


def test_tenants_add_refuses_an_ambiguous_tenant_before_touching_kafka():
    res = CliRunner().invoke(cli.cli, ["tenants", "add", "a.b"])
    assert res.exit_code == 2 and "no '.'" in res.output
