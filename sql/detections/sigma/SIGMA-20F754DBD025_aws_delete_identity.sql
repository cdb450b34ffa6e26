-- id: SIGMA-20F754DBD025
-- title: SES Identity Has Been Deleted
-- description: Detects an instance of an SES identity being deleted via the "DeleteIdentity" event.
--   This may be an indicator of an adversary removing the account that carried out
--   suspicious or malicious activities
-- severity: medium
-- mitre: T1070
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 20f754db-d025-4a8f-9d74-e0037e999a9a
-- sigma_author: Janantha Marasinghe
-- sigma_references: https://unit42.paloaltonetworks.com/compromised-cloud-compute-credentials/
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.stealth, attack.t1070
-- sigma_source: cloud/aws/cloudtrail/aws_delete_identity.yml; SigmaHQ, Detection Rule License 1.1
SELECT
    tenant_id,
    'user' AS entity_type,
    COALESCE(user_name, user_uid, src_ip, src_hostname, tenant_id) AS entity_value,
    event_time AS window_start,
    event_time + INTERVAL '0.001' SECOND AS window_end,
    CAST(1 AS BIGINT) AS event_count,
    ARRAY[ROW(event_id, chain_id, chain_seq, event_hash)] AS evidence,
    event_time AS first_seen,
    event_time AS last_seen
FROM events
-- compiled by `auditflow rules import-sigma` (udfs/detect/sigma): change the Sigma rule and re-import
-- Sigma logsource product: aws, service: cloudtrail; condition: selection
WHERE product_name = 'CloudTrail'
  AND (LOWER(api_service) = 'ses.amazonaws.com' AND LOWER(api_operation) = 'deleteidentity')
