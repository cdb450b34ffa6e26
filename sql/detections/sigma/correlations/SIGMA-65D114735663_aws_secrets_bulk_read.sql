-- id: SIGMA-65D114735663
-- title: AWS secrets read in bulk by one identity
-- description: Ten or more secret values read by the same identity within five minutes, as a
--   credential harvesting script does after a key leak.
-- severity: high
-- mitre: T1555.006
-- compliance: SOC2-CC7.2
-- dedup_window: 5m
-- owner: sigma-import
-- input: (product_name = 'CloudTrail' AND (LOWER(api_service) = 'secretsmanager.amazonaws.com' AND
--   LOWER(api_operation) = 'getsecretvalue'))
-- sigma_id: 65d11473-5663-4759-931d-cbd88ba5adae
-- sigma_author: auditflow detection-engineering
-- sigma_level: high
-- sigma_status: experimental
-- sigma_tags: attack.credential-access, attack.t1555.006
-- sigma_source: aws_secrets_bulk_read.yml; auditflow, this repository (Apache-2.0 like the code)
-- compiled by `auditflow rules import-sigma` (udfs/detect/sigma/correlation.py): change the Sigma rule and re-import
-- Sigma correlation event_count of aws_secretsmanager_get_secret_value within 5m, group-by userIdentity.arn, condition {'gte': 10}
WITH matched AS (
    SELECT *, 0 AS corr_rule, CAST(CASE WHEN user_uid LIKE 'arn:%' THEN user_uid END AS STRING) AS g_0 FROM events
    WHERE (product_name = 'CloudTrail'
      AND (LOWER(api_service) = 'secretsmanager.amazonaws.com' AND LOWER(api_operation) = 'getsecretvalue')) AND CASE WHEN user_uid LIKE 'arn:%' THEN user_uid END IS NOT NULL
)
SELECT
    tenant_id,
    'userIdentity.arn' AS entity_type,
    g_0 AS entity_value,
    first_seen AS window_start,
    last_seen + INTERVAL '0.001' SECOND AS window_end,
    event_count,
    evidence,
    first_seen,
    last_seen
FROM matched
MATCH_RECOGNIZE (
    PARTITION BY tenant_id, g_0
    ORDER BY event_time
    MEASURES
        FIRST(E.event_time) AS first_seen,
        LAST(E.event_time) AS last_seen,
        COUNT(E.event_id) AS event_count,
        ARRAY_AGG(ROW(E.event_id, E.chain_id, E.chain_seq, E.event_hash)) AS evidence
    ONE ROW PER MATCH
    -- matches never share an event; a storm is folded by the dedup window
    AFTER MATCH SKIP PAST LAST ROW
    -- 10 matching events at most 5m apart
    PATTERN (E{10}) WITHIN INTERVAL '300.001' SECOND(3, 3)
    DEFINE E AS TRUE
)
