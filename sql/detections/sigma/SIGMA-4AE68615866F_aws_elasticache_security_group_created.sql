-- id: SIGMA-4AE68615866F
-- title: AWS ElastiCache Security Group Created
-- description: Detects when an ElastiCache security group has been created.
-- severity: low
-- mitre: T1136, T1136.003
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 4ae68615-866f-4304-b24b-ba048dfa5ca7
-- sigma_author: Austin Songer @austinsonger
-- sigma_references: https://github.com/elastic/detection-rules/blob/598f3d7e0a63221c0703ad9a0ea7e22e7bc5961e/rules/integrations/aws/persistence_elasticache_security_group_creation.toml
-- sigma_level: low
-- sigma_status: test
-- sigma_tags: attack.persistence, attack.t1136, attack.t1136.003
-- sigma_source: cloud/aws/cloudtrail/aws_elasticache_security_group_created.yml; SigmaHQ, Detection
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
  AND (LOWER(api_service) = 'elasticache.amazonaws.com' AND LOWER(api_operation) = 'createcachesecuritygroup')
