-- id: SIGMA-3132570DCAB2
-- title: Kubernetes Events Deleted
-- description: Detects when events are deleted in Kubernetes. An adversary may delete Kubernetes
--   events in an attempt to evade detection.
-- severity: medium
-- mitre: T1070
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 3132570d-cab2-4561-9ea6-1743644b2290
-- sigma_author: Leo Tsaousis (@laripping)
-- sigma_references: https://microsoft.github.io/Threat-Matrix-for-Kubernetes/techniques/Delete%20K8S%20events/
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.stealth, attack.t1070
-- sigma_source: application/kubernetes/audit/kubernetes_audit_events_deleted.yml; SigmaHQ,
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
  AND (LOWER(api_operation) = 'delete' AND LOWER(SPLIT_INDEX(resource_type, '/', 0)) = 'events')
