-- id: SIGMA-7A4409FCF8CA
-- title: LoadBalancer Security Group Modification
-- description: Detects changes to the security groups associated with an Elastic Load Balancer
--   (ELB) or Application Load Balancer (ALB). This can indicate that a misconfiguration
--   allowing more traffic into the system than required, or could indicate that an
--   attacker is attempting to enable new connections into a VPC or subnet controlled by
--   the account.
-- severity: medium
-- mitre: T1190
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 7a4409fc-f8ca-45f6-8006-127d779eaad9
-- sigma_author: jamesc-grafana
-- sigma_references: https://www.gorillastack.com/blog/real-time-events/important-aws-cloudtrail-security-events-tracking/
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.initial-access, attack.t1190
-- sigma_source: cloud/aws/cloudtrail/aws_cloudtrail_security_group_change_loadbalancer.yml;
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
-- Sigma logsource product: aws, service: cloudtrail; condition: selection
WHERE product_name = 'CloudTrail'
  AND (LOWER(api_service) = 'elasticloadbalancing.amazonaws.com' AND (LOWER(api_operation) = 'applysecuritygroupstoloadbalancer' OR LOWER(api_operation) = 'setsecuritygroups'))
