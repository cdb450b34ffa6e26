-- id: SIGMA-B207D563A1D9
-- title: System Info Discovery via Sysinfo Syscall
-- description: Detects use of the sysinfo system call in Linux, which provides a snapshot of key
--   system statistics such as uptime, load averages, memory usage, and the number of
--   running processes. Malware or reconnaissance tools might leverage sysinfo to
--   fingerprint the system - gathering data to determine if it's a viable target.
-- severity: low
-- mitre: T1057, T1082
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: b207d563-a1d9-4275-b349-77d1eb55aa6d
-- sigma_author: Milad Cheraghi
-- sigma_references: https://github.com/CheraghiMilad/bypass-Neo23x0-auditd-config/blob/f1c478a37911a5447d5ffcd580f22b167bf3df14/sysinfo-syscall/README.md,
--   https://man7.org/linux/man-pages/man2/sysinfo.2.html
-- sigma_level: low
-- sigma_status: experimental
-- sigma_tags: attack.discovery, attack.t1057, attack.t1082
-- sigma_source: linux/auditd/syscall/lnx_auditd_susp_discovery_sysinfo_syscall.yml; SigmaHQ,
--   Detection Rule License 1.1
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
-- Sigma logsource product: linux, service: auditd; condition: selection and not 1 of filter_optional_*
WHERE product_name = 'Linux auditd'
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'SYSCALL') AND LOWER(api_operation) = 'sysinfo' AND (LOWER(unmapped['exe']) LIKE '%/bin/splunkd' ESCAPE '\') IS NOT TRUE)
