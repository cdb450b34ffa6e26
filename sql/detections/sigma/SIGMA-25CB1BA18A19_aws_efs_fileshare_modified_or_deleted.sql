-- id: SIGMA-25CB1BA18A19
-- title: AWS EFS Fileshare Modified or Deleted
-- description: Detects when a EFS Fileshare is modified or deleted. You can't delete a file system
--   that is in use. If the file system has any mount targets, the adversary must first
--   delete them, so deletion of a mount will occur before deletion of a fileshare.
-- severity: medium
-- mitre: TA0040
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 25cb1ba1-8a19-4a23-a198-d252664c8cef
-- sigma_author: Austin Songer @austinsonger
-- sigma_references: https://docs.aws.amazon.com/efs/latest/ug/API_DeleteFileSystem.html
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.impact
-- sigma_source: cloud/aws/cloudtrail/aws_efs_fileshare_modified_or_deleted.yml; SigmaHQ, Detection
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
  AND (LOWER(api_service) = 'elasticfilesystem.amazonaws.com' AND LOWER(api_operation) = 'deletefilesystem')
