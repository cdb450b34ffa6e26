-- id: SIGMA-EEB3E9E1B685
-- title: Kubernetes Secrets Enumeration
-- description: Detects enumeration of Kubernetes secrets.
-- severity: low
-- mitre: T1552.007
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: eeb3e9e1-b685-44e4-9232-6bb701f925b5
-- sigma_author: Leo Tsaousis (@laripping)
-- sigma_references: https://microsoft.github.io/Threat-Matrix-for-Kubernetes/techniques/List%20K8S%20secrets/
-- sigma_level: low
-- sigma_status: test
-- sigma_tags: attack.t1552.007, attack.credential-access
-- sigma_source: application/kubernetes/audit/kubernetes_audit_secrets_enumeration.yml; SigmaHQ,
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
  AND (LOWER(api_operation) = 'list' AND LOWER(SPLIT_INDEX(resource_type, '/', 0)) = 'secrets')
