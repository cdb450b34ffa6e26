-- id: SIGMA-AF85C74DFB01
-- title: AWS discovery burst by one identity
-- description: Eight or more distinct Describe/List APIs called by one identity within ten minutes,
--   as enumeration tools (Pacu, ScoutSuite run with stolen keys) do.
-- severity: medium
-- mitre: T1580
-- compliance: SOC2-CC7.2
-- dedup_window: 10m
-- owner: sigma-import
-- input: (product_name = 'CloudTrail' AND (LOWER(api_operation) LIKE 'describe%' ESCAPE '\' OR
--   LOWER(api_operation) LIKE 'list%' ESCAPE '\'))
-- sigma_id: af85c74d-fb01-44f6-9409-14aa7cdf0ad3
-- sigma_author: auditflow detection-engineering
-- sigma_level: medium
-- sigma_status: experimental
-- sigma_tags: attack.discovery, attack.t1580
-- sigma_source: aws_discovery_burst.yml; auditflow, this repository (Apache-2.0 like the code)
-- compiled by `auditflow rules import-sigma` (udfs/detect/sigma/correlation.py): change the Sigma rule and re-import
-- Sigma correlation value_count of aws_discovery_call within 10m, group-by userIdentity.arn, condition {'gte': 8, 'field': 'eventName'}
WITH matched AS (
    SELECT *, 0 AS corr_rule, CAST(CASE WHEN user_uid LIKE 'arn:%' THEN user_uid END AS STRING) AS g_0, CAST(api_operation AS STRING) AS corr_value FROM events
    WHERE (product_name = 'CloudTrail'
      AND (LOWER(api_operation) LIKE 'describe%' ESCAPE '\' OR LOWER(api_operation) LIKE 'list%' ESCAPE '\')) AND CASE WHEN user_uid LIKE 'arn:%' THEN user_uid END IS NOT NULL
)
, over_window AS (
    SELECT tenant_id, g_0, event_time,
        COUNT(DISTINCT corr_value) OVER w AS measure,
        COUNT(*) OVER w AS event_count,
        ARRAY_AGG(ROW(event_id, chain_id, chain_seq, event_hash)) OVER w AS evidence,
        MIN(event_time) OVER w AS first_seen
    FROM matched
    WINDOW w AS (PARTITION BY tenant_id, g_0 ORDER BY event_time
                 RANGE BETWEEN INTERVAL '10' MINUTE PRECEDING AND CURRENT ROW)
), episodes AS (
    SELECT *, measure >= 8 AS holds,
        LAG(measure >= 8) OVER (PARTITION BY tenant_id, g_0 ORDER BY event_time) AS held_before
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
-- the first event at which the 10m before it satisfies the condition
WHERE holds AND held_before IS NOT TRUE
