-- id: SIGMA-EC541962C05A
-- title: New AWS Lambda Function URL Configuration Created
-- description: Detects when a user creates a Lambda function URL configuration, which could be used
--   to expose the function to the internet and potentially allow unauthorized access to
--   the function's IAM role for AWS API calls. This could give an adversary access to
--   the privileges associated with the Lambda service role that is attached to that
--   function.
-- severity: medium
-- mitre: TA0001, TA0004
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: ec541962-c05a-4420-b9ea-84de072d18f4
-- sigma_author: Ivan Saakov
-- sigma_references: https://docs.aws.amazon.com/lambda/latest/dg/API_CreateFunctionUrlConfig.html,
--   https://cloud.hacktricks.xyz/pentesting-cloud/aws-security/aws-privilege-escalation/aws-lambda-privesc,
--   https://www.wiz.io/blog/how-to-set-secure-defaults-on-aws
-- sigma_level: medium
-- sigma_status: experimental
-- sigma_tags: attack.initial-access, attack.privilege-escalation
-- sigma_source: cloud/aws/cloudtrail/aws_lambda_function_url.yml; SigmaHQ, Detection Rule License
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
-- Sigma logsource product: aws, service: cloudtrail; condition: selection
WHERE product_name = 'CloudTrail'
  AND (LOWER(api_service) = 'lambda.amazonaws.com' AND LOWER(api_operation) = 'createfunctionurlconfig')
