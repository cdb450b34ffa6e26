-- id: ADMIN-001
-- title: Administrative action outside the user's working hours
-- description: A successful administrative action (account, privilege or group change, sudo
--   elevation, or a write by a privileged or root account) outside the working hours set for
--   the user, or else the tenant default, in reference/working_hours.csv (local time with
--   daylight saving, and days; an overnight shift such as 22 to 6 counts after midnight as
--   the day it started).
-- severity: medium
-- mitre: T1078, T1098
-- compliance: PCI-DSS-10.2.2, HIPAA-164.312(b), SOC2-CC6.1, SOC2-CC7.2
-- dedup_window: 2h
-- dedup_key: tenant_id, entity_value
-- owner: detection-engineering
-- input: status_id = 1 AND user_name IS NOT NULL
WITH admin_actions AS (
    SELECT *, '*' AS any_user FROM events
    WHERE status_id = 1 AND user_name IS NOT NULL AND (
        -- Account Change, Authorize Session (sudo), Entity Management (groups, CDC rows excluded)
        class_uid IN (3001, 3003)
        OR (class_uid = 3004 AND resource_type IN ('Group', 'AuditRule', 'AuditConfig'))
        -- writes by privileged directory accounts or cloud root / admin identities
        OR (class_uid = 6003 AND activity_id IN (1, 3, 4)
            AND (user_privileged OR user_type IN ('Root', 'Admin')))
    )
),
-- the user's own hours if set, else the tenant default ('*'), as valid at the action's time
with_hours AS (
    SELECT a.*,
        COALESCE(u.tz, d.tz) AS tz,
        COALESCE(u.start_hour, d.start_hour) AS start_hour,
        COALESCE(u.end_hour, d.end_hour) AS end_hour,
        COALESCE(u.days, d.days) AS days
    FROM admin_actions AS a
    LEFT JOIN working_hours FOR SYSTEM_TIME AS OF a.event_time AS u
        ON a.tenant_id = u.tenant_id AND a.user_name = u.user_name
    LEFT JOIN working_hours FOR SYSTEM_TIME AS OF a.event_time AS d
        ON a.tenant_id = d.tenant_id AND a.any_user = d.user_name
),
local_time AS (
    SELECT *,
        -- event_time is UTC; hours and days are compared in the user's zone (DST included)
        TO_TIMESTAMP(CONVERT_TZ(DATE_FORMAT(event_time, 'yyyy-MM-dd HH:mm:ss'), 'UTC', tz)) AS local_ts,
        -- an overnight shift (start_hour > end_hour, e.g. 22 to 6) is one span across midnight
        start_hour > end_hour AS overnight
    FROM with_hours
    WHERE tz IS NOT NULL
),
-- the working day an action belongs to: after midnight in an overnight shift, the day before
shifts AS (
    SELECT *,
        CASE WHEN overnight AND HOUR(local_ts) < end_hour THEN local_ts - INTERVAL '1' DAY
             ELSE local_ts END AS shift_ts
    FROM local_time
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
    event_time AS last_seen
FROM shifts
WHERE (NOT overnight AND (HOUR(local_ts) < start_hour OR HOUR(local_ts) >= end_hour))
   OR (overnight AND HOUR(local_ts) < start_hour AND HOUR(local_ts) >= end_hour)
   -- ISO weekday (1 = Monday) from DAYOFWEEK (1 = Sunday)
   OR POSITION(CAST(MOD(DAYOFWEEK(shift_ts) + 5, 7) + 1 AS STRING) IN days) = 0
