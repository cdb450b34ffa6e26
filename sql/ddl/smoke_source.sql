-- Kafka source of the smoke job: a subset of the canonical event (schemas/audit_event.avsc).
-- Avro schema resolution skips the writer's other fields; the writer schema is looked up in
-- the registry by the id in each record (registry_options: its URL, credentials, truststore).
-- Bounded: it stops at the offsets seen at start-up.
CREATE TABLE smoke_events (
    event_id STRING NOT NULL,
    tenant_id STRING NOT NULL,
    `time` TIMESTAMP(3) NOT NULL,
    class_uid INT NOT NULL,
    activity_id INT NOT NULL,
    severity_id INT NOT NULL,
    message STRING
) WITH (
    'connector' = 'kafka',
    'topic' = '${topic}',
    'properties.bootstrap.servers' = '${bootstrap_servers}',
    ${kafka_security},
    'properties.group.id' = 'auditflow-smoke',
    'properties.isolation.level' = 'read_committed',
    'scan.startup.mode' = 'earliest-offset',
    'scan.bounded.mode' = 'latest-offset',
    'value.format' = 'avro-confluent',
    ${registry_options}
)
