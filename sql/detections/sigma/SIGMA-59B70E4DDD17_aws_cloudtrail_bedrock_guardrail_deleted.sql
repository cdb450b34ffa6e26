-- id: SIGMA-59B70E4DDD17
-- title: AWS Bedrock Guardrail Deleted
-- description: Detects deletion of an Amazon Bedrock guardrail, which may indicate attempts to
--   remove model safety controls and allow unsafe or unauthorized model responses.
-- severity: medium
-- mitre: T1685
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 59b70e4d-dd17-44a9-b740-acf07ae3eb6a
-- sigma_author: Marco Pedrinazzi (@pedrinazziM) (InTheCyber)
-- sigma_references: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_DeleteGuardrail.html
-- sigma_level: medium
-- sigma_status: experimental
-- sigma_tags: attack.defense-impairment, attack.t1685
-- sigma_source: cloud/aws/cloudtrail/aws_cloudtrail_bedrock_guardrail_deleted.yml; SigmaHQ,
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
  AND (LOWER(api_operation) = 'deleteguardrail' AND LOWER(api_service) = 'bedrock.amazonaws.com')
