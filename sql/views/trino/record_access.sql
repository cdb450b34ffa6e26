-- One row per (event, resource) touched: access to one data subject's records is
--   SELECT * FROM record_access WHERE owner_name = 'subject-42' OR resource_uid = 'customer/42'
CREATE OR REPLACE VIEW record_access AS
SELECT e."time", e.tenant_id, e.actor."user".name AS user_name, e.api.operation AS operation,
       e.activity_id, e.status_id, r.uid AS resource_uid, r.name AS resource_name, r.type AS resource_type,
       r.owner.name AS owner_name, r.owner.uid AS owner_uid,
       e.event_id, e.chain.sequence AS sequence, e.chain.event_hash AS event_hash, e.tenant, e.dt
FROM archive_events e
CROSS JOIN UNNEST(e.resources) AS r(uid, name, type, namespace, owner)
