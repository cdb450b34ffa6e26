-- id: SIGMA-9A0D8CA02385
-- title: System Owner or User Discovery - Linux
-- description: Detects the execution of host or user discovery utilities such as "whoami",
--   "hostname", "id", etc. Adversaries may use the information from System Owner/User
--   Discovery during automated discovery to shape follow-on behaviors, including whether
--   or not the adversary fully infects the target and/or attempts specific actions.
-- severity: low
-- mitre: T1033
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 9a0d8ca0-2385-4020-b6c6-cb6153ca56f3
-- sigma_author: Timur Zinniatullin, oscd.community
-- sigma_references: https://github.com/redcanaryco/atomic-red-team/blob/f339e7da7d05f6057fdfcdd3742bfcf365fee2a9/atomics/T1033/T1033.md
-- sigma_level: low
-- sigma_status: test
-- sigma_tags: attack.discovery, attack.t1033
-- sigma_source: linux/auditd/execve/lnx_auditd_user_discovery.yml; SigmaHQ, Detection Rule License
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
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'EXECVE') AND (LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'hostname' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'id' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'last' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'uname' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'users' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'w' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'who' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'whoami'))
