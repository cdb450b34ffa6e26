-- id: SIGMA-39C9F26D6E3B
-- title: AWS Bucket Deleted
-- description: Detects the deletion of S3 buckets in AWS CloudTrail logs. Monitoring the deletion
--   of S3 buckets is critical for security and data integrity, as it may indicate
--   potential data loss or unauthorized access attempts.
-- severity: medium
-- mitre: stealth
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 39c9f26d-6e3b-4dbb-9c7a-4154b0281112
-- sigma_author: Ivan Saakov, Nasreddine Bencherchali
-- sigma_references: https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucket.html,
--   https://awscli.amazonaws.com/v2/documentation/api/latest/reference/s3api/delete-bucket.html
-- sigma_level: medium
-- sigma_status: experimental
-- sigma_tags: attack.stealth
-- sigma_source: cloud/aws/cloudtrail/aws_cloudtrail_bucket_deleted.yml; SigmaHQ, Detection Rule
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
-- Sigma logsource product: aws, service: cloudtrail; condition: selection_event_name and 1 of selection_status_*
WHERE product_name = 'CloudTrail'
  AND (LOWER(api_operation) = 'deletebucket' AND (LOWER(CASE WHEN api_operation = 'ConsoleLogin' AND (status_detail = 'Failure' OR status_detail = message) THEN NULL ELSE status_detail END) = 'success' OR CASE WHEN api_operation = 'ConsoleLogin' AND (status_detail = 'Failure' OR status_detail = message) THEN NULL ELSE status_detail END IS NULL))
