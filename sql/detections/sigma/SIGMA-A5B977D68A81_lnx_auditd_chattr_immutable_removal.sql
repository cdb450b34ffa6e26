-- id: SIGMA-A5B977D68A81
-- title: Remove Immutable File Attribute - Auditd
-- description: Detects removing immutable file attribute.
-- severity: medium
-- mitre: T1222.002
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: a5b977d6-8a81-4475-91b9-49dbfcd941f7
-- sigma_author: Jakob Weinzettl, oscd.community
-- sigma_references: https://github.com/redcanaryco/atomic-red-team/blob/f339e7da7d05f6057fdfcdd3742bfcf365fee2a9/atomics/T1222.002/T1222.002.md
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.defense-impairment, attack.t1222.002
-- sigma_source: linux/auditd/execve/lnx_auditd_chattr_immutable_removal.yml; SigmaHQ, Detection
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
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'EXECVE') AND LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) LIKE '%chattr%' ESCAPE '\' AND LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) LIKE '%-i%' ESCAPE '\')
