-- id: SIGMA-7C797DA29CF2
-- title: AWS ElastiCache Security Group Modified or Deleted
-- description: Identifies when an ElastiCache security group has been modified or deleted.
-- severity: low
-- mitre: T1531
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 7c797da2-9cf2-4523-ba64-33b06339f0cc
-- sigma_author: Austin Songer @austinsonger
-- sigma_references: https://github.com/elastic/detection-rules/blob/7d5efd68603f42be5e125b5a6a503b2ef3ac0f4e/rules/integrations/aws/impact_elasticache_security_group_modified_or_deleted.toml
-- sigma_level: low
-- sigma_status: test
-- sigma_tags: attack.impact, attack.t1531
-- sigma_source: cloud/aws/cloudtrail/aws_elasticache_security_group_modified_or_deleted.yml;
--   SigmaHQ, Detection Rule License 1.1
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
  AND (LOWER(api_service) = 'elasticache.amazonaws.com' AND (LOWER(api_operation) = 'deletecachesecuritygroup' OR LOWER(api_operation) = 'authorizecachesecuritygroupingress' OR LOWER(api_operation) = 'revokecachesecuritygroupingress' OR LOWER(api_operation) = 'authorizecachesecuritygroupegress' OR LOWER(api_operation) = 'revokecachesecuritygroupegress'))
