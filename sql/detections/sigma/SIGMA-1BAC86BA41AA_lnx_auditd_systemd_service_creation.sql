-- id: SIGMA-1BAC86BA41AA
-- title: Systemd Service Creation
-- description: Detects a creation of systemd services which could be used by adversaries to execute
--   malicious code.
-- severity: medium
-- mitre: T1543.002
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 1bac86ba-41aa-4f62-9d6b-405eac99b485
-- sigma_author: Pawel Mazur
-- sigma_references: https://github.com/redcanaryco/atomic-red-team/blob/f339e7da7d05f6057fdfcdd3742bfcf365fee2a9/atomics/T1543.002/T1543.002.md
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.privilege-escalation, attack.persistence, attack.t1543.002
-- sigma_source: linux/auditd/path/lnx_auditd_systemd_service_creation.yml; SigmaHQ, Detection Rule
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
-- Sigma logsource product: linux, service: auditd; condition: path and 1 of name_*
WHERE product_name = 'Linux auditd'
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'PATH') AND LOWER(unmapped['file.nametype']) = 'create' AND (LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) LIKE '/usr/lib/systemd/system/%' ESCAPE '\' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) LIKE '/etc/systemd/system/%' ESCAPE '\' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) LIKE '%/.config/systemd/user/%' ESCAPE '\'))
