-- id: SIGMA-3722299111E9
-- title: Overwriting the File with Dev Zero or Null
-- description: Detects overwriting (effectively wiping/deleting) of a file.
-- severity: low
-- mitre: T1485
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 37222991-11e9-4b6d-8bdf-60fbe48f753e
-- sigma_author: Jakob Weinzettl, oscd.community
-- sigma_references: https://github.com/redcanaryco/atomic-red-team/blob/f339e7da7d05f6057fdfcdd3742bfcf365fee2a9/atomics/T1485/T1485.md
-- sigma_level: low
-- sigma_status: stable
-- sigma_tags: attack.impact, attack.t1485
-- sigma_source: linux/auditd/execve/lnx_auditd_dd_delete_file.yml; SigmaHQ, Detection Rule License
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
-- Sigma logsource product: linux, service: auditd; condition: selection
WHERE product_name = 'Linux auditd'
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'EXECVE') AND LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) LIKE '%dd%' ESCAPE '\' AND (LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) LIKE '%if=/dev/null%' ESCAPE '\' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) LIKE '%if=/dev/zero%' ESCAPE '\'))
