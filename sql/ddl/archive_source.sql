-- One archived topic (audit.events or audit.alerts) as the exact Kafka record: the value stays
-- Confluent-wire Avro bytes, so the sealer hashes precisely what the normalizer signed into
-- the chain (a typed round trip through Flink rows could drop or reshape a field). The key
-- is the tenant; the Kafka coordinates go along for tracing.
CREATE TABLE ${name} (
    `key` BYTES,
    `value` BYTES,
    `partition` INT METADATA VIRTUAL,
    `offset` BIGINT METADATA VIRTUAL,
    `ts` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL
) WITH (
    'connector' = 'kafka',
    'topic' = '${topic}',
    'properties.bootstrap.servers' = '${bootstrap_servers}',
    ${kafka_security},
    'properties.group.id' = '${group_id}',
    'properties.isolation.level' = 'read_committed',
    'scan.startup.mode' = '${startup_mode}',${startup_options}
    'properties.auto.offset.reset' = 'earliest',
    'key.format' = 'raw',
    'key.fields' = 'key',
    'value.format' = 'raw',
    'value.fields-include' = 'EXCEPT_KEY'
)
