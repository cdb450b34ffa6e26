-- Parquet files through Flink's FileSink (filesystem connector), committed on checkpoints.
CREATE TABLE smoke_parquet (
    event_id STRING,
    tenant_id STRING,
    `time` TIMESTAMP(3),
    class_uid INT,
    activity_id INT,
    severity_id INT,
    message STRING
) WITH (
    'connector' = 'filesystem',
    'path' = '${output}',
    'format' = 'parquet',
    'parquet.compression' = 'ZSTD'
)
