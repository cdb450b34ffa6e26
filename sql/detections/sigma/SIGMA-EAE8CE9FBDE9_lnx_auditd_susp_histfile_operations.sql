-- id: SIGMA-EAE8CE9FBDE9
-- title: Suspicious History File Operations - Linux
-- description: Detects commandline operations on shell history files
-- severity: medium
-- mitre: T1552.003
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: eae8ce9f-bde9-47a6-8e79-f20d18419910
-- sigma_author: Mikhail Larin, oscd.community
-- sigma_references: https://github.com/redcanaryco/atomic-red-team/blob/f339e7da7d05f6057fdfcdd3742bfcf365fee2a9/atomics/T1552.003/T1552.003.md
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.credential-access, attack.t1552.003
-- sigma_source: linux/auditd/execve/lnx_auditd_susp_histfile_operations.yml; SigmaHQ, Detection
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
-- Sigma logsource product: linux, service: auditd; condition: execve and history
WHERE product_name = 'Linux auditd'
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'EXECVE') AND ((LOWER(message) LIKE '%.bash\_history%' ESCAPE '\' OR LOWER(raw_data) LIKE '%.bash\_history%' ESCAPE '\') OR (LOWER(message) LIKE '%.zsh\_history%' ESCAPE '\' OR LOWER(raw_data) LIKE '%.zsh\_history%' ESCAPE '\') OR (LOWER(message) LIKE '%.zhistory%' ESCAPE '\' OR LOWER(raw_data) LIKE '%.zhistory%' ESCAPE '\') OR (LOWER(message) LIKE '%.history%' ESCAPE '\' OR LOWER(raw_data) LIKE '%.history%' ESCAPE '\') OR (LOWER(message) LIKE '%.sh\_history%' ESCAPE '\' OR LOWER(raw_data) LIKE '%.sh\_history%' ESCAPE '\') OR (LOWER(message) LIKE '%fish\_history%' ESCAPE '\' OR LOWER(raw_data) LIKE '%fish\_history%' ESCAPE '\')))
