-- Every raw topic as bytes, with the Kafka coordinates each event's lineage records.
-- ${subscription}: `'topic-pattern' = ...` and its discovery interval (a tenant's topics created
-- later are read without a restart), or an explicit `'topic' = 'a;b'`.
-- The watermark follows the Kafka (ingest) timestamp; partitions quiet for ${idle_timeout}
-- stop holding it back, so a quiet tenant does not stall windows downstream.
CREATE TABLE raw_records (
    `key` BYTES,
    `value` BYTES,
    `topic` STRING METADATA VIRTUAL,
    `partition` INT METADATA VIRTUAL,
    `offset` BIGINT METADATA VIRTUAL,
    `ts` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
    `headers` MAP<STRING, BYTES> METADATA VIRTUAL,
    WATERMARK FOR `ts` AS `ts` - INTERVAL '${out_of_orderness_s}' SECOND
) WITH (
    'connector' = 'kafka',
    ${subscription},
    'properties.bootstrap.servers' = '${bootstrap_servers}',
    ${kafka_security},
    'properties.group.id' = '${group_id}',
    'properties.isolation.level' = 'read_committed',
    'scan.startup.mode' = 'group-offsets',
    'properties.auto.offset.reset' = 'earliest',
    'scan.watermark.idle-timeout' = '${idle_timeout}',
    'key.format' = 'raw',
    'key.fields' = 'key',
    'value.format' = 'raw',
    'value.fields-include' = 'EXCEPT_KEY'
)
