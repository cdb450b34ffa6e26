-- id: SIGMA-A3B5E3E91B49
-- title: Data Compressed
-- description: An adversary may compress data (e.g., sensitive documents) that is collected prior
--   to exfiltration in order to make it portable and minimize the amount of data sent
--   over the network.
-- severity: low
-- mitre: T1560.001
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: a3b5e3e9-1b49-4119-8b8e-0344a01f21ee
-- sigma_author: Timur Zinniatullin, oscd.community
-- sigma_references: https://github.com/redcanaryco/atomic-red-team/blob/a78b9ed805ab9ea2e422e1aa7741e9407d82d7b1/atomics/T1560.001/T1560.001.md
-- sigma_level: low
-- sigma_status: test
-- sigma_tags: attack.exfiltration, attack.collection, attack.t1560.001
-- sigma_source: linux/auditd/execve/lnx_auditd_data_compressed.yml; SigmaHQ, Detection Rule License
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
-- Sigma logsource product: linux, service: auditd; condition: 1 of selection*
WHERE product_name = 'Linux auditd'
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'EXECVE') AND LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'zip' OR ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'EXECVE') AND LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'gzip' AND LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) = '-k' OR ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'EXECVE') AND LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'tar' AND LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) LIKE '%-c%' ESCAPE '\')
