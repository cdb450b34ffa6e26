-- id: SIGMA-8EC2C8B4557A
-- title: JexBoss Command Sequence
-- description: Detects suspicious command sequence that JexBoss
-- severity: high
-- mitre: T1059.004
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 8ec2c8b4-557a-4121-b87c-5dfb3a602fae
-- sigma_author: Florian Roth (Nextron Systems)
-- sigma_references: https://www.us-cert.gov/ncas/analysis-reports/AR18-312A
-- sigma_level: high
-- sigma_status: test
-- sigma_tags: attack.execution, attack.t1059.004
-- sigma_source: linux/builtin/lnx_susp_jexboss.yml; SigmaHQ, Detection Rule License 1.1
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
-- Sigma logsource product: linux; condition: keywords
WHERE source_system IN ('syslog', 'auditd')
  AND ((LOWER(message) LIKE '%bash -c /bin/bash%' ESCAPE '\' OR LOWER(raw_data) LIKE '%bash -c /bin/bash%' ESCAPE '\') AND (LOWER(message) LIKE '%&/dev/tcp/%' ESCAPE '\' OR LOWER(raw_data) LIKE '%&/dev/tcp/%' ESCAPE '\'))
