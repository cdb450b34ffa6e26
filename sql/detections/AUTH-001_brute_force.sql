-- id: AUTH-001
-- title: Brute force: repeated failed logins for one user
-- description: Five or more failed logons for the same user within one minute, from any
--   source (sshd, su/sudo, CloudTrail console, application logins, auditd USER_AUTH).
-- severity: medium
-- mitre: T1110.001, T1110
-- compliance: PCI-DSS-10.2.4, HIPAA-164.312(b), SOC2-CC7.2
-- dedup_window: 15m
-- dedup_key: tenant_id, entity_value
-- owner: detection-engineering
-- input: class_uid = 3002 AND activity_id = 1 AND status_id = 2
WITH failed_logons AS (
    SELECT * FROM events
    WHERE class_uid = 3002 AND activity_id = 1 AND status_id = 2 AND user_name IS NOT NULL
)
SELECT
    tenant_id,
    'user' AS entity_type,
    user_name AS entity_value,
    window_start,
    window_start + INTERVAL '1' MINUTE AS window_end,
    event_count,
    evidence,
    window_start AS first_seen,
    last_seen
FROM failed_logons
MATCH_RECOGNIZE (
    PARTITION BY tenant_id, user_name
    ORDER BY event_time
    MEASURES
        FIRST(F.event_time) AS window_start,
        LAST(F.event_time) AS last_seen,
        COUNT(F.event_id) AS event_count,
        ARRAY_AGG(ROW(F.event_id, F.chain_id, F.chain_seq, F.event_hash)) AS evidence
    ONE ROW PER MATCH
    -- a new attack counts from the next failure; a storm is folded by the dedup window
    AFTER MATCH SKIP PAST LAST ROW
    -- five failures in a row (of this user's failures), all within one minute of the first
    PATTERN (F{5}) WITHIN INTERVAL '1' MINUTE
    DEFINE F AS TRUE
)
