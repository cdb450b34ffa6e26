-- id: AUTH-004
-- title: Impossible travel between two logins
-- description: Two consecutive located successful logons of one user (per tenant) from
--   different countries, more than 500 km apart, at most a day apart, with a great-circle speed
--   between them above 900 km/h (faster than an airliner). Hops under 500 km are within the
--   error of two GeoIP lookups (city accuracy radii reach hundreds of km). Uses the geo
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
      AND NOT geo_is_private
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
    -- two consecutive located logons of the user (strict contiguity: a logon in between breaks
    -- the pair), at most a day apart, so logons months apart never pair ...
    PATTERN (A B) WITHIN INTERVAL '1' DAY
    -- ... from another country, farther apart than both 500 km and 900 km/h times the hours
    -- between them: haversine distance, Earth radius 6371 km (LEAST: rounding must not take
    -- ASIN past 1 for antipodes)
    DEFINE B AS B.geo_country <> A.geo_country
        AND 2 * 6371 * ASIN(LEAST(1.0, SQRT(
                POWER(SIN(RADIANS(B.geo_lat - A.geo_lat) / 2), 2)
                + COS(RADIANS(A.geo_lat)) * COS(RADIANS(B.geo_lat))
                  * POWER(SIN(RADIANS(B.geo_lon - A.geo_lon) / 2), 2))))
            > GREATEST(500, 900 * TIMESTAMPDIFF(SECOND, A.event_time, B.event_time) / 3600.0)
)
