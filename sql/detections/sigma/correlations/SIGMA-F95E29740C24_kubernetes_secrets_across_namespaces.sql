-- id: SIGMA-F95E29740C24
-- title: Kubernetes secrets read across namespaces by one user
-- description: One user or service account reads secrets in three or more namespaces within ten
--   minutes, as a stolen token is used to harvest credentials cluster-wide.
-- severity: high
-- mitre: T1552.007
-- compliance: SOC2-CC7.2
-- dedup_window: 10m
-- owner: sigma-import
-- input: (product_name = 'Kubernetes' AND ((LOWER(api_operation) = 'get' OR LOWER(api_operation) =
--   'list' OR LOWER(api_operation) = 'watch') AND LOWER(SPLIT_INDEX(resource_type, '/', 0)) =
--   'secrets'))
-- sigma_id: f95e2974-0c24-4a08-a6ec-670efd4adeb4
-- sigma_author: auditflow detection-engineering
-- sigma_level: high
-- sigma_status: experimental
-- sigma_tags: attack.credential-access, attack.t1552.007
-- sigma_source: kubernetes_secrets_across_namespaces.yml; auditflow, this repository (Apache-2.0
--   like the code)
-- compiled by `auditflow rules import-sigma` (udfs/detect/sigma/correlation.py): change the Sigma rule and re-import
-- Sigma correlation value_count of kubernetes_secret_read within 10m, group-by user.username, condition {'gte': 3, 'field': 'objectRef.namespace'}
WITH matched AS (
    SELECT *, 0 AS corr_rule, CAST(user_name AS STRING) AS g_0, CAST(resource_namespace AS STRING) AS corr_value FROM events
    WHERE (product_name = 'Kubernetes'
      AND ((LOWER(api_operation) = 'get' OR LOWER(api_operation) = 'list' OR LOWER(api_operation) = 'watch') AND LOWER(SPLIT_INDEX(resource_type, '/', 0)) = 'secrets')) AND user_name IS NOT NULL
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
    SELECT *, measure >= 3 AS holds,
        LAG(measure >= 3) OVER (PARTITION BY tenant_id, g_0 ORDER BY event_time) AS held_before
    FROM over_window
)
SELECT
    tenant_id,
    'user.username' AS entity_type,
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
