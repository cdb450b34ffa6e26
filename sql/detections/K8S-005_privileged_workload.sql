-- id: K8S-005
-- title: Kubernetes workload with privileged or host access
-- description: A pod or workload (deployment, daemonset, statefulset, replicaset, job, cronjob)
--   created or changed with a privileged container, dangerous added capabilities (SYS_ADMIN,
--   SYS_PTRACE, SYS_MODULE, ALL), hostPID / hostIPC (high), or a hostPath volume or hostNetwork
--   (medium): container escape to the node. Pods the kube-system controllers create from a
--   workload are skipped (the workload itself raised the alert). Reads the request body, which
--   the API server logs at audit level Request or RequestResponse for pods and workloads.
-- severity: medium
-- mitre: T1610, T1611
-- compliance: PCI-DSS-2.2.1, PCI-DSS-10.2.2, SOC2-CC6.1, SOC2-CC8.1
-- dedup_window: 1h
-- dedup_key: tenant_id, entity_value
-- owner: platform-security
WITH workload_writes AS (
    -- requestObject is compact JSON ("key":value, no spaces): the spec as submitted
    SELECT *, unmapped['requestObject'] AS body FROM events
    WHERE product_name = 'Kubernetes' AND status_id = 1 AND user_name IS NOT NULL
      AND api_operation IN ('create', 'update', 'patch')
      AND resource_type IN ('pods', 'deployments', 'daemonsets', 'statefulsets', 'replicasets',
                            'replicationcontrollers', 'jobs', 'cronjobs')
      AND NOT (resource_type = 'pods' AND user_name LIKE 'system:serviceaccount:kube-system:%')
),
risky AS (
    SELECT *,
        body LIKE '%"privileged":true%' OR body LIKE '%"hostPID":true%'
            OR body LIKE '%"hostIPC":true%'
            OR REGEXP(body, '"add":\[[^\]]*"(SYS_ADMIN|SYS_PTRACE|SYS_MODULE|ALL)"') AS escape_ready,
        body LIKE '%"hostPath":{%' OR body LIKE '%"hostNetwork":true%' AS host_access
    FROM workload_writes
    WHERE body IS NOT NULL
)
SELECT
    tenant_id,
    'user' AS entity_type,
    user_name AS entity_value,
    event_time AS window_start,
    event_time + INTERVAL '0.001' SECOND AS window_end,
    CAST(1 AS BIGINT) AS event_count,
    ARRAY[ROW(event_id, chain_id, chain_seq, event_hash)] AS evidence,
    event_time AS first_seen,
    event_time AS last_seen,
    CASE WHEN escape_ready THEN 'high' ELSE 'medium' END AS severity
FROM risky
WHERE escape_ready OR host_access
