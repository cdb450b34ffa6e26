-- A clock for the normalize job's chains per tenant (jobs/normalize.py ChainByTenant): rows at a
-- steady rate whose watermark is the current time less the raw source's out-of-orderness, so
-- when every raw partition is idle the job's watermark still moves and waiting events are linked.
CREATE TABLE normalize_ticks (
    `n` INT,
    `ts` AS CAST(CURRENT_TIMESTAMP AS TIMESTAMP_LTZ(3)),
    WATERMARK FOR `ts` AS `ts` - INTERVAL '${out_of_orderness_s}' SECOND
) WITH (
    'connector' = 'datagen',
    'rows-per-second' = '${ticks_per_second}'
)
