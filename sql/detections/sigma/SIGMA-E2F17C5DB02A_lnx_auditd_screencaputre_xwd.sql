-- id: SIGMA-E2F17C5DB02A
-- title: Screen Capture with Xwd
-- description: Detects adversary creating screen capture of a full with xwd. Highly recommended
--   using rule on servers, due high usage of screenshot utilities on user workstations
-- severity: low
-- mitre: T1113
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: e2f17c5d-b02a-442b-9052-6eb89c9fec9c
-- sigma_author: Pawel Mazur
-- sigma_references: https://github.com/redcanaryco/atomic-red-team/blob/f339e7da7d05f6057fdfcdd3742bfcf365fee2a9/atomics/T1113/T1113.md#atomic-test-3---x-windows-capture,
--   https://linux.die.net/man/1/xwd
-- sigma_level: low
-- sigma_status: test
-- sigma_tags: attack.collection, attack.t1113
-- sigma_source: linux/auditd/execve/lnx_auditd_screencaputre_xwd.yml; SigmaHQ, Detection Rule
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
-- Sigma logsource product: linux, service: auditd; condition: selection and 1 of xwd_*
WHERE product_name = 'Linux auditd'
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'EXECVE') AND LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'xwd' AND (LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) = '-root' AND LOWER(JSON_VALUE(unmapped['process.args'], '$[2]')) = '-out' AND LOWER(JSON_VALUE(unmapped['process.args'], '$[3]')) LIKE '%.xwd' ESCAPE '\' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) = '-out' AND LOWER(JSON_VALUE(unmapped['process.args'], '$[2]')) LIKE '%.xwd' ESCAPE '\'))
