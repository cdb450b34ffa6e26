-- id: SIGMA-78B3756A7804
-- title: AWS S3 Data Management Tampering
-- description: Detects when a user tampers with S3 data management in Amazon Web Services.
-- severity: low
-- mitre: T1537
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 78b3756a-7804-4ef7-8555-7b9024a02e2d
-- sigma_author: Austin Songer @austinsonger
-- sigma_references: https://github.com/elastic/detection-rules/pull/1145/files,
--   https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations.html,
--   https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketLogging.html,
--   https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketWebsite.html,
--   https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketEncryption.html,
--   https://docs.aws.amazon.com/AmazonS3/latest/userguide/setting-repl-config-perm-overview.html,
--   https://docs.aws.amazon.com/AmazonS3/latest/API/API_RestoreObject.html
-- sigma_level: low
-- sigma_status: test
-- sigma_tags: attack.exfiltration, attack.t1537
-- sigma_source: cloud/aws/cloudtrail/aws_s3_data_management_tampering.yml; SigmaHQ, Detection Rule
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
  AND (LOWER(api_service) = 's3.amazonaws.com' AND (LOWER(api_operation) = 'putbucketlogging' OR LOWER(api_operation) = 'putbucketwebsite' OR LOWER(api_operation) = 'putencryptionconfiguration' OR LOWER(api_operation) = 'putlifecycleconfiguration' OR LOWER(api_operation) = 'putreplicationconfiguration' OR LOWER(api_operation) = 'replicateobject' OR LOWER(api_operation) = 'restoreobject'))
