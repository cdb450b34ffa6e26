-- Approved change windows, maintained by the change-advisory board in change_windows.csv.
-- A versioned table per tenant (primary key + event time): for an event, the temporal join
-- `FOR SYSTEM_TIME AS OF event_time` returns the tenant's latest window that started at or
-- before the event; the rule then checks the event is before that window's end. Windows of
-- one tenant must therefore not overlap (extend a window instead of adding an overlapping one).
CREATE TABLE change_windows (
    tenant_id STRING NOT NULL,
    starts_at TIMESTAMP(3) NOT NULL,
    ends_at TIMESTAMP(3) NOT NULL,
    change_id STRING,
    approved_by STRING,
    PRIMARY KEY (tenant_id) NOT ENFORCED,
    WATERMARK FOR starts_at AS starts_at
) WITH (
    'connector' = 'filesystem',
    'path' = '${path}',
    'format' = 'csv',
    'csv.allow-comments' = 'true'
)
