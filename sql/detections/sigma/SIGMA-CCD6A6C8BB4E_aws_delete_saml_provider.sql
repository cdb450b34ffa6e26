-- id: SIGMA-CCD6A6C8BB4E
-- title: AWS SAML Provider Deletion Activity
-- description: Detects the deletion of an AWS SAML provider, potentially indicating malicious
--   intent to disrupt administrative or security team access. An attacker can remove the
--   SAML provider for the information security team or a team of system administrators,
--   to make it difficult for them to work and investigate at the time of the attack and
--   after it.
-- severity: medium
-- mitre: T1078.004, T1531
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: ccd6a6c8-bb4e-4a91-9d2a-07e632819374
-- sigma_author: Ivan Saakov
-- sigma_references: https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteSAMLProvider.html
-- sigma_level: medium
-- sigma_status: experimental
-- sigma_tags: attack.stealth, attack.t1078.004, attack.privilege-escalation, attack.initial-access,
--   attack.persistence, attack.t1531, attack.impact
-- sigma_source: cloud/aws/cloudtrail/aws_delete_saml_provider.yml; SigmaHQ, Detection Rule License
--   1.1
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
  AND (LOWER(api_service) = 'iam.amazonaws.com' AND LOWER(api_operation) = 'deletesamlprovider' AND LOWER(unmapped['status']) = 'success')
