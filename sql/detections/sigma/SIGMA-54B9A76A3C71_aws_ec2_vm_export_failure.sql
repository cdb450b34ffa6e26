-- id: SIGMA-54B9A76A3C71
-- title: AWS EC2 VM Export Failure
-- description: An attempt to export an AWS EC2 instance has been detected. A VM Export might
--   indicate an attempt to extract information from an instance.
-- severity: low
-- mitre: T1005, T1537
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 54b9a76a-3c71-4673-b4b3-2edb4566ea7b
-- sigma_author: Diogo Braz
-- sigma_references: https://docs.aws.amazon.com/vm-import/latest/userguide/vmexport.html#export-instance
-- sigma_level: low
-- sigma_status: test
-- sigma_tags: attack.collection, attack.t1005, attack.exfiltration, attack.t1537
-- sigma_source: cloud/aws/cloudtrail/aws_ec2_vm_export_failure.yml; SigmaHQ, Detection Rule License
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
-- Sigma logsource product: aws, service: cloudtrail; condition: selection and not 1 of filter*
WHERE product_name = 'CloudTrail'
  AND (LOWER(api_operation) = 'createinstanceexporttask' AND LOWER(api_service) = 'ec2.amazonaws.com' AND (message IS NOT NULL OR CASE WHEN api_operation = 'ConsoleLogin' AND (status_detail = 'Failure' OR status_detail = message) THEN NULL ELSE status_detail END IS NOT NULL OR LOWER(unmapped['responseElements']) LIKE '%failure%' ESCAPE '\') IS NOT TRUE)
