-- id: SIGMA-D2656E78C069
-- title: AWS GuardDuty Detector Deleted Or Updated
-- description: Detects successful deletion or disabling of an AWS GuardDuty detector, possibly by
--   an attacker trying to avoid detection of its malicious activities. Upon deletion,
--   GuardDuty stops monitoring the environment and all existing findings are lost.
--   Verify with the user identity that this activity is legitimate.
-- severity: high
-- mitre: T1685, T1685.002
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: d2656e78-c069-4571-8220-9e0ab5913f19
-- sigma_author: suktech24
-- sigma_references: https://docs.aws.amazon.com/guardduty/latest/APIReference/API_DeleteDetector.html,
--   https://docs.aws.amazon.com/guardduty/latest/APIReference/API_UpdateDetector.html,
--   https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_suspend-disable.html,
--   https://docs.datadoghq.com/security/default_rules/719-39f-9cd/,
--   https://docs.prismacloud.io/en/enterprise-edition/policy-reference/aws-policies/aws-general-policies/ensure-aws-guardduty-detector-is-enabled,
--   https://docs.stellarcyber.ai/5.2.x/Using/ML/Alert-Rule-Based-Potentially_Malicious_AWS_Activity.html,
--   https://github.com/Azure/Azure-Sentinel/blob/master/Solutions/Amazon%20Web%20Services/Analytic%20Rules/AWS_GuardDutyDisabled.yaml,
--   https://github.com/elastic/detection-rules/blob/main/rules/integrations/aws/defense_evasion_guardduty_detector_deletion.toml,
--   https://help.fortinet.com/fsiem/Public_Resource_Access/7_4_0/rules/PH_RULE_AWS_GuardDuty_Detector_Deletion.htm,
--   https://research.splunk.com/sources/5d8bd475-c8bc-4447-b27f-efa508728b90/,
--   https://suktech24.com/2025/07/17/aws-threat-detection-rule-guardduty-detector-disabled-or-suspended/,
--   https://www.atomicredteam.io/atomic-red-team/atomics/T156001#atomic-test-46---aws---guardduty-suspension-or-deletion
-- sigma_level: high
-- sigma_status: experimental
-- sigma_tags: attack.defense-impairment, attack.t1685, attack.t1685.002
-- sigma_source: cloud/aws/cloudtrail/aws_cloudtrail_guardduty_detector_deleted_or_updated.yml;
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
-- Sigma logsource product: aws, service: cloudtrail; condition: selection_event_source and 1 of selection_action_* and 1 of selection_status_*
WHERE product_name = 'CloudTrail'
  AND (LOWER(api_service) = 'guardduty.amazonaws.com' AND (LOWER(api_operation) = 'deletedetector' OR LOWER(api_operation) = 'updatedetector' AND LOWER(JSON_VALUE(unmapped['requestParameters'], '$.enable')) = 'false') AND (LOWER(CASE WHEN api_operation = 'ConsoleLogin' AND (status_detail = 'Failure' OR status_detail = message) THEN NULL ELSE status_detail END) = 'success' OR CASE WHEN api_operation = 'ConsoleLogin' AND (status_detail = 'Failure' OR status_detail = message) THEN NULL ELSE status_detail END IS NULL))
