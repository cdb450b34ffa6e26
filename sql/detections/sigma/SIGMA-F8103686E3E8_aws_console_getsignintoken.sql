-- id: SIGMA-F8103686E3E8
-- title: AWS Console GetSigninToken Potential Abuse
-- description: Detects potentially suspicious events involving "GetSigninToken". An adversary using
--   the "aws_consoler" tool can leverage this console API to create temporary federated
--   credential that help obfuscate which AWS credential is compromised (the original
--   access key) and enables the adversary to pivot from the AWS CLI to console sessions
--   without the need for MFA using the new access key issued in this request.
-- severity: medium
-- mitre: T1021.007, T1550.001
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: f8103686-e3e8-46f3-be72-65f7fcb4aa53
-- sigma_author: Chester Le Bron (@123Le_Bron)
-- sigma_references: https://github.com/NetSPI/aws_consoler,
--   https://www.crowdstrike.com/blog/analysis-of-intrusion-campaign-targeting-telecom-and-bpo-companies/
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.lateral-movement, attack.t1021.007, attack.t1550.001
-- sigma_source: cloud/aws/cloudtrail/aws_console_getsignintoken.yml; SigmaHQ, Detection Rule
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
-- Sigma logsource product: aws, service: cloudtrail; condition: selection and not 1 of filter_main_*
WHERE product_name = 'CloudTrail'
  AND (LOWER(api_service) = 'signin.amazonaws.com' AND LOWER(api_operation) = 'getsignintoken' AND (LOWER(user_agent) LIKE '%jersey/${project.version}%' ESCAPE '\') IS NOT TRUE)
