-- id: SIGMA-33D50D0320EC
-- title: AWS EKS Cluster Created or Deleted
-- description: Identifies when an EKS cluster is created or deleted.
-- severity: low
-- mitre: T1485
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 33d50d03-20ec-4b74-a74e-1e65a38af1c0
-- sigma_author: Austin Songer
-- sigma_references: https://any-api.com/amazonaws_com/eks/docs/API_Description
-- sigma_level: low
-- sigma_status: test
-- sigma_tags: attack.impact, attack.t1485
-- sigma_source: cloud/aws/cloudtrail/aws_eks_cluster_created_or_deleted.yml; SigmaHQ, Detection
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
  AND (LOWER(api_service) = 'eks.amazonaws.com' AND (LOWER(api_operation) = 'createcluster' OR LOWER(api_operation) = 'deletecluster'))
