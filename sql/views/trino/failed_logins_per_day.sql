-- Failed logons (OCSF Authentication 3002, activity 1 Logon, status 2 Failure) per tenant and
-- UTC day of the event.
CREATE OR REPLACE VIEW failed_logins_per_day AS
SELECT e.tenant_id, CAST(e."time" AS date) AS day, count(*) AS failed_logins,
       count(DISTINCT e.actor."user".name) AS users
FROM archive_events e
WHERE e.class_uid = 3002 AND e.activity_id = 1 AND e.status_id = 2
GROUP BY e.tenant_id, CAST(e."time" AS date)
