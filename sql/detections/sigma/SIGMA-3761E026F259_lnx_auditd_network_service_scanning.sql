-- id: SIGMA-3761E026F259
-- title: Linux Network Service Scanning - Auditd
-- description: Detects enumeration of local or remote network services.
-- severity: low
-- mitre: T1046
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 3761e026-f259-44e6-8826-719ed8079408
-- sigma_author: Alejandro Ortuno, oscd.community
-- sigma_references: https://github.com/redcanaryco/atomic-red-team/blob/f339e7da7d05f6057fdfcdd3742bfcf365fee2a9/atomics/T1046/T1046.md
-- sigma_level: low
-- sigma_status: test
-- sigma_tags: attack.discovery, attack.t1046
-- sigma_source: linux/auditd/syscall/lnx_auditd_network_service_scanning.yml; SigmaHQ, Detection
--   Rule License 1.1
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
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'SYSCALL') AND (LOWER(unmapped['exe']) LIKE '%/telnet' ESCAPE '\' OR LOWER(unmapped['exe']) LIKE '%/nmap' ESCAPE '\' OR LOWER(unmapped['exe']) LIKE '%/netcat' ESCAPE '\' OR LOWER(unmapped['exe']) LIKE '%/nc' ESCAPE '\' OR LOWER(unmapped['exe']) LIKE '%/ncat' ESCAPE '\' OR LOWER(unmapped['exe']) LIKE '%/nc.openbsd' ESCAPE '\') AND LOWER(unmapped['key']) = 'network_connect_4')
