-- id: AUTH-002
-- title: Successful login after repeated failures (likely compromise)
-- description: Five or more failed logons for a user followed by a successful one, all within
--   five minutes: a guessed or sprayed password that worked.
-- severity: high
-- mitre: T1110.001, T1078
-- compliance: PCI-DSS-10.2.4, PCI-DSS-10.2.5, HIPAA-164.312(b), SOC2-CC7.2
-- dedup_window: 30m
-- dedup_key: tenant_id, entity_value
-- owner: detection-engineering
-- input: class_uid = 3002 AND activity_id = 1
WITH logons AS (
    SELECT * FROM events
    WHERE class_uid = 3002 AND activity_id = 1 AND status_id IN (1, 2) AND user_name IS NOT NULL
)
SELECT
    tenant_id,
    'user' AS entity_type,
    user_name AS entity_value,
    first_seen AS window_start,
    last_seen + INTERVAL '0.001' SECOND AS window_end,
    failures + 1 AS event_count,
    ARRAY_CONCAT(failure_evidence, ARRAY[success_evidence]) AS evidence,
    first_seen,
    last_seen
FROM logons
MATCH_RECOGNIZE (
    PARTITION BY tenant_id, user_name
    ORDER BY event_time
    MEASURES
        FIRST(F.event_time) AS first_seen,
        S.event_time AS last_seen,
        COUNT(F.event_id) AS failures,
        ARRAY_AGG(ROW(F.event_id, F.chain_id, F.chain_seq, F.event_hash)) AS failure_evidence,
        ROW(S.event_id, S.chain_id, S.chain_seq, S.event_hash) AS success_evidence
    ONE ROW PER MATCH
    AFTER MATCH SKIP PAST LAST ROW
    -- at least five consecutive failures of this user, then a success, within five minutes
    PATTERN (F{5,} S) WITHIN INTERVAL '5' MINUTE
    DEFINE
        F AS F.status_id = 2,
        S AS S.status_id = 1
)
