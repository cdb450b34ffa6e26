-- id: ID-002
-- title: AWS console login without MFA
-- description: A successful AWS console sign-in by an IAM or root user without multi-factor
--   authentication. Federated and assumed-role sign-ins are skipped: their MFA happens at the
--   identity provider, which CloudTrail reports as MFAUsed=No. Unknown (NULL) is not false.
-- severity: medium
-- mitre: T1078.004
-- compliance: PCI-DSS-8.4.2, PCI-DSS-10.2.1, HIPAA-164.312(d), SOC2-CC6.1
-- dedup_window: 12h
-- dedup_key: tenant_id, entity_value
-- owner: cloud-security
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
    -- the root user without MFA is worse than an IAM user without it
    CASE WHEN user_type = 'Root' THEN 'high' ELSE 'medium' END AS severity
FROM events
WHERE class_uid = 3002 AND activity_id = 1 AND status_id = 1
  AND product_name = 'CloudTrail' AND is_mfa = FALSE
  AND COALESCE(user_type, '') NOT IN ('AssumedRole', 'FederatedUser', 'SAMLUser', 'WebIdentityUser')
