-- id: SIGMA-C5CD1B2036BB
-- title: Privileged Container Deployed
-- description: Detects the creation of a "privileged" container, an action which could be
--   indicative of a threat actor mounting a container breakout attacks. A privileged
--   container is a container that can access the host with all of the root capabilities
--   of the host machine. This allows it to view, interact and modify processes, network
--   operations, IPC calls, the file system, mount points, SELinux configurations etc. as
--   the root user on the host. Various versions of "privileged" containers can be
--   specified, e.g. by setting the securityContext.privileged flag in the resource
--   specification, setting non-standard Linux capabilities, or configuring the
--   hostNetwork/hostPID fields
-- severity: low
-- mitre: T1611
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: c5cd1b20-36bb-488d-8c05-486be3d0cb97
-- sigma_author: Leo Tsaousis (@laripping)
-- sigma_references: https://microsoft.github.io/Threat-Matrix-for-Kubernetes/techniques/Privileged%20container/,
--   https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-kubernetes.html#privilegeescalation-kubernetes-privilegedcontainer,
--   https://www.elastic.co/guide/en/security/current/kubernetes-pod-created-with-hostnetwork.html,
--   https://www.elastic.co/guide/en/security/current/kubernetes-container-created-with-excessive-linux-capabilities.html
-- sigma_level: low
-- sigma_status: test
-- sigma_tags: attack.t1611, attack.privilege-escalation
-- sigma_source: application/kubernetes/audit/kubernetes_audit_privileged_pod_creation.yml; SigmaHQ,
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
  AND (LOWER(api_operation) = 'create' AND LOWER(SPLIT_INDEX(resource_type, '/', 0)) = 'pods' AND NULLIF(JSON_QUERY(unmapped['requestObject'], '$.spec.containers[*].securityContext.capabilities' WITH CONDITIONAL ARRAY WRAPPER), '[]') IS NOT NULL)
