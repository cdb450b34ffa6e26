-- id: AUTH-004
-- title: Impossible travel between two logins
-- description: Two consecutive successful logons of one user from different countries, with a
--   great-circle speed between them above 900 km/h (faster than an airliner). Uses the geo
--   enrichment of the normalizer; private and unlocated addresses are ignored.
-- severity: high
-- mitre: T1078
-- compliance: PCI-DSS-10.2.4, SOC2-CC6.1, SOC2-CC7.2
-- dedup_window: 6h
-- dedup_key: tenant_id, entity_value
-- owner: detection-engineering
-- input: class_uid = 3002 AND activity_id = 1 AND status_id = 1
WITH located_logons AS (
    SELECT * FROM events
    WHERE class_uid = 3002 AND activity_id = 1 AND status_id = 1 AND user_name IS NOT NULL
      AND geo_country IS NOT NULL AND geo_lat IS NOT NULL AND geo_lon IS NOT NULL
)
SELECT
    tenant_id,
    'user' AS entity_type,
    user_name AS entity_value,
    first_seen AS window_start,
    last_seen + INTERVAL '0.001' SECOND AS window_end,
    CAST(2 AS BIGINT) AS event_count,
    evidence,
    first_seen,
    last_seen
FROM located_logons
MATCH_RECOGNIZE (
    PARTITION BY tenant_id, user_name
    ORDER BY event_time
    MEASURES
        A.event_time AS first_seen,
        B.event_time AS last_seen,
        ARRAY[ROW(A.event_id, A.chain_id, A.chain_seq, A.event_hash),
              ROW(B.event_id, B.chain_id, B.chain_seq, B.event_hash)] AS evidence
    ONE ROW PER MATCH
    -- B may be the A of the next hop
    AFTER MATCH SKIP TO LAST B
    -- two consecutive logons of the user within a day ...
    PATTERN (A B) WITHIN INTERVAL '1' DAY
    -- ... from another country, faster than 900 km/h (haversine distance, Earth radius 6371 km)
    DEFINE B AS B.geo_country <> A.geo_country
        AND 2 * 6371 * ASIN(SQRT(
                POWER(SIN(RADIANS(B.geo_lat - A.geo_lat) / 2), 2)
                + COS(RADIANS(A.geo_lat)) * COS(RADIANS(B.geo_lat))
                  * POWER(SIN(RADIANS(B.geo_lon - A.geo_lon) / 2), 2)))
            / (GREATEST(TIMESTAMPDIFF(SECOND, A.event_time, B.event_time), 1) / 3600.0) > 900
)
