-- id: SIGMA-F34047D920D3
-- title: System Information Discovery - Auditd
-- description: Detects System Information Discovery commands
-- severity: low
-- mitre: T1082
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: f34047d9-20d3-4e8b-8672-0a35cc50dc71
-- sigma_author: Pawel Mazur
-- sigma_references: https://github.com/redcanaryco/atomic-red-team/blob/f296668303c29d3f4c07e42bdd2b28d8dd6625f9/atomics/T1082/T1082.md
-- sigma_level: low
-- sigma_status: test
-- sigma_tags: attack.discovery, attack.t1082
-- sigma_source: linux/auditd/lnx_auditd_system_info_discovery.yml; SigmaHQ, Detection Rule License
--   1.1
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
-- Sigma logsource product: linux, service: auditd; condition: 1 of selection_*
WHERE product_name = 'Linux auditd'
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'PATH') AND (LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/etc/lsb-release' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/etc/redhat-release' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/etc/issue') OR ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'EXECVE') AND (LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'uname' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'uptime' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'lsmod' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'hostname' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'env') OR ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'EXECVE') AND LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'grep' AND (LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) LIKE '%vbox%' ESCAPE '\' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) LIKE '%vm%' ESCAPE '\' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) LIKE '%xen%' ESCAPE '\' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) LIKE '%virtio%' ESCAPE '\' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) LIKE '%hv%' ESCAPE '\') OR ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'EXECVE') AND LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'kmod' AND LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) = 'list')
