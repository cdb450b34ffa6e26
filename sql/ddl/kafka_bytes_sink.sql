-- Pre-encoded records (Confluent Avro wire format) to one topic, exactly once: written in a
-- Kafka transaction committed with each checkpoint; readers use isolation.level=read_committed.
CREATE TABLE ${name} (
    `key` BYTES,
    `value` BYTES
) WITH (
    'connector' = 'kafka',
    'topic' = '${topic}',
    'properties.bootstrap.servers' = '${bootstrap_servers}',
    ${kafka_security},
    'properties.transaction.timeout.ms' = '900000',
    'properties.max.request.size' = '${max_record_bytes}',
    'sink.delivery-guarantee' = 'exactly-once',
    'sink.transactional-id-prefix' = '${transactional_id_prefix}',
    'key.format' = 'raw',
    'key.fields' = 'key',
    'value.format' = 'raw',
    'value.fields-include' = 'EXCEPT_KEY'
)
