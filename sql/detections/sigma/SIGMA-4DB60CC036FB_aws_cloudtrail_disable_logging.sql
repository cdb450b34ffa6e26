-- id: SIGMA-4DB60CC036FB
-- title: AWS CloudTrail Important Change
-- description: Detects disabling, deleting and updating of a Trail
-- severity: medium
-- mitre: T1685.002
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 4db60cc0-36fb-42b7-9b58-a5b53019fb74
-- sigma_author: vitaliy0x1
-- sigma_references: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/best-practices-security.html
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.defense-impairment, attack.t1685.002
-- sigma_source: cloud/aws/cloudtrail/aws_cloudtrail_disable_logging.yml; SigmaHQ, Detection Rule
--   License 1.1
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
-- Sigma logsource product: aws, service: cloudtrail; condition: selection_source
WHERE product_name = 'CloudTrail'
  AND (LOWER(api_service) = 'cloudtrail.amazonaws.com' AND (LOWER(api_operation) = 'stoplogging' OR LOWER(api_operation) = 'updatetrail' OR LOWER(api_operation) = 'deletetrail'))
