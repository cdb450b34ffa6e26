-- Working hours per user, with a tenant-wide default row (user_name '*'), in working_hours.csv.
-- Hours are local to tz (an IANA zone); days is a list of ISO weekdays, 1 = Monday. A versioned
-- table keyed by (tenant, user): a new row from valid_from on replaces the previous one.
CREATE TABLE working_hours (
    tenant_id STRING NOT NULL,
    user_name STRING NOT NULL,
    tz STRING NOT NULL,
    start_hour INT NOT NULL,
    end_hour INT NOT NULL,
    days STRING NOT NULL,
    valid_from TIMESTAMP(3) NOT NULL,
    PRIMARY KEY (tenant_id, user_name) NOT ENFORCED,
    WATERMARK FOR valid_from AS valid_from
) WITH (
    'connector' = 'filesystem',
    'path' = '${path}',
    'format' = 'csv',
    'csv.allow-comments' = 'true',
    'csv.field-delimiter' = ';'
)
