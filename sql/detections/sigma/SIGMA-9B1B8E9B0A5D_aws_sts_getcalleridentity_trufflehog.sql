-- id: SIGMA-9B1B8E9B0A5D
-- title: AWS STS GetCallerIdentity Enumeration Via TruffleHog
-- description: Detects the use of TruffleHog for AWS credential validation by identifying
--   GetCallerIdentity API calls where the userAgent indicates TruffleHog. Threat actors
--   leverage TruffleHog to enumerate and validate exposed AWS keys. Successful
--   exploitation allows threat actors to confirm the validity of compromised AWS
--   credentials, facilitating further unauthorized access and actions within the AWS
--   environment.
-- severity: medium
-- mitre: T1087.004
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 9b1b8e9b-0a5d-4af1-9d2f-4c4b6e7c2c9d
-- sigma_author: Adan Alvarez @adanalvarez
-- sigma_references: https://www.rapid7.com/blog/post/tr-crimson-collective-a-new-threat-group-observed-operating-in-the-cloud/,
--   https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html,
--   https://github.com/trufflesecurity/trufflehog
-- sigma_level: medium
-- sigma_status: experimental
-- sigma_tags: attack.discovery, attack.t1087.004
-- sigma_source: cloud/aws/cloudtrail/aws_sts_getcalleridentity_trufflehog.yml; SigmaHQ, Detection
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
-- Sigma logsource product: aws, service: cloudtrail; condition: selection
WHERE product_name = 'CloudTrail'
  AND (LOWER(api_service) = 'sts.amazonaws.com' AND LOWER(api_operation) = 'getcalleridentity' AND LOWER(user_agent) LIKE '%trufflehog%' ESCAPE '\')
