-- id: TAMP-001
-- title: Audit logging stopped, deleted or reconfigured
-- description: CloudTrail StopLogging / DeleteTrail / UpdateTrail / PutEventSelectors, a
--   Kubernetes audit sink or audit-policy ConfigMap created, changed or deleted, auditd rules
--   removed or audit settings changed (auditctl -D, -e 0), or files under /etc/audit or
--   /var/log/audit written or deleted. Successful attempts are high severity, failed ones medium.
-- severity: high
-- mitre: T1562.008, T1562.012, T1070
-- compliance: PCI-DSS-10.3.2, PCI-DSS-10.2.6, HIPAA-164.312(b), SOC2-CC7.2
-- dedup_window: 1h
-- dedup_key: tenant_id, entity_value
-- owner: detection-engineering
WITH tampering AS (
    SELECT * FROM events
    WHERE (api_service = 'cloudtrail.amazonaws.com'
           AND api_operation IN ('StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors'))
       OR (product_name = 'Kubernetes' AND activity_id IN (1, 3, 4)
           AND (resource_type = 'auditsinks'
                OR (resource_type = 'configmaps' AND LOWER(resource_name) LIKE '%audit%')))
       -- auditd CONFIG_CHANGE: rules removed (4) or settings such as audit_enabled changed (3)
       OR (class_uid = 3004 AND activity_id IN (3, 4) AND resource_type IN ('AuditRule', 'AuditConfig'))
       OR (class_uid = 1001 AND activity_id IN (3, 4, 5, 7)
           AND (resource_name LIKE '/etc/audit/%' OR resource_name LIKE '/var/log/audit/%'))
)
SELECT
    tenant_id,
    'user' AS entity_type,
    COALESCE(user_name, user_uid, 'unknown') AS entity_value,
    event_time AS window_start,
    event_time + INTERVAL '0.001' SECOND AS window_end,
    CAST(1 AS BIGINT) AS event_count,
    ARRAY[ROW(event_id, chain_id, chain_seq, event_hash)] AS evidence,
    event_time AS first_seen,
    event_time AS last_seen,
    -- a failed attempt is still worth a look, but not a page
    CASE WHEN status_id = 2 THEN 'medium' ELSE 'high' END AS severity
FROM tampering
