-- DuckDB form of sql/trino/record_access.sql (UNNEST of a list of structs yields one struct).
CREATE OR REPLACE VIEW record_access AS
SELECT "time", tenant_id, actor."user".name AS user_name, api.operation AS operation,
       activity_id, status_id, r.uid AS resource_uid, r.name AS resource_name, r.type AS resource_type,
       r.owner.name AS owner_name, r.owner.uid AS owner_uid,
       event_id, chain.sequence AS sequence, chain.event_hash AS event_hash, tenant, dt
FROM (SELECT *, UNNEST(resources) AS r FROM archive_events)
