-- id: K8S-002
-- title: Kubernetes secret read by a service account
-- description: A service account outside kube-system read (get, list or watch) a Secret. Stolen
--   service-account tokens are used this way to harvest credentials; controllers that need
--   secrets belong in kube-system or an allow-list here.
-- severity: medium
-- mitre: T1552.007, T1528
-- compliance: PCI-DSS-10.2.1, PCI-DSS-7.2, SOC2-CC6.1
-- dedup_window: 1h
-- dedup_key: tenant_id, entity_value
-- owner: platform-security
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
FROM events
WHERE product_name = 'Kubernetes' AND resource_type = 'secrets'
  AND api_operation IN ('get', 'list', 'watch') AND status_id = 1
  AND user_type = 'ServiceAccount'
  AND user_name NOT LIKE 'system:serviceaccount:kube-system:%'
