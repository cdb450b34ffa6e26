-- id: SIGMA-1AB3C5ED5BAF
-- title: AWS EC2 Startup Shell Script Change
-- description: Detects changes to the EC2 instance startup script. The shell script will be
--   executed as root/SYSTEM every time the specific instances are booted up.
-- severity: high
-- mitre: T1059.001, T1059.003, T1059.004
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 1ab3c5ed-5baf-417b-bb6b-78ca33f6c3df
-- sigma_author: faloker
-- sigma_references: https://github.com/RhinoSecurityLabs/pacu/blob/866376cd711666c775bbfcde0524c817f2c5b181/pacu/modules/ec2__startup_shell_script/main.py#L9
-- sigma_level: high
-- sigma_status: test
-- sigma_tags: attack.execution, attack.t1059.001, attack.t1059.003, attack.t1059.004
-- sigma_source: cloud/aws/cloudtrail/aws_ec2_startup_script_change.yml; SigmaHQ, Detection Rule
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
-- Sigma logsource product: aws, service: cloudtrail; condition: selection_source
WHERE product_name = 'CloudTrail'
  AND (LOWER(api_service) = 'ec2.amazonaws.com' AND LOWER(JSON_VALUE(unmapped['requestParameters'], '$.attribute')) = 'userdata' AND LOWER(api_operation) = 'modifyinstanceattribute')
