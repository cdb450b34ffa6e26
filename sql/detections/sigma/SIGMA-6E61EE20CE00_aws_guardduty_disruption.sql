-- id: SIGMA-6E61EE20CE00
-- title: AWS GuardDuty Important Change
-- description: Detects updates of the GuardDuty list of trusted IPs, perhaps to disable security
--   alerts against malicious IPs.
-- severity: high
-- mitre: T1685
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 6e61ee20-ce00-4f8d-8aee-bedd8216f7e3
-- sigma_author: faloker
-- sigma_references: https://github.com/RhinoSecurityLabs/pacu/blob/866376cd711666c775bbfcde0524c817f2c5b181/pacu/modules/guardduty__whitelist_ip/main.py#L9
-- sigma_level: high
-- sigma_status: test
-- sigma_tags: attack.defense-impairment, attack.t1685
-- sigma_source: cloud/aws/cloudtrail/aws_guardduty_disruption.yml; SigmaHQ, Detection Rule License
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
  AND (LOWER(api_service) = 'guardduty.amazonaws.com' AND LOWER(api_operation) = 'createipset')
