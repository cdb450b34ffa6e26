-- Events a rule could no longer take (behind the watermark), one JSON record each, keyed by rule
-- id; one sink table per rule so Flink's metrics (numRecordsIn of `late_<rule>`) count per rule.
-- `auditflow rules late` evaluates them, `auditflow rules status` totals the topic. Exactly once,
-- like the alerts.
CREATE TABLE ${name} (
    rule_id STRING,
    tenant_id STRING,
    event_id STRING,
    event_time TIMESTAMP(3),
    watermark_time TIMESTAMP(3),
    lateness_ms BIGINT
) WITH (
    'connector' = 'kafka',
    'topic' = '${topic}',
    'properties.bootstrap.servers' = '${bootstrap_servers}',
    ${kafka_security},
    'properties.transaction.timeout.ms' = '900000',
    'sink.delivery-guarantee' = 'exactly-once',
    'sink.transactional-id-prefix' = '${transactional_id_prefix}',
    'key.format' = 'raw',
    'key.fields' = 'rule_id',
    'value.format' = 'json',
    'value.fields-include' = 'ALL'
)
