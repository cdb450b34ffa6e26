-- Changes to accounts, privileges and entities (OCSF IAM classes: 3001 Account Change,
-- 3003 Authorize Session, 3004 Entity Management other than Read), and any non-read action
-- by a user the directory marks privileged.
CREATE OR REPLACE VIEW privileged_changes AS
SELECT e."time", e.tenant_id, e.actor."user".name AS user_name, e.class_uid, e.activity_id,
       e.api.operation AS operation, e.status_id, e.enrichment."user".privileged AS actor_privileged,
       e.event_id, e.chain.sequence AS sequence, e.chain.event_hash AS event_hash, e.tenant, e.dt
FROM archive_events e
WHERE e.class_uid IN (3001, 3003)
   OR (e.class_uid = 3004 AND e.activity_id <> 2)
   OR (e.enrichment."user".privileged AND e.class_uid <> 3002 AND e.activity_id <> 2)
