-- id: SIGMA-F43F5D2F3F2A
-- title: AWS Suspicious SAML Activity
-- description: Identifies when suspicious SAML activity has occurred in AWS. An adversary could
--   gain backdoor access via SAML.
-- severity: medium
-- mitre: T1078, T1548, T1550, T1550.001
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: f43f5d2f-3f2a-4cc8-b1af-81fde7dbaf0e
-- sigma_author: Austin Songer
-- sigma_references: https://docs.aws.amazon.com/IAM/latest/APIReference/API_UpdateSAMLProvider.html,
--   https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithSAML.html
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.initial-access, attack.lateral-movement, attack.persistence,
--   attack.privilege-escalation, attack.stealth, attack.t1078, attack.t1548,
--   attack.t1550, attack.t1550.001
-- sigma_source: cloud/aws/cloudtrail/aws_susp_saml_activity.yml; SigmaHQ, Detection Rule License
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
-- Sigma logsource product: aws, service: cloudtrail; condition: 1 of selection_*
WHERE product_name = 'CloudTrail'
  AND (LOWER(api_service) = 'sts.amazonaws.com' AND LOWER(api_operation) = 'assumerolewithsaml' OR LOWER(api_service) = 'iam.amazonaws.com' AND LOWER(api_operation) = 'updatesamlprovider')
