-- id: SIGMA-C3F265C7FF03
-- title: Restore Public AWS RDS Instance
-- description: Detects the recovery of a new public database instance from a snapshot. It may be a
--   part of data exfiltration.
-- severity: high
-- mitre: T1020
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: c3f265c7-ff03-4056-8ab2-d486227b4599
-- sigma_author: faloker
-- sigma_references: https://github.com/RhinoSecurityLabs/pacu/blob/866376cd711666c775bbfcde0524c817f2c5b181/pacu/modules/rds__explore_snapshots/main.py
-- sigma_level: high
-- sigma_status: test
-- sigma_tags: attack.exfiltration, attack.t1020
-- sigma_source: cloud/aws/cloudtrail/aws_rds_public_db_restore.yml; SigmaHQ, Detection Rule License
--   1.1
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
  AND (LOWER(api_service) = 'rds.amazonaws.com' AND LOWER(JSON_VALUE(unmapped['responseElements'], '$.publiclyAccessible')) = 'true' AND LOWER(api_operation) = 'restoredbinstancefromdbsnapshot')
