-- id: SIGMA-A607E1FE74BF
-- title: AWS SecurityHub Findings Evasion
-- description: Detects the modification of the findings on SecurityHub.
-- severity: high
-- mitre: T1685
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: a607e1fe-74bf-4440-a3ec-b059b9103157
-- sigma_author: Sittikorn S
-- sigma_references: https://docs.aws.amazon.com/cli/latest/reference/securityhub/
-- sigma_level: high
-- sigma_status: stable
-- sigma_tags: attack.defense-impairment, attack.t1685
-- sigma_source: cloud/aws/cloudtrail/aws_securityhub_finding_evasion.yml; SigmaHQ, Detection Rule
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
-- Sigma logsource product: aws, service: cloudtrail; condition: selection
WHERE product_name = 'CloudTrail'
  AND (LOWER(api_service) = 'securityhub.amazonaws.com' AND (LOWER(api_operation) = 'batchupdatefindings' OR LOWER(api_operation) = 'deleteinsight' OR LOWER(api_operation) = 'updatefindings' OR LOWER(api_operation) = 'updateinsight'))
