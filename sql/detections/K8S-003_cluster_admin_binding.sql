-- id: K8S-003
-- title: Kubernetes binding to cluster-admin
-- description: A ClusterRoleBinding or RoleBinding that grants the cluster-admin role was
--   created or changed. The role reference is in the request body, which the API server logs
--   at audit level Request or RequestResponse for rbac.authorization.k8s.io (recommended);
--   at Metadata level only bindings named *cluster-admin* are seen.
-- severity: high
-- mitre: T1098.006, T1078
-- compliance: PCI-DSS-10.2.5, PCI-DSS-7.2, SOC2-CC6.2, SOC2-CC8.1
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
WHERE product_name = 'Kubernetes' AND resource_type IN ('clusterrolebindings', 'rolebindings')
  AND api_operation IN ('create', 'update', 'patch') AND status_id = 1
  -- the role granted is roleRef.name of the request body (a JSON path, so a subject or label
  -- named cluster-admin is not mistaken for it); without a body (audit level Metadata) only
  -- the binding's name can tell
  AND (JSON_VALUE(unmapped['requestObject'], '$.roleRef.name') = 'cluster-admin'
       OR (unmapped['requestObject'] IS NULL AND resource_name LIKE '%cluster-admin%'))
