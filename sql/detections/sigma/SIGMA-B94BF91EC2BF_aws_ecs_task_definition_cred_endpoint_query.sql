-- id: SIGMA-B94BF91EC2BF
-- title: AWS ECS Task Definition That Queries The Credential Endpoint
-- description: Detects when an Elastic Container Service (ECS) Task Definition includes a command
--   to query the credential endpoint. This can indicate a potential adversary adding a
--   backdoor to establish persistence or escalate privileges.
-- severity: medium
-- mitre: T1525
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: b94bf91e-c2bf-4047-9c43-c6810f43baad
-- sigma_author: Darin Smith
-- sigma_references: https://github.com/RhinoSecurityLabs/pacu/blob/866376cd711666c775bbfcde0524c817f2c5b181/pacu/modules/ecs__backdoor_task_def/main.py,
--   https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html,
--   https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.persistence, attack.t1525
-- sigma_source: cloud/aws/cloudtrail/aws_ecs_task_definition_cred_endpoint_query.yml; SigmaHQ,
--   Detection Rule License 1.1
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
  AND (LOWER(api_service) = 'ecs.amazonaws.com' AND (LOWER(api_operation) = 'describetaskdefinition' OR LOWER(api_operation) = 'registertaskdefinition' OR LOWER(api_operation) = 'runtask') AND LOWER(NULLIF(JSON_QUERY(unmapped['requestParameters'], '$.containerDefinitions[*].command' WITH CONDITIONAL ARRAY WRAPPER), '[]')) LIKE '%$aws\_container\_credentials\_relative\_uri%' ESCAPE '\')
