-- The user directory: compacted topic, key = user id, value = the user's JSON version history.
-- Its watermark goes idle when the directory is quiet, so it never holds events back.
CREATE TABLE users_directory (
    `key` BYTES,
    `value` BYTES,
    `ts` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
    WATERMARK FOR `ts` AS `ts`
) WITH (
    'connector' = 'kafka',
    'topic' = '${topic}',
    'properties.bootstrap.servers' = '${bootstrap_servers}',
    ${kafka_security},
    'properties.group.id' = '${group_id}',
    'properties.isolation.level' = 'read_committed',
    'scan.startup.mode' = 'earliest-offset',
    'scan.watermark.idle-timeout' = '${idle_timeout}',
    'key.format' = 'raw',
    'key.fields' = 'key',
    'value.format' = 'raw',
    'value.fields-include' = 'EXCEPT_KEY'
)
