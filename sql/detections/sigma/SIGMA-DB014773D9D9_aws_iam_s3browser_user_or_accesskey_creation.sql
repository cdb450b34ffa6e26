-- id: SIGMA-DB014773D9D9
-- title: AWS IAM S3Browser User or AccessKey Creation
-- description: Detects S3 Browser utility creating IAM User or AccessKey.
-- severity: high
-- mitre: T1059.009, T1078.004
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: db014773-d9d9-4792-91e5-133337c0ffee
-- sigma_author: daniel.bohannon@permiso.io (@danielhbohannon)
-- sigma_references: https://permiso.io/blog/s/unmasking-guivil-new-cloud-threat-actor
-- sigma_level: high
-- sigma_status: test
-- sigma_tags: attack.privilege-escalation, attack.execution, attack.persistence,
--   attack.initial-access, attack.stealth, attack.t1059.009, attack.t1078.004
-- sigma_source: cloud/aws/cloudtrail/aws_iam_s3browser_user_or_accesskey_creation.yml; SigmaHQ,
--   Detection Rule License 1.1
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
  AND (LOWER(api_service) = 'iam.amazonaws.com' AND (LOWER(api_operation) = 'createuser' OR LOWER(api_operation) = 'createaccesskey') AND LOWER(user_agent) LIKE '%s3 browser%' ESCAPE '\')
