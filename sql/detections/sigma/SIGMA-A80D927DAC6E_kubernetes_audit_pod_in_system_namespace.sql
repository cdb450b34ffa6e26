-- id: SIGMA-A80D927DAC6E
-- title: Creation Of Pod In System Namespace
-- description: Detects deployments of pods within the kube-system namespace, which could be
--   intended to imitate system pods. System pods, created by controllers such as
--   Deployments or DaemonSets have random suffixes in their names. Attackers can use
--   this fact and name their backdoor pods as if they were created by these controllers
--   to avoid detection. Deployment of such a backdoor container e.g. named
--   kube-proxy-bv61v, could be attempted in the kube-system namespace alongside the
--   other administrative containers.
-- severity: medium
-- mitre: T1036.005
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: a80d927d-ac6e-443f-a867-e8d6e3897318
-- sigma_author: Leo Tsaousis (@laripping)
-- sigma_references: https://microsoft.github.io/Threat-Matrix-for-Kubernetes/techniques/Pod%20or%20container%20name%20similarily/
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.stealth, attack.t1036.005
-- sigma_source: application/kubernetes/audit/kubernetes_audit_pod_in_system_namespace.yml; SigmaHQ,
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
  AND (LOWER(api_operation) = 'create' AND LOWER(SPLIT_INDEX(resource_type, '/', 0)) = 'pods' AND LOWER(resource_namespace) = 'kube-system')
