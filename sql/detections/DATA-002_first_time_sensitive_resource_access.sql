-- id: DATA-002
-- title: First access of a sensitive resource by a user
-- description: A user reads a secret, key or protected record type they have never accessed
--   before (as far as this job's state reaches back: detect.state_ttl, 90 days by default,
--   after the pair's last access; keep state across upgrades with a savepoint). Kubernetes secrets, AWS Secrets Manager secrets and KMS keys, patient and
--   card-holder records.
-- severity: low
-- mitre: T1552, T1555, T1213
-- compliance: PCI-DSS-10.2.1, HIPAA-164.312(b), SOC2-CC6.1, SOC2-CC7.2
-- dedup_window: 1h
-- dedup_key: tenant_id, entity_value
-- owner: detection-engineering
-- input: activity_id IN (2, 99) AND user_name IS NOT NULL AND COALESCE(resource_uid, resource_name) IS NOT NULL
WITH sensitive_access AS (
    SELECT *, COALESCE(resource_uid, resource_namespace || '/' || resource_name, resource_name) AS resource_key
    FROM events
    -- reads (get, list, watch, GetSecretValue, record views: 2) and uses (KMS Decrypt and
    -- GenerateDataKey: 99); creating, writing or deleting a secret discloses nothing new
    WHERE status_id = 1 AND activity_id IN (2, 99) AND user_name IS NOT NULL
      AND COALESCE(resource_uid, resource_name) IS NOT NULL
      AND resource_type IN ('secrets', 'AWS::SecretsManager::Secret', 'AWS::KMS::Key', 'patient',
                            'patient_record', 'medical_record', 'cardholder', 'payment_card')
),
-- how many times this user has touched this resource so far, this access included
numbered AS (
    SELECT *,
        COUNT(*) OVER (
            PARTITION BY tenant_id, user_name, resource_type, resource_key
            ORDER BY event_time
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS nth
    FROM sensitive_access
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
FROM numbered
WHERE nth = 1
