-- id: K8S-001
-- title: Kubernetes exec or attach into a pod
-- description: A user or service account opened an interactive session in a running container
--   (kubectl exec / attach), bypassing the image's audited entry point.
-- severity: medium
-- mitre: T1609, T1059
-- compliance: PCI-DSS-10.2.2, SOC2-CC6.1, SOC2-CC7.2
-- dedup_window: 30m
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
-- exec/attach is a create (or, over WebSockets, a get) on the pods/exec subresource; 101 = success
WHERE product_name = 'Kubernetes' AND resource_type IN ('pods/exec', 'pods/attach')
  AND api_operation IN ('create', 'get') AND status_id = 1 AND user_name IS NOT NULL
