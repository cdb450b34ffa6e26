-- Each alert with its evidence events as archived: the hash the alert recorded, the hash in
-- the archive, and whether they agree (`auditflow prove EVENT_ID` then proves inclusion).
--   SELECT * FROM alert_evidence WHERE alert_id = '...'
CREATE OR REPLACE VIEW alert_evidence AS
SELECT a.alert_id, a.rule_id, a.title, a.severity, a.tenant_id, a.entity_type, a.entity_value,
       a.window_start, a.window_end, ev.event_id, ev.chain_id, ev.sequence,
       ev.event_hash AS alert_event_hash, e.chain.event_hash AS archived_event_hash,
       e.chain.event_hash IS NOT NULL AND e.chain.event_hash = ev.event_hash AS hash_matches,
       e."time", e.actor."user".name AS user_name, e.api.operation AS operation, e.message
FROM archive_alerts a
CROSS JOIN UNNEST(a.evidence) AS ev(event_id, chain_id, sequence, event_hash)
LEFT JOIN archive_events e ON e.event_id = ev.event_id AND e.tenant_id = a.tenant_id
