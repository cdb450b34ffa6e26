-- id: SIGMA-402B955C8FE0
-- title: Container With A hostPath Mount Created
-- description: Detects creation of a container with a hostPath mount. A hostPath volume mounts a
--   directory or a file from the node to the container. Attackers who have permissions
--   to create a new pod in the cluster may create one with a writable hostPath volume
--   and chroot to escape to the underlying node.
-- severity: low
-- mitre: T1611
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 402b955c-8fe0-4a8c-b635-622b4ac5f902
-- sigma_author: Leo Tsaousis (@laripping)
-- sigma_references: https://microsoft.github.io/Threat-Matrix-for-Kubernetes/techniques/Writable%20hostPath%20mount/,
--   https://blog.appsecco.com/kubernetes-namespace-breakout-using-insecure-host-path-volume-part-1-b382f2a6e216
-- sigma_level: low
-- sigma_status: test
-- sigma_tags: attack.t1611, attack.privilege-escalation
-- sigma_source: application/kubernetes/audit/kubernetes_audit_hostpath_mount.yml; SigmaHQ,
--   Detection Rule License 1.1
SELECT
    tenant_id,
    'user' AS entity_type,
    COALESCE(user_name, src_ip, tenant_id) AS entity_value,
    event_time AS window_start,
    event_time + INTERVAL '0.001' SECOND AS window_end,
    CAST(1 AS BIGINT) AS event_count,
    ARRAY[ROW(event_id, chain_id, chain_seq, event_hash)] AS evidence,
    event_time AS first_seen,
    event_time AS last_seen
FROM events
-- compiled by `auditflow rules import-sigma` (udfs/detect/sigma): change the Sigma rule and re-import
-- Sigma logsource product: kubernetes, service: audit, category: application; condition: selection
WHERE product_name = 'Kubernetes'
  AND (LOWER(api_operation) = 'create' AND LOWER(SPLIT_INDEX(resource_type, '/', 0)) = 'pods' AND NULLIF(JSON_QUERY(unmapped['requestObject'], '$.spec.volumes[*].hostPath' WITH CONDITIONAL ARRAY WRAPPER), '[]') IS NOT NULL)
