-- id: AUTH-003
-- title: Password spray from one source address
-- description: One source IP fails to log on as five or more distinct users within ten minutes
--   (password spraying or a dictionary attack across accounts).
-- severity: high
-- mitre: T1110.003
-- compliance: PCI-DSS-10.2.4, HIPAA-164.312(b), SOC2-CC7.2
-- dedup_window: 1h
-- dedup_key: tenant_id, entity_value
-- owner: detection-engineering
-- input: class_uid = 3002 AND activity_id = 1 AND status_id = 2
SELECT
    tenant_id,
    'ip' AS entity_type,
    src_ip AS entity_value,
    window_start,
    window_end,
    COUNT(*) AS event_count,
    ARRAY_AGG(ROW(event_id, chain_id, chain_seq, event_hash)) AS evidence,
    MIN(event_time) AS first_seen,
    MAX(event_time) AS last_seen
FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(event_time), INTERVAL '10' MINUTE))
-- failed logons that name a source address
WHERE class_uid = 3002 AND activity_id = 1 AND status_id = 2 AND src_ip IS NOT NULL
GROUP BY tenant_id, src_ip, window_start, window_end
HAVING COUNT(DISTINCT user_name) >= 5
