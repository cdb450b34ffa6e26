-- id: SIGMA-D08722CD3D09
-- title: Hidden Files and Directories
-- description: Detects adversary creating hidden file or directory, by detecting directories or
--   files with . as the first character
-- severity: low
-- mitre: T1564.001
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: d08722cd-3d09-449a-80b4-83ea2d9d4616
-- sigma_author: Pawel Mazur
-- sigma_references: https://github.com/redcanaryco/atomic-red-team/blob/f339e7da7d05f6057fdfcdd3742bfcf365fee2a9/atomics/T1564.001/T1564.001.md
-- sigma_level: low
-- sigma_status: test
-- sigma_tags: attack.stealth, attack.t1564.001
-- sigma_source: linux/auditd/execve/lnx_auditd_hidden_files_directories.yml; SigmaHQ, Detection
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
-- Sigma logsource product: linux, service: auditd; condition: all of selection_*
WHERE product_name = 'Linux auditd'
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'EXECVE') AND (LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'mkdir' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'nano' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'touch' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'vi' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'vim') AND (REGEXP(JSON_VALUE(unmapped['process.args'], '$[1]'), '(^|\/)\.[^.\/]') OR REGEXP(JSON_VALUE(unmapped['process.args'], '$[2]'), '(^|\/)\.[^.\/]')))
