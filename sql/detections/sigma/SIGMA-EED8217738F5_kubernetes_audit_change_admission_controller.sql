-- id: SIGMA-EED8217738F5
-- title: Kubernetes Admission Controller Modification
-- description: Detects when a modification (create, update or replace) action is taken that affects
--   mutating or validating webhook configurations, as they can be used by an adversary
--   to achieve persistence or exfiltrate access credentials.
-- severity: medium
-- mitre: T1078, T1552, T1552.007
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: eed82177-38f5-4299-8a76-098d50d225ab
-- sigma_author: kelnage
-- sigma_references: https://kubernetes.io/docs/reference/config-api/apiserver-audit.v1/,
--   https://security.padok.fr/en/blog/kubernetes-webhook-attackers
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.privilege-escalation, attack.initial-access, attack.persistence,
--   attack.stealth, attack.t1078, attack.credential-access, attack.t1552,
--   attack.t1552.007
-- sigma_source: application/kubernetes/audit/kubernetes_audit_change_admission_controller.yml;
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
  AND (LOWER(CASE WHEN api_service = 'core' THEN '' ELSE api_service END) = 'admissionregistration.k8s.io' AND (LOWER(SPLIT_INDEX(resource_type, '/', 0)) = 'mutatingwebhookconfigurations' OR LOWER(SPLIT_INDEX(resource_type, '/', 0)) = 'validatingwebhookconfigurations') AND (LOWER(api_operation) = 'create' OR LOWER(api_operation) = 'delete' OR LOWER(api_operation) = 'patch' OR LOWER(api_operation) = 'replace' OR LOWER(api_operation) = 'update'))
