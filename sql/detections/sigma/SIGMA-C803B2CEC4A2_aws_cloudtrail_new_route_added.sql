-- id: SIGMA-C803B2CEC4A2
-- title: New Network Route Added
-- description: Detects the addition of a new network route to a route table in AWS.
-- severity: medium
-- mitre: T1686.001
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: c803b2ce-c4a2-4836-beae-b112010390b1
-- sigma_author: jamesc-grafana
-- sigma_references: https://www.gorillastack.com/blog/real-time-events/important-aws-cloudtrail-security-events-tracking/
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.defense-impairment, attack.t1686.001
-- sigma_source: cloud/aws/cloudtrail/aws_cloudtrail_new_route_added.yml; SigmaHQ, Detection Rule
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
  AND (LOWER(api_service) = 'ec2.amazonaws.com' AND LOWER(api_operation) = 'createroute')
