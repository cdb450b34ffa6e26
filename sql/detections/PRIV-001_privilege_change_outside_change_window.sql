-- id: PRIV-001
-- title: Privilege change outside an approved change window
-- description: A successful grant of privileges (IAM policy attach or inline policy, group
--   membership added, application role grant, Kubernetes RBAC binding or role change, sudoers
--   edit) at a time no approved change window of the tenant covers. Change windows are kept
--   by the change-advisory board in reference/change_windows.csv.
-- severity: high
-- mitre: T1098, T1078.003, T1548.003
-- compliance: PCI-DSS-10.2.5, PCI-DSS-7.2, HIPAA-164.312(b), SOC2-CC6.2, SOC2-CC8.1
-- dedup_window: 1h
-- dedup_key: tenant_id, entity_value
-- owner: detection-engineering
-- input: status_id = 1
WITH privilege_grants AS (
    SELECT * FROM events
    WHERE status_id = 1 AND (
        -- Account Change: Attach Policy (IAM Attach*/Put*Policy, AddUserToGroup, shadow-utils
        -- group member added, application role/permission grants)
        (class_uid = 3001 AND activity_id = 7)
        -- Kubernetes RBAC objects created or changed
        OR (class_uid = 6003 AND activity_id IN (1, 3)
            AND resource_type IN ('rolebindings', 'clusterrolebindings', 'roles', 'clusterroles'))
        -- sudoers written, renamed or re-permissioned (auditd file watch)
        OR (class_uid = 1001 AND activity_id IN (1, 3, 5, 7) AND resource_name LIKE '/etc/sudoers%')
    )
),
-- the tenant's latest change window that started at or before the change (a temporal join)
outside_windows AS (
    SELECT g.*
    FROM privilege_grants AS g
    LEFT JOIN change_windows FOR SYSTEM_TIME AS OF g.event_time AS w
        ON g.tenant_id = w.tenant_id
    WHERE w.tenant_id IS NULL OR g.event_time >= w.ends_at
)
SELECT
    tenant_id,
    'user' AS entity_type,
    COALESCE(user_name, resource_name, 'unknown') AS entity_value,
    event_time AS window_start,
    event_time + INTERVAL '0.001' SECOND AS window_end,
    CAST(1 AS BIGINT) AS event_count,
    ARRAY[ROW(event_id, chain_id, chain_seq, event_hash)] AS evidence,
    event_time AS first_seen,
    event_time AS last_seen
FROM outside_windows
