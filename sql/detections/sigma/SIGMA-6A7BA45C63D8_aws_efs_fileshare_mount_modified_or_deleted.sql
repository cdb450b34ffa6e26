-- id: SIGMA-6A7BA45C63D8
-- title: AWS EFS Fileshare Mount Modified or Deleted
-- description: Detects when a EFS Fileshare Mount is modified or deleted. An adversary breaking any
--   file system using the mount target that is being deleted, which might disrupt
--   instances or applications using those mounts.
-- severity: medium
-- mitre: T1485
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 6a7ba45c-63d8-473e-9736-2eaabff79964
-- sigma_author: Austin Songer @austinsonger
-- sigma_references: https://docs.aws.amazon.com/efs/latest/ug/API_DeleteMountTarget.html
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.impact, attack.t1485
-- sigma_source: cloud/aws/cloudtrail/aws_efs_fileshare_mount_modified_or_deleted.yml; SigmaHQ,
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
  AND (LOWER(api_service) = 'elasticfilesystem.amazonaws.com' AND LOWER(api_operation) = 'deletemounttarget')
