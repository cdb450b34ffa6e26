"""The Kafka grants of roles.toml as ACL bindings (auditflow.kafka.Grants): least privilege."""

from confluent_kafka.admin import AclOperation, ResourcePatternType, ResourceType

from auditflow import kafka


def _ops(role: str, restype=ResourceType.TOPIC) -> set[tuple[str, ResourcePatternType, AclOperation]]:
    return {(b.name, b.resource_pattern_type, b.operation)
            for b in kafka.role_grants(role).bindings("x") if b.restype == restype}


def test_operator_manages_topics_and_groups_but_reads_no_record():
    ops = _ops("operator")
    assert ("*", ResourcePatternType.LITERAL, AclOperation.DELETE) in ops
    assert ("*", ResourcePatternType.LITERAL, AclOperation.ALTER_CONFIGS) in ops
    assert not any(op in (AclOperation.READ, AclOperation.WRITE) for _n, _p, op in ops)
    assert ("*", ResourcePatternType.LITERAL, AclOperation.DELETE) in _ops("operator", ResourceType.GROUP)


def test_normalize_reads_raw_by_prefix_and_writes_only_its_outputs():
    ops = _ops("normalize")
    assert ("audit.raw.", ResourcePatternType.PREFIXED, AclOperation.READ) in ops
    writes = {n for n, _p, op in ops if op == AclOperation.WRITE}
    assert writes == {"audit.events", "audit.dlq", "audit.filtered"}
    assert ("auditflow-normalize", ResourcePatternType.PREFIXED, AclOperation.WRITE) in _ops(
        "normalize", ResourceType.TRANSACTIONAL_ID)


def test_an_ingest_tenant_writes_only_its_own_raw_topics():
    writes = {(n, p) for n, p, op in _ops("ingest:acme") if op == AclOperation.WRITE}
    assert writes == {("audit.raw.acme.", ResourcePatternType.PREFIXED),
                      ("audit.dlq", ResourcePatternType.LITERAL)}
    assert not any(op == AclOperation.READ for _n, _p, op in _ops("ingest:acme"))


def test_roles_without_kafka_grants_have_none():
    assert kafka.role_grants("sealer").bindings("sealer") == set()
