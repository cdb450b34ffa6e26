-- id: SIGMA-C52A914F3D8B
-- title: Binary Padding - Linux
-- description: Adversaries may use binary padding to add junk data and change the on-disk
--   representation of malware. This rule detect using dd and truncate to add a junk data
--   to file.
-- severity: high
-- mitre: T1027.001
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: c52a914f-3d8b-4b2a-bb75-b3991e75f8ba
-- sigma_author: Igor Fits, oscd.community
-- sigma_references: https://github.com/redcanaryco/atomic-red-team/blob/f339e7da7d05f6057fdfcdd3742bfcf365fee2a9/atomics/T1027.001/T1027.001.md
-- sigma_level: high
-- sigma_status: test
-- sigma_tags: attack.stealth, attack.t1027.001
-- sigma_source: linux/auditd/execve/lnx_auditd_binary_padding.yml; SigmaHQ, Detection Rule License
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
-- Sigma logsource product: linux, service: auditd; condition: selection_execve and (keywords_truncate or (keywords_dd and not keywords_filter))
WHERE product_name = 'Linux auditd'
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'EXECVE') AND ((LOWER(message) LIKE '%truncate%' ESCAPE '\' OR LOWER(raw_data) LIKE '%truncate%' ESCAPE '\') AND (LOWER(message) LIKE '%-s%' ESCAPE '\' OR LOWER(raw_data) LIKE '%-s%' ESCAPE '\') OR (LOWER(message) LIKE '%dd%' ESCAPE '\' OR LOWER(raw_data) LIKE '%dd%' ESCAPE '\') AND (LOWER(message) LIKE '%if=%' ESCAPE '\' OR LOWER(raw_data) LIKE '%if=%' ESCAPE '\') AND ((LOWER(message) LIKE '%of=%' ESCAPE '\' OR LOWER(raw_data) LIKE '%of=%' ESCAPE '\')) IS NOT TRUE))
