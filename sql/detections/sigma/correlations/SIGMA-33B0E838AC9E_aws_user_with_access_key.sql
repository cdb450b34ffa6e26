-- id: SIGMA-33B0E838AC9E
-- title: AWS IAM user and access key created by one identity
-- description: The same identity creates an IAM user and an access key (in either order) within one
--   hour, a common way to keep access after a compromise.
-- severity: high
-- mitre: T1136.003, T1098.001
-- compliance: SOC2-CC7.2
-- dedup_window: 1h
-- owner: sigma-import
-- input: (product_name = 'CloudTrail' AND (LOWER(api_service) = 'iam.amazonaws.com' AND
--   LOWER(api_operation) = 'createuser')) OR (product_name = 'CloudTrail' AND
--   (LOWER(api_service) = 'iam.amazonaws.com' AND LOWER(api_operation) = 'createaccesskey'))
-- sigma_id: 33b0e838-ac9e-484b-a155-f5f58901f5a0
-- sigma_author: auditflow detection-engineering
-- sigma_level: high
-- sigma_status: experimental
-- sigma_tags: attack.persistence, attack.t1136.003, attack.t1098.001
-- sigma_source: aws_user_with_access_key.yml; auditflow, this repository (Apache-2.0 like the code)
-- compiled by `auditflow rules import-sigma` (udfs/detect/sigma/correlation.py): change the Sigma rule and re-import
-- Sigma correlation temporal of aws_iam_create_user, aws_iam_create_access_key within 1h, group-by userIdentity.arn, condition {'gte': 2}
WITH matched AS (
    SELECT *, 0 AS corr_rule, CAST(CASE WHEN user_uid LIKE 'arn:%' THEN user_uid END AS STRING) AS g_0 FROM events
    WHERE (product_name = 'CloudTrail'
      AND (LOWER(api_service) = 'iam.amazonaws.com' AND LOWER(api_operation) = 'createuser')) AND CASE WHEN user_uid LIKE 'arn:%' THEN user_uid END IS NOT NULL
    UNION ALL
    SELECT *, 1 AS corr_rule, CAST(CASE WHEN user_uid LIKE 'arn:%' THEN user_uid END AS STRING) AS g_0 FROM events
    WHERE (product_name = 'CloudTrail'
      AND (LOWER(api_service) = 'iam.amazonaws.com' AND LOWER(api_operation) = 'createaccesskey')) AND CASE WHEN user_uid LIKE 'arn:%' THEN user_uid END IS NOT NULL
)
, over_window AS (
    SELECT tenant_id, g_0, event_time,
        MAX(CASE WHEN corr_rule = 0 THEN 1 ELSE 0 END) OVER w + MAX(CASE WHEN corr_rule = 1 THEN 1 ELSE 0 END) OVER w AS measure,
        COUNT(*) OVER w AS event_count,
        ARRAY_AGG(ROW(event_id, chain_id, chain_seq, event_hash)) OVER w AS evidence,
        MIN(event_time) OVER w AS first_seen
    FROM matched
    WINDOW w AS (PARTITION BY tenant_id, g_0 ORDER BY event_time
                 RANGE BETWEEN INTERVAL '1' HOUR PRECEDING AND CURRENT ROW)
), episodes AS (
    SELECT *, measure >= 2 AS holds,
        LAG(measure >= 2) OVER (PARTITION BY tenant_id, g_0 ORDER BY event_time) AS held_before
    FROM over_window
)
SELECT
    tenant_id,
    'userIdentity.arn' AS entity_type,
    g_0 AS entity_value,
    first_seen AS window_start,
    event_time + INTERVAL '0.001' SECOND AS window_end,
    event_count,
    evidence,
    first_seen,
    event_time AS last_seen
FROM episodes
-- the first event at which the 1h before it satisfies the condition
WHERE holds AND held_before IS NOT TRUE
