-- id: DATA-001
-- title: Mass access to card-holder or patient records
-- description: One user reads 50 or more distinct card-holder or patient records within five
--   minutes (bulk export, scraping, or a compromised account harvesting PHI / CHD).
-- severity: high
-- mitre: T1530, T1213
-- compliance: PCI-DSS-10.2.1, PCI-DSS-10.2.1.1, HIPAA-164.312(b), HIPAA-164.308(a)(1)(ii)(D), SOC2-CC7.2
-- dedup_window: 1h
-- dedup_key: tenant_id, entity_value
-- owner: detection-engineering
-- input: class_uid = 6003 AND activity_id = 2 AND resource_uid IS NOT NULL
WITH sensitive_reads AS (
    SELECT * FROM events
    -- API Activity Read (activity 2 means Logoff in Authentication, so the class is named) of
    -- record types that hold PHI or CHD; a refused read disclosed nothing (unknown status counts)
    WHERE class_uid = 6003 AND activity_id = 2 AND COALESCE(status_id, 0) <> 2
      AND user_name IS NOT NULL AND resource_uid IS NOT NULL
      AND LOWER(resource_type) IN ('patient', 'patient_record', 'medical_record', 'cardholder',
                                   'card', 'payment_card')
)
SELECT
    tenant_id,
    'user' AS entity_type,
    user_name AS entity_value,
    window_start,
    window_end,
    COUNT(*) AS event_count,
    ARRAY_AGG(ROW(event_id, chain_id, chain_seq, event_hash)) AS evidence,
    MIN(event_time) AS first_seen,
    MAX(event_time) AS last_seen
FROM TABLE(TUMBLE(TABLE sensitive_reads, DESCRIPTOR(event_time), INTERVAL '5' MINUTE))
GROUP BY tenant_id, user_name, window_start, window_end
HAVING COUNT(DISTINCT resource_uid) >= 50
