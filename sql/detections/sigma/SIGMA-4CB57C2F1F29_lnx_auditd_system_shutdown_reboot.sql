-- id: SIGMA-4CB57C2F1F29
-- title: System Shutdown/Reboot - Linux
-- description: Adversaries may shutdown/reboot systems to interrupt access to, or aid in the
--   destruction of, those systems.
-- severity: informational
-- mitre: T1529
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 4cb57c2f-1f29-41f8-893d-8bed8e1c1d2f
-- sigma_author: Igor Fits, oscd.community
-- sigma_references: https://github.com/redcanaryco/atomic-red-team/blob/f339e7da7d05f6057fdfcdd3742bfcf365fee2a9/atomics/T1529/T1529.md
-- sigma_level: informational
-- sigma_status: test
-- sigma_tags: attack.impact, attack.t1529
-- sigma_source: linux/auditd/execve/lnx_auditd_system_shutdown_reboot.yml; SigmaHQ, Detection Rule
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
-- Sigma logsource product: linux, service: auditd; condition: execve and (shutdowncmd or (init and initselection))
WHERE product_name = 'Linux auditd'
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'EXECVE') AND ((LOWER(message) LIKE '%shutdown%' ESCAPE '\' OR LOWER(raw_data) LIKE '%shutdown%' ESCAPE '\') OR (LOWER(message) LIKE '%reboot%' ESCAPE '\' OR LOWER(raw_data) LIKE '%reboot%' ESCAPE '\') OR (LOWER(message) LIKE '%halt%' ESCAPE '\' OR LOWER(raw_data) LIKE '%halt%' ESCAPE '\') OR (LOWER(message) LIKE '%poweroff%' ESCAPE '\' OR LOWER(raw_data) LIKE '%poweroff%' ESCAPE '\') OR ((LOWER(message) LIKE '%init%' ESCAPE '\' OR LOWER(raw_data) LIKE '%init%' ESCAPE '\') OR (LOWER(message) LIKE '%telinit%' ESCAPE '\' OR LOWER(raw_data) LIKE '%telinit%' ESCAPE '\')) AND ((LOWER(message) LIKE '%0%' ESCAPE '\' OR LOWER(raw_data) LIKE '%0%' ESCAPE '\') OR (LOWER(message) LIKE '%6%' ESCAPE '\' OR LOWER(raw_data) LIKE '%6%' ESCAPE '\'))))
