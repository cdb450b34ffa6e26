-- id: SIGMA-D3ADB3EFB7E7
-- title: AWS Identity Center Identity Provider Change
-- description: Detects a change in the AWS Identity Center (FKA AWS SSO) identity provider. A
--   change in identity provider allows an attacker to establish persistent access or
--   escalate privileges via user impersonation.
-- severity: high
-- mitre: T1556
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: d3adb3ef-b7e7-4003-9092-1924c797db35
-- sigma_author: Michael McIntyre @wtfender
-- sigma_references: https://docs.aws.amazon.com/singlesignon/latest/userguide/app-enablement.html,
--   https://docs.aws.amazon.com/singlesignon/latest/userguide/sso-info-in-cloudtrail.html,
--   https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsiamidentitycentersuccessortoawssinglesign-on.html
-- sigma_level: high
-- sigma_status: test
-- sigma_tags: attack.persistence, attack.credential-access, attack.defense-impairment, attack.t1556
-- sigma_source: cloud/aws/cloudtrail/aws_sso_idp_change.yml; SigmaHQ, Detection Rule License 1.1
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
  AND ((LOWER(api_service) = 'sso-directory.amazonaws.com' OR LOWER(api_service) = 'sso.amazonaws.com') AND (LOWER(api_operation) = 'associatedirectory' OR LOWER(api_operation) = 'disableexternalidpconfigurationfordirectory' OR LOWER(api_operation) = 'disassociatedirectory' OR LOWER(api_operation) = 'enableexternalidpconfigurationfordirectory'))
