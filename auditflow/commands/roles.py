"""`auditflow roles`: the identities of auditflow/roles.toml and what each may do at every
service, printed in the terms a managed service takes: Kafka ACLs (Confluent Cloud, MSK, any
cluster with an authorizer), an IAM policy (AWS S3), Trino access rules, a registry role."""

from __future__ import annotations

import json

import click

from auditflow import credentials, kafka, s3
from auditflow.config import ConfigError
from auditflow.stack import trino_access

SERVICES = ("kafka", "registry", "s3", "trino")
# Apicurio's realm roles (auditflow/stack/services.py REGISTRY_ROLES); Confluent Cloud's nearest
# role bindings on the subjects: ResourceOwner, DeveloperWrite, DeveloperRead
REGISTRY_ACCESS = {"admin": "registers schemas and sets compatibility (Apicurio sr-admin)",
                   "developer": "registers schema versions (Apicurio sr-developer)",
                   "readonly": "reads schemas (Apicurio sr-readonly)"}


@click.group("roles")
def command() -> None:
    """The pipeline's identities (auditflow/roles.toml) and what each may do.

    \b
    auditflow roles list
    auditflow roles show sealer                 # every service
    auditflow roles show ingest:acme --service kafka
    auditflow roles show archive --service s3   # the IAM policy, as JSON
    """


def _services(spec: dict) -> list[str]:
    return [s for s in SERVICES if s in spec]


@command.command("list")
def list_() -> None:
    """Each role, the services it may use, and what it is for."""
    for name, spec in credentials.roles().items():
        label = f"{name}:<tenant>" if spec.get("per_tenant") else name
        click.echo(f"{label:26} {','.join(_services(spec)) or '-':22} {spec.get('description', '')}")


@command.command("show")
@click.argument("role")
@click.option("--service", "only", type=click.Choice(SERVICES), multiple=True,
              help="Only these services (repeatable); default all the role has.")
@click.pass_obj
def show(obj, role: str, only: tuple[str, ...]) -> None:
    """ROLE's grants at each service, e.g. `sealer` or `tenant-auditor:acme`.

    Kafka: one ACL a line (principal, operation, resource, pattern). S3: the IAM policy the local
    SeaweedFS enforces, ready for an AWS IAM role. Trino: the file-based access-control rules.
    Registry: the access level. Nothing is read from a service or a secret file.
    """
    try:
        principal = credentials.principal(role)
    except ConfigError as err:
        raise click.BadParameter(str(err), param_hint="ROLE") from err
    spec = credentials.roles()[role.partition(":")[0]]
    services = [s for s in _services(spec) if not only or s in only]
    if not services:
        raise click.ClickException(f"{role} has no grants at {', '.join(only) or 'any service'}")
    for service in services:
        click.echo(f"# {service}")
        if service == "kafka":
            rows = sorted((b.restype.name, b.name, b.resource_pattern_type.name, b.operation.name)
                          for b in kafka.role_grants(role).bindings(principal))
            for restype, name, pattern, operation in rows:
                click.echo(f"ALLOW User:{principal} {operation} {restype} {name} ({pattern})")
        elif service == "registry":
            click.echo(REGISTRY_ACCESS[spec["registry"]["access"]])
        elif service == "s3":
            click.echo(json.dumps(s3.policy(obj.cfg, spec["s3"]), indent=2))
        else:
            click.echo(json.dumps(trino_access.rules(obj.cfg, {role: principal}), indent=2))
