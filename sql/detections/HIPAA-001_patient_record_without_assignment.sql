-- id: HIPAA-001
-- title: Patient record opened by a user not assigned to the patient
-- description: A user accesses a patient's record without an active care-team assignment at
--   that time (HIPAA minimum-necessary access). Assignments come from the EHR's care-team
--   export in reference/patient_assignments.csv, read as of the access time (temporal join).
-- severity: medium
-- mitre: T1078, T1213
-- compliance: HIPAA-164.312(b), HIPAA-164.308(a)(4), HIPAA-164.502(b), SOC2-CC6.1
-- dedup_window: 1h
-- dedup_key: tenant_id, entity_value
-- owner: privacy-office
-- input: LOWER(resource_type) IN ('patient', 'patient_record', 'medical_record')
WITH patient_access AS (
    SELECT * FROM events
    WHERE status_id = 1 AND user_name IS NOT NULL AND resource_uid IS NOT NULL
      AND LOWER(resource_type) IN ('patient', 'patient_record', 'medical_record')
),
-- the assignment of this user to this patient valid at the access time, if any
unassigned AS (
    SELECT p.*
    FROM patient_access AS p
    LEFT JOIN patient_assignments FOR SYSTEM_TIME AS OF p.event_time AS a
        ON p.tenant_id = a.tenant_id AND p.user_name = a.user_name AND p.resource_uid = a.patient_id
    WHERE a.status IS NULL OR a.status <> 'assigned'
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
FROM unassigned
