-- id: SIGMA-C1D909BC3E67
-- title: AWS IAM user created and then logging in to the console
-- description: An IAM user is created and then logs in to the console within thirty minutes; the
--   created user's ARN (CreateUser's responseElements.user.arn) is the login's
--   userIdentity.arn.
-- severity: high
-- mitre: T1136.003, T1078.004
-- compliance: SOC2-CC7.2
-- dedup_window: 30m
-- owner: sigma-import
-- input: (product_name = 'CloudTrail' AND (LOWER(api_service) = 'iam.amazonaws.com' AND
--   LOWER(api_operation) = 'createuser')) OR (product_name = 'CloudTrail' AND
--   (LOWER(api_service) = 'signin.amazonaws.com' AND LOWER(api_operation) = 'consolelogin'))
-- sigma_id: c1d909bc-3e67-4eee-b8b9-c510d3c6875b
-- sigma_author: auditflow detection-engineering
-- sigma_level: high
-- sigma_status: experimental
-- sigma_tags: attack.persistence, attack.t1136.003, attack.t1078.004
-- sigma_source: aws_new_user_logs_in.yml; auditflow, this repository (Apache-2.0 like the code)
-- compiled by `auditflow rules import-sigma` (udfs/detect/sigma/correlation.py): change the Sigma rule and re-import
-- Sigma correlation temporal_ordered of aws_iam_create_user_named, aws_console_login within 30m, group-by new_user, condition {'gte': 2}
WITH matched AS (
    SELECT *, 0 AS corr_rule, CAST(JSON_VALUE(unmapped['responseElements'], '$.user.arn') AS STRING) AS g_0 FROM events
    WHERE (product_name = 'CloudTrail'
      AND (LOWER(api_service) = 'iam.amazonaws.com' AND LOWER(api_operation) = 'createuser')) AND JSON_VALUE(unmapped['responseElements'], '$.user.arn') IS NOT NULL
    UNION ALL
    SELECT *, 1 AS corr_rule, CAST(CASE WHEN user_uid LIKE 'arn:%' THEN user_uid END AS STRING) AS g_0 FROM events
    WHERE (product_name = 'CloudTrail'
      AND (LOWER(api_service) = 'signin.amazonaws.com' AND LOWER(api_operation) = 'consolelogin')) AND CASE WHEN user_uid LIKE 'arn:%' THEN user_uid END IS NOT NULL
)
SELECT
    tenant_id,
    'new_user' AS entity_type,
    g_0 AS entity_value,
    first_seen AS window_start,
    last_seen + INTERVAL '0.001' SECOND AS window_end,
    CAST(2 AS BIGINT) AS event_count,
    ARRAY[ev_0, ev_1] AS evidence,
    first_seen,
    last_seen
FROM matched
MATCH_RECOGNIZE (
    PARTITION BY tenant_id, g_0
    ORDER BY event_time
    MEASURES
        R0.event_time AS first_seen,
        R1.event_time AS last_seen,
        ROW(R0.event_id, R0.chain_id, R0.chain_seq, R0.event_hash) AS ev_0,
        ROW(R1.event_id, R1.chain_id, R1.chain_seq, R1.event_hash) AS ev_1
    ONE ROW PER MATCH
    AFTER MATCH SKIP PAST LAST ROW
    -- the rules in their listed order within 30m; other events may come between
    PATTERN (R0 X1*? R1) WITHIN INTERVAL '1800.001' SECOND(4, 3)
    DEFINE
        R0 AS R0.corr_rule = 0,
        R1 AS R1.corr_rule = 1
)
