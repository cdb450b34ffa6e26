-- Staging Parquet (zstd) through Flink's FileSink (filesystem connector): a bulk format rolls
-- a file on every checkpoint and commits it when the checkpoint completes, so a file is
-- visible exactly once. Partitions are tenant / UTC date / UTC hour of arrival; the sealer
-- groups committed files into periods by their commit time (schemas/CHAIN.md section 8).
CREATE TABLE ${name} (
    `value` BYTES,
    kafka_partition INT,
    kafka_offset BIGINT,
    kafka_timestamp TIMESTAMP(3),
    tenant STRING,
    dt STRING,
    `hour` STRING
) PARTITIONED BY (tenant, dt, `hour`) WITH (
    'connector' = 'filesystem',
    'path' = '${path}',
    'format' = 'parquet',
    'parquet.compression' = 'ZSTD',
    'parquet.utc-timezone' = 'true',
    'sink.rolling-policy.file-size' = '128MB'
)
