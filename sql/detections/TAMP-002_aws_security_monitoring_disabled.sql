-- id: TAMP-002
-- title: AWS logging or security monitoring disabled or deleted
-- description: Defense evasion beyond CloudTrail trails (those are TAMP-001): a GuardDuty
--   detector deleted or disabled or a member unlinked, the AWS Config recorder stopped or
--   deleted, CloudWatch alarms or log groups / streams / subscriptions deleted, VPC flow logs
--   deleted, Security Hub or its standards disabled, IAM Access Analyzer, Macie, Inspector or
--   Detective turned off, WAF or Route 53 Resolver query logging removed, a CloudTrail Lake
--   store deleted or stopped. Successful calls are high severity, failed ones medium.
-- severity: high
-- mitre: T1562.008, T1562.001, T1070
-- compliance: PCI-DSS-10.3.2, PCI-DSS-10.2.6, PCI-DSS-10.7.2, HIPAA-164.312(b), SOC2-CC7.2
-- dedup_window: 1h
-- dedup_key: tenant_id, entity_value
-- owner: cloud-security
WITH evasion AS (
    SELECT * FROM events
    -- CloudTrail records: api_service is the eventSource, api_operation the eventName
    WHERE (api_service = 'guardduty.amazonaws.com'
           AND (api_operation IN ('DeleteDetector', 'DisassociateFromMasterAccount',
                                  'DisassociateFromAdministratorAccount', 'DisassociateMembers',
                                  'DeleteMembers', 'StopMonitoringMembers',
                                  'DeletePublishingDestination')
                -- requestParameters is compact JSON: {"detectorId":"...","enable":false}
                OR (api_operation = 'UpdateDetector'
                    AND unmapped['requestParameters'] LIKE '%"enable":false%')))
       OR (api_service = 'config.amazonaws.com'
           AND api_operation IN ('StopConfigurationRecorder', 'DeleteConfigurationRecorder',
                                 'DeleteDeliveryChannel'))
       OR (api_service = 'monitoring.amazonaws.com'
           AND api_operation IN ('DeleteAlarms', 'DisableAlarmActions'))
       OR (api_service = 'logs.amazonaws.com'
           AND api_operation IN ('DeleteLogGroup', 'DeleteLogStream', 'DeleteSubscriptionFilter'))
       OR (api_service = 'ec2.amazonaws.com' AND api_operation = 'DeleteFlowLogs')
       OR (api_service = 'securityhub.amazonaws.com'
           AND api_operation IN ('DisableSecurityHub', 'BatchDisableStandards',
                                 'DisableImportFindingsForProduct'))
       OR (api_service = 'access-analyzer.amazonaws.com' AND api_operation = 'DeleteAnalyzer')
       OR (api_service = 'macie2.amazonaws.com' AND api_operation = 'DisableMacie')
       OR (api_service = 'inspector2.amazonaws.com' AND api_operation = 'Disable')
       OR (api_service = 'detective.amazonaws.com' AND api_operation = 'DeleteGraph')
       OR (api_service = 'wafv2.amazonaws.com' AND api_operation = 'DeleteLoggingConfiguration')
       OR (api_service = 'route53resolver.amazonaws.com'
           AND api_operation IN ('DeleteResolverQueryLogConfig',
                                 'DisassociateResolverQueryLogConfig'))
       OR (api_service = 'cloudtrail.amazonaws.com'
           AND api_operation IN ('DeleteEventDataStore', 'StopEventDataStoreIngestion'))
)
SELECT
    tenant_id,
    'user' AS entity_type,
    COALESCE(user_name, user_uid, 'unknown') AS entity_value,
    event_time AS window_start,
    event_time + INTERVAL '0.001' SECOND AS window_end,
    CAST(1 AS BIGINT) AS event_count,
    ARRAY[ROW(event_id, chain_id, chain_seq, event_hash)] AS evidence,
    event_time AS first_seen,
    event_time AS last_seen,
    -- a failed attempt is still worth a look, but not a page
    CASE WHEN status_id = 2 THEN 'medium' ELSE 'high' END AS severity
FROM evasion
