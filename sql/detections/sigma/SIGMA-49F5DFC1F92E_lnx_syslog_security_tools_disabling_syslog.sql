-- id: SIGMA-49F5DFC1F92E
-- title: Disabling Security Tools - Builtin
-- description: Detects disabling security tools
-- severity: medium
-- mitre: T1686
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 49f5dfc1-f92e-4d34-96fa-feba3f6acf36
-- sigma_author: Ömer Günal, Alejandro Ortuno, oscd.community
-- sigma_references: https://github.com/redcanaryco/atomic-red-team/blob/f339e7da7d05f6057fdfcdd3742bfcf365fee2a9/atomics/T1562.004/T1562.004.md
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.defense-impairment, attack.t1686
-- sigma_source: linux/builtin/syslog/lnx_syslog_security_tools_disabling_syslog.yml; SigmaHQ,
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
-- Sigma logsource product: linux, service: syslog; condition: keywords
WHERE source_system = 'syslog'
  AND ((LOWER(message) LIKE '%stopping iptables%' ESCAPE '\' OR LOWER(raw_data) LIKE '%stopping iptables%' ESCAPE '\') OR (LOWER(message) LIKE '%stopping ip6tables%' ESCAPE '\' OR LOWER(raw_data) LIKE '%stopping ip6tables%' ESCAPE '\') OR (LOWER(message) LIKE '%stopping firewalld%' ESCAPE '\' OR LOWER(raw_data) LIKE '%stopping firewalld%' ESCAPE '\') OR (LOWER(message) LIKE '%stopping cbdaemon%' ESCAPE '\' OR LOWER(raw_data) LIKE '%stopping cbdaemon%' ESCAPE '\') OR (LOWER(message) LIKE '%stopping falcon-sensor%' ESCAPE '\' OR LOWER(raw_data) LIKE '%stopping falcon-sensor%' ESCAPE '\'))
