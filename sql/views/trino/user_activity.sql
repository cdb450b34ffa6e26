-- Everything one user did, newest first when ordered by "time". Filter it, e.g.:
--   SELECT * FROM user_activity WHERE user_name = 'alice'
--     AND "time" >= current_date - INTERVAL '30' DAY ORDER BY "time"
-- dt (UTC date of archiving) is the partition: adding dt >= '2026-10-29' lets the engine skip
-- whole partitions; it lags "time" by seconds, so give it a day of margin.
CREATE OR REPLACE VIEW user_activity AS
SELECT e."time", e.tenant_id, e.actor."user".name AS user_name, e.actor."user".uid AS user_uid,
       e.class_uid, e.activity_id, e.api.operation AS operation, e.status_id,
       e.src_endpoint.ip AS src_ip, e.message, e.event_id,
       e.chain.sequence AS sequence, e.chain.event_hash AS event_hash, e.tenant, e.dt
FROM archive_events e
