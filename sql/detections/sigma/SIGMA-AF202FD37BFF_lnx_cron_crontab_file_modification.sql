-- id: SIGMA-AF202FD37BFF
-- title: Modifying Crontab
-- description: Detects suspicious modification of crontab file.
-- severity: medium
-- mitre: T1053.003
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: af202fd3-7bff-4212-a25a-fb34606cfcbe
-- sigma_author: Pawel Mazur
-- sigma_references: https://github.com/redcanaryco/atomic-red-team/blob/f339e7da7d05f6057fdfcdd3742bfcf365fee2a9/atomics/T1053.003/T1053.003.md
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.privilege-escalation, attack.execution, attack.persistence, attack.t1053.003
-- sigma_source: linux/builtin/cron/lnx_cron_crontab_file_modification.yml; SigmaHQ, Detection Rule
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
-- Sigma logsource product: linux, service: cron; condition: keywords
WHERE source_system = 'syslog' AND unmapped['syslog.program'] IN ('cron', 'CRON', 'crond', 'crontab', 'anacron')
  AND ((LOWER(message) LIKE '%replace%' ESCAPE '\' OR LOWER(raw_data) LIKE '%replace%' ESCAPE '\'))
