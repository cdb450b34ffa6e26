"""`auditflow tenants`: onboard a tenant (its own raw topics, user and write ACL) and list them."""

from __future__ import annotations

import click

from auditflow import tenants
from udfs import sources


@click.group("tenants")
def command() -> None:
    """Tenants: each writes raw input only to its own topics, audit.raw.<tenant>.<source>."""


@command.command("add")
@click.argument("tenant")
@click.pass_obj
def add(obj, tenant: str) -> None:
    """Create TENANT's raw topics (one per source family) and its Kafka user and write ACL.

    \b
    Idempotent. The normalize job reads the new topics within normalize.topic_discovery_s;
    `auditflow ingest FORMAT FILE --tenant TENANT` writes to them.
    """
    try:
        sources.check_tenant(tenant)
    except sources.TenantError as err:
        raise click.BadParameter(str(err), param_hint="TENANT") from err
    changes = tenants.add(obj.cfg, tenant)
    for change in changes:
        click.echo(change)
    click.echo(f"tenant {tenant}: {', '.join(sources.tenant_topics(tenant))}"
               + ("" if changes else " (nothing to change)"))


@command.command("list")
@click.pass_obj
def list_(obj) -> None:
    """The tenants that have raw topics, with how many."""
    for tenant, topics in tenants.existing(obj.cfg).items():
        click.echo(f"{tenant}\t{len(topics)} raw topics")
