-- id: ID-001
-- title: Root or break-glass account used
-- description: Any successful activity by the AWS account root user, a logon as root, or use of
--   a break-glass account (named break-glass* / breakglass*, or titled so in the directory).
--   These accounts exist for emergencies; every use needs a ticket.
-- severity: high
-- mitre: T1078.004, T1078.003
-- compliance: PCI-DSS-10.2.2, PCI-DSS-8.2.2, HIPAA-164.312(a)(2)(ii), SOC2-CC6.1
-- dedup_window: 1h
-- dedup_key: tenant_id, entity_value
-- owner: detection-engineering
WITH privileged_identity_use AS (
    SELECT * FROM events
    WHERE status_id = 1 AND (
        user_type = 'Root'
        OR (class_uid = 3002 AND activity_id = 1 AND user_name = 'root')
        OR LOWER(user_name) LIKE 'break%glass%'
        OR LOWER(user_name) LIKE 'breakglass%'
        OR LOWER(user_title) LIKE '%break%glass%'
    )
)
SELECT
    tenant_id,
    'user' AS entity_type,
    user_name AS entity_value,
    event_time AS window_start,
    event_time + INTERVAL '0.001' SECOND AS window_end,
    CAST(1 AS BIGINT) AS event_count,
    ARRAY[ROW(event_id, chain_id, chain_seq, event_hash)] AS evidence,
    event_time AS first_seen,
    event_time AS last_seen
FROM privileged_identity_use
