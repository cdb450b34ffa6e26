-- id: SIGMA-DF3FCAEA2715
-- title: Credentials In Files - Linux
-- description: Detecting attempts to extract passwords with grep
-- severity: high
-- mitre: T1552.001
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: df3fcaea-2715-4214-99c5-0056ea59eb35
-- sigma_author: Igor Fits, oscd.community
-- sigma_references: https://github.com/redcanaryco/atomic-red-team/blob/f339e7da7d05f6057fdfcdd3742bfcf365fee2a9/atomics/T1552.001/T1552.001.md
-- sigma_level: high
-- sigma_status: test
-- sigma_tags: attack.credential-access, attack.t1552.001
-- sigma_source: linux/auditd/execve/lnx_auditd_find_cred_in_files.yml; SigmaHQ, Detection Rule
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
-- Sigma logsource product: linux, service: auditd; condition: selection and keywords
WHERE product_name = 'Linux auditd'
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'EXECVE') AND (LOWER(message) LIKE '%grep%' ESCAPE '\' OR LOWER(raw_data) LIKE '%grep%' ESCAPE '\') AND (LOWER(message) LIKE '%password%' ESCAPE '\' OR LOWER(raw_data) LIKE '%password%' ESCAPE '\'))
