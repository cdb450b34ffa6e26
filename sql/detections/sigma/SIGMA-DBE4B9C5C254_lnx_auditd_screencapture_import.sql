-- id: SIGMA-DBE4B9C5C254
-- title: Screen Capture with Import Tool
-- description: Detects adversary creating screen capture of a desktop with Import Tool. Highly
--   recommended using rule on servers, due to high usage of screenshot utilities on user
--   workstations. ImageMagick must be installed.
-- severity: low
-- mitre: T1113
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: dbe4b9c5-c254-4258-9688-d6af0b7967fd
-- sigma_author: Pawel Mazur
-- sigma_references: https://github.com/redcanaryco/atomic-red-team/blob/f339e7da7d05f6057fdfcdd3742bfcf365fee2a9/atomics/T1113/T1113.md,
--   https://linux.die.net/man/1/import, https://imagemagick.org/
-- sigma_level: low
-- sigma_status: test
-- sigma_tags: attack.collection, attack.t1113
-- sigma_source: linux/auditd/execve/lnx_auditd_screencapture_import.yml; SigmaHQ, Detection Rule
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
-- Sigma logsource product: linux, service: auditd; condition: import and (import_window_root or import_no_window_root)
WHERE product_name = 'Linux auditd'
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'EXECVE') AND LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'import' AND (LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) = '-window' AND LOWER(JSON_VALUE(unmapped['process.args'], '$[2]')) = 'root' AND (LOWER(JSON_VALUE(unmapped['process.args'], '$[3]')) LIKE '%.png' ESCAPE '\' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[3]')) LIKE '%.jpg' ESCAPE '\' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[3]')) LIKE '%.jpeg' ESCAPE '\') OR LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) LIKE '%.png' ESCAPE '\' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) LIKE '%.jpg' ESCAPE '\' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) LIKE '%.jpeg' ESCAPE '\'))
