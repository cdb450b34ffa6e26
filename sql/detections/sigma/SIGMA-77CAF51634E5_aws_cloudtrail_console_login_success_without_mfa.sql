-- id: SIGMA-77CAF51634E5
-- title: AWS Successful Console Login Without MFA
-- description: Detects successful AWS console logins that were performed without Multi-Factor
--   Authentication (MFA). This alert can be used to identify potential unauthorized
--   access attempts, as logging in without MFA can indicate compromised credentials or
--   misconfigured security settings.
-- severity: medium
-- mitre: T1078.004
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 77caf516-34e5-4df9-b4db-20744fea0a60
-- sigma_author: Thuya@Hacktilizer, Ivan Saakov
-- sigma_references: https://securitylabs.datadoghq.com/cloud-security-atlas/vulnerabilities/iam-user-without-mfa/,
--   https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-aws-console-sign-in-events.html
-- sigma_level: medium
-- sigma_status: experimental
-- sigma_tags: attack.initial-access, attack.persistence, attack.privilege-escalation,
--   attack.stealth, attack.t1078.004
-- sigma_source: cloud/aws/cloudtrail/aws_cloudtrail_console_login_success_without_mfa.yml; SigmaHQ,
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
  AND (LOWER(api_operation) = 'consolelogin' AND LOWER(JSON_VALUE(unmapped['additionalEventData'], '$.MFAUsed')) = 'no' AND LOWER(JSON_VALUE(unmapped['responseElements'], '$.ConsoleLogin')) = 'success')
