-- id: SIGMA-C830F15D6F6E
-- title: Logging Configuration Changes on Linux Host
-- description: Detect changes of syslog daemons configuration files
-- severity: high
-- mitre: T1685
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: c830f15d-6f6e-430f-8074-6f73d6807841
-- sigma_author: Mikhail Larin, oscd.community
-- sigma_references: self experience
-- sigma_level: high
-- sigma_status: test
-- sigma_tags: attack.defense-impairment, attack.t1685
-- sigma_source: linux/auditd/path/lnx_auditd_logging_config_change.yml; SigmaHQ, Detection Rule
--   License 1.1
SELECT
    tenant_id,
    'host' AS entity_type,
    COALESCE(dst_hostname, src_hostname, tenant_id) AS entity_value,
    event_time AS window_start,
    event_time + INTERVAL '0.001' SECOND AS window_end,
    CAST(1 AS BIGINT) AS event_count,
    ARRAY[ROW(event_id, chain_id, chain_seq, event_hash)] AS evidence,
    event_time AS first_seen,
    event_time AS last_seen
FROM events
-- compiled by `auditflow rules import-sigma` (udfs/detect/sigma): change the Sigma rule and re-import
-- Sigma logsource product: linux, service: auditd; condition: selection
WHERE product_name = 'Linux auditd'
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'PATH') AND (LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/etc/syslog.conf' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/etc/rsyslog.conf' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/etc/syslog-ng/syslog-ng.conf'))
