-- id: SIGMA-0D9335421F1F
-- title: Kubernetes Unauthorized or Unauthenticated Access
-- description: Detects when a request to the Kubernetes API is rejected due to lack of
--   authorization or due to an expired authentication token being used. This may
--   indicate an attacker attempting to leverage credentials they have obtained.
-- severity: low
-- mitre: TA0004
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 0d933542-1f1f-420d-97d4-21b2c3c492d9
-- sigma_author: kelnage
-- sigma_references: https://kubernetes.io/docs/reference/config-api/apiserver-audit.v1/,
--   https://www.datadoghq.com/blog/monitor-kubernetes-audit-logs/#monitor-api-authentication-issues
-- sigma_level: low
-- sigma_status: test
-- sigma_tags: attack.privilege-escalation
-- sigma_source: application/kubernetes/audit/kubernetes_audit_unauthorized_unauthenticated_actions.yml;
--   SigmaHQ, Detection Rule License 1.1
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
-- Sigma logsource product: kubernetes, service: audit; condition: selection
WHERE product_name = 'Kubernetes'
  AND (unmapped['responseStatus.code'] = '401' OR unmapped['responseStatus.code'] = '403')
