-- id: SIGMA-B45AB1D2712F
-- title: AWS STS GetSessionToken Misuse
-- description: Identifies the suspicious use of GetSessionToken. Tokens could be created and used
--   by attackers to move laterally and escalate privileges.
-- severity: low
-- mitre: T1548, T1550, T1550.001
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: b45ab1d2-712f-4f01-a751-df3826969807
-- sigma_author: Austin Songer @austinsonger
-- sigma_references: https://github.com/elastic/detection-rules/pull/1213,
--   https://docs.aws.amazon.com/STS/latest/APIReference/API_GetSessionToken.html
-- sigma_level: low
-- sigma_status: test
-- sigma_tags: attack.lateral-movement, attack.privilege-escalation, attack.t1548, attack.t1550,
--   attack.t1550.001
-- sigma_source: cloud/aws/cloudtrail/aws_sts_getsessiontoken_misuse.yml; SigmaHQ, Detection Rule
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
  AND (LOWER(api_service) = 'sts.amazonaws.com' AND LOWER(api_operation) = 'getsessiontoken' AND LOWER(user_type) = 'iamuser')
