-- id: K8S-006
-- title: Kubernetes Role or ClusterRole with wildcard permissions
-- description: A Role or ClusterRole created or changed with "*" in a rule's verbs or resources
--   (all actions or all resources: cluster-admin by another name). The API server's own
--   bootstrap roles (user system:apiserver) are skipped. Reads the request body (audit level
--   Request or RequestResponse for rbac.authorization.k8s.io).
-- severity: high
-- mitre: T1098.006, T1078
-- compliance: PCI-DSS-7.2, PCI-DSS-10.2.5, SOC2-CC6.2, SOC2-CC8.1
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
WHERE product_name = 'Kubernetes' AND resource_type IN ('roles', 'clusterroles')
  AND api_operation IN ('create', 'update', 'patch') AND status_id = 1
  AND user_name IS NOT NULL AND user_name <> 'system:apiserver'
  -- compact JSON: a "verbs" or "resources" list (no ']' inside) holding the string "*"
  AND REGEXP(unmapped['requestObject'], '"(verbs|resources)":\[[^\]]*"\*"')
