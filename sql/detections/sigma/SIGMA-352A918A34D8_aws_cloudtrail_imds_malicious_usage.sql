-- id: SIGMA-352A918A34D8
-- title: Malicious Usage Of IMDS Credentials Outside Of AWS Infrastructure
-- description: Detects when an instance identity has taken an action that isn't inside SSM. This
--   can indicate that a compromised EC2 instance is being used as a pivot point.
-- severity: high
-- mitre: T1078, T1078.002
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 352a918a-34d8-4882-8470-44830c507aa3
-- sigma_author: jamesc-grafana
-- sigma_references: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-identity-roles.html,
--   https://ermetic.com/blog/aws/aws-ec2-imds-what-you-need-to-know/,
--   https://www.packetmischief.ca/2023/07/31/amazon-ec2-credential-exfiltration-how-it-happens-and-how-to-mitigate-it/#lifting-credentials-from-imds-this-is-why-we-cant-have-nice-things
-- sigma_level: high
-- sigma_status: test
-- sigma_tags: attack.privilege-escalation, attack.initial-access, attack.persistence,
--   attack.stealth, attack.t1078, attack.t1078.002
-- sigma_source: cloud/aws/cloudtrail/aws_cloudtrail_imds_malicious_usage.yml; SigmaHQ, Detection
--   Rule License 1.1
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
-- Sigma logsource product: aws, service: cloudtrail; condition: selection and not 1 of filter_main_*
WHERE product_name = 'CloudTrail'
  AND (REGEXP(CASE WHEN user_uid LIKE 'arn:%' THEN user_uid END, '.+:assumed-role/aws:.+') AND (LOWER(api_service) = 'ssm.amazonaws.com' OR LOWER(api_operation) = 'registermanagedinstance' OR LOWER(COALESCE(src_ip, src_hostname, unmapped['sourceIPAddress'])) = 'aws internal') IS NOT TRUE)
