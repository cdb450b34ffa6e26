-- id: PRIV-002
-- title: Failed privilege elevation on a Linux host (sudo / su)
-- description: sudo refused a user ("user NOT in sudoers", a command not allowed: high) or a
--   sudo or su password was wrong (medium). Seen in syslog (sudo, su, pam_unix) and in auditd
--   (USER_AUTH / USER_CMD of /usr/bin/sudo or su with res=failed). One attempt is enough: a
--   user probing for root is worth a look before five failures make a brute force (AUTH-001).
-- severity: medium
-- mitre: T1548.003, T1078.003
-- compliance: PCI-DSS-10.2.4, PCI-DSS-10.2.5, HIPAA-164.312(b), SOC2-CC6.1, SOC2-CC7.2
-- dedup_window: 1h
-- dedup_key: tenant_id, entity_value
-- owner: detection-engineering
WITH failed_elevation AS (
    SELECT * FROM events
    WHERE status_id = 2 AND user_name IS NOT NULL
      -- Authorize Session (3003) = sudo's policy decision; Authentication logon (3002/1) = password
      AND (class_uid = 3003 OR (class_uid = 3002 AND activity_id = 1))
      -- util-linux is su; auditd names the program in exe
      AND (product_name IN ('sudo', 'util-linux')
           OR (product_name = 'Linux auditd'
               AND unmapped['exe'] IN ('/usr/bin/sudo', '/bin/sudo', '/usr/bin/su', '/bin/su')))
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
    -- a policy refusal means the user tried what they are not allowed; a typo is less telling
    CASE WHEN class_uid = 3003 THEN 'high' ELSE 'medium' END AS severity
FROM failed_elevation
