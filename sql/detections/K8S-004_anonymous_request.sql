-- id: K8S-004
-- title: Anonymous request accepted by the Kubernetes API server
-- description: A request by system:anonymous (or the system:unauthenticated group) succeeded.
--   Anonymous access should reach nothing but health endpoints, which the normalizer filters.
-- severity: high
-- mitre: T1190, T1078.001
-- compliance: PCI-DSS-10.2.4, PCI-DSS-8.2.1, SOC2-CC6.1
-- dedup_window: 1h
-- dedup_key: tenant_id, entity_value
-- owner: platform-security
SELECT
    tenant_id,
    'ip' AS entity_type,
    COALESCE(src_ip, 'unknown') AS entity_value,
    event_time AS window_start,
    event_time + INTERVAL '0.001' SECOND AS window_end,
    CAST(1 AS BIGINT) AS event_count,
    ARRAY[ROW(event_id, chain_id, chain_seq, event_hash)] AS evidence,
    event_time AS first_seen,
    event_time AS last_seen
FROM events
WHERE product_name = 'Kubernetes' AND status_id = 1
  AND (user_name = 'system:anonymous' OR ARRAY_CONTAINS(user_groups, 'system:unauthenticated'))
