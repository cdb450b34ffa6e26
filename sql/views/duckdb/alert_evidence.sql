-- DuckDB form of sql/trino/alert_evidence.sql (UNNEST of a list of structs yields one struct).
CREATE OR REPLACE VIEW alert_evidence AS
SELECT a.alert_id, a.rule_id, a.title, a.severity, a.tenant_id, a.entity_type, a.entity_value,
       a.window_start, a.window_end, a.ev.event_id, a.ev.chain_id, a.ev.sequence,
       a.ev.event_hash AS alert_event_hash, e.chain.event_hash AS archived_event_hash,
       e.chain.event_hash IS NOT NULL AND e.chain.event_hash = a.ev.event_hash AS hash_matches,
       e."time", e.actor."user".name AS user_name, e.api.operation AS operation, e.message
FROM (SELECT *, UNNEST(evidence) AS ev FROM archive_alerts) a
LEFT JOIN archive_events e ON e.event_id = a.ev.event_id AND e.tenant_id = a.tenant_id
