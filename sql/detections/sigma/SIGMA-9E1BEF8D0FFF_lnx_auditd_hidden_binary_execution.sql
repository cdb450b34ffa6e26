-- id: SIGMA-9E1BEF8D0FFF
-- title: Use Of Hidden Paths Or Files
-- description: Detects calls to hidden files or files located in hidden directories in NIX systems.
-- severity: low
-- mitre: T1574.001
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 9e1bef8d-0fff-46f6-8465-9aa54e128c1e
-- sigma_author: David Burkett, @signalblur
-- sigma_references: https://github.com/redcanaryco/atomic-red-team/blob/f339e7da7d05f6057fdfcdd3742bfcf365fee2a9/atomics/T1564.001/T1564.001.md
-- sigma_level: low
-- sigma_status: test
-- sigma_tags: attack.privilege-escalation, attack.persistence, attack.execution, attack.stealth,
--   attack.t1574.001
-- sigma_source: linux/auditd/path/lnx_auditd_hidden_binary_execution.yml; SigmaHQ, Detection Rule
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
-- Sigma logsource product: linux, service: auditd; condition: selection and not filter
WHERE product_name = 'Linux auditd'
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'PATH') AND LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) LIKE '%/.%' ESCAPE '\' AND (LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) LIKE '%/.cache/%' ESCAPE '\' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) LIKE '%/.config/%' ESCAPE '\' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) LIKE '%/.pyenv/%' ESCAPE '\' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) LIKE '%/.rustup/toolchains%' ESCAPE '\') IS NOT TRUE)
