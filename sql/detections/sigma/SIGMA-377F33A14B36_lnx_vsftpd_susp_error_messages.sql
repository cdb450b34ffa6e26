-- id: SIGMA-377F33A14B36
-- title: Suspicious VSFTPD Error Messages
-- description: Detects suspicious VSFTPD error messages that indicate a fatal or suspicious error
--   that could be caused by exploiting attempts
-- severity: medium
-- mitre: T1190
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 377f33a1-4b36-4ee1-acee-1dbe4b43cfbe
-- sigma_author: Florian Roth (Nextron Systems)
-- sigma_references: https://github.com/dagwieers/vsftpd/
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.initial-access, attack.t1190
-- sigma_source: linux/builtin/vsftpd/lnx_vsftpd_susp_error_messages.yml; SigmaHQ, Detection Rule
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
-- Sigma logsource product: linux, service: vsftpd; condition: keywords
WHERE source_system = 'syslog' AND unmapped['syslog.program'] IN ('vsftpd')
  AND ((LOWER(message) LIKE '%connection refused: too many sessions for this address.%' ESCAPE '\' OR LOWER(raw_data) LIKE '%connection refused: too many sessions for this address.%' ESCAPE '\') OR (LOWER(message) LIKE '%connection refused: tcp\_wrappers denial.%' ESCAPE '\' OR LOWER(raw_data) LIKE '%connection refused: tcp\_wrappers denial.%' ESCAPE '\') OR (LOWER(message) LIKE '%bad http verb.%' ESCAPE '\' OR LOWER(raw_data) LIKE '%bad http verb.%' ESCAPE '\') OR (LOWER(message) LIKE '%port and pasv both active%' ESCAPE '\' OR LOWER(raw_data) LIKE '%port and pasv both active%' ESCAPE '\') OR (LOWER(message) LIKE '%pasv and port both active%' ESCAPE '\' OR LOWER(raw_data) LIKE '%pasv and port both active%' ESCAPE '\') OR (LOWER(message) LIKE '%transfer done (but failed to open directory).%' ESCAPE '\' OR LOWER(raw_data) LIKE '%transfer done (but failed to open directory).%' ESCAPE '\') OR (LOWER(message) LIKE '%could not set file modification time.%' ESCAPE '\' OR LOWER(raw_data) LIKE '%could not set file modification time.%' ESCAPE '\') OR (LOWER(message) LIKE '%bug: pid active in ptrace\_sandbox\_free%' ESCAPE '\' OR LOWER(raw_data) LIKE '%bug: pid active in ptrace\_sandbox\_free%' ESCAPE '\') OR (LOWER(message) LIKE '%ptrace\_setoptions failure%' ESCAPE '\' OR LOWER(raw_data) LIKE '%ptrace\_setoptions failure%' ESCAPE '\') OR (LOWER(message) LIKE '%weird status:%' ESCAPE '\' OR LOWER(raw_data) LIKE '%weird status:%' ESCAPE '\') OR (LOWER(message) LIKE '%couldn''t handle sandbox event%' ESCAPE '\' OR LOWER(raw_data) LIKE '%couldn''t handle sandbox event%' ESCAPE '\') OR (LOWER(message) LIKE '%syscall % out of bounds%' ESCAPE '\' OR LOWER(raw_data) LIKE '%syscall % out of bounds%' ESCAPE '\') OR (LOWER(message) LIKE '%syscall not permitted:%' ESCAPE '\' OR LOWER(raw_data) LIKE '%syscall not permitted:%' ESCAPE '\') OR (LOWER(message) LIKE '%syscall validate failed:%' ESCAPE '\' OR LOWER(raw_data) LIKE '%syscall validate failed:%' ESCAPE '\') OR (LOWER(message) LIKE '%input line too long.%' ESCAPE '\' OR LOWER(raw_data) LIKE '%input line too long.%' ESCAPE '\') OR (LOWER(message) LIKE '%poor buffer accounting in str\_netfd\_alloc%' ESCAPE '\' OR LOWER(raw_data) LIKE '%poor buffer accounting in str\_netfd\_alloc%' ESCAPE '\') OR (LOWER(message) LIKE '%vsf\_sysutil\_read\_loop%' ESCAPE '\' OR LOWER(raw_data) LIKE '%vsf\_sysutil\_read\_loop%' ESCAPE '\'))
