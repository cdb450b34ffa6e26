-- id: SIGMA-C67FC22A0BE5
-- title: Symlink Etc Passwd
-- description: Detects suspicious command lines that look as if they would create symbolic links to
--   /etc/passwd
-- severity: high
-- mitre: T1204.001
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: c67fc22a-0be5-4b4f-aad5-2b32c4b69523
-- sigma_author: Florian Roth (Nextron Systems)
-- sigma_references: https://www.qualys.com/2021/05/04/21nails/21nails.txt
-- sigma_level: high
-- sigma_status: test
-- sigma_tags: attack.t1204.001, attack.execution
-- sigma_source: linux/builtin/lnx_symlink_etc_passwd.yml; SigmaHQ, Detection Rule License 1.1
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
  AND ((LOWER(message) LIKE '%ln -s -f /etc/passwd%' ESCAPE '\' OR LOWER(raw_data) LIKE '%ln -s -f /etc/passwd%' ESCAPE '\') OR (LOWER(message) LIKE '%ln -s /etc/passwd%' ESCAPE '\' OR LOWER(raw_data) LIKE '%ln -s /etc/passwd%' ESCAPE '\'))
