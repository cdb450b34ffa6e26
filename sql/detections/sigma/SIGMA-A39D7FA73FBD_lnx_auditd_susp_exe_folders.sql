-- id: SIGMA-A39D7FA73FBD
-- title: Program Executions in Suspicious Folders
-- description: Detects program executions in suspicious non-program folders related to malware or
--   hacking activity
-- severity: medium
-- mitre: T1587, T1584
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: a39d7fa7-3fbd-4dc2-97e1-d87f546b1bbc
-- sigma_author: Florian Roth (Nextron Systems)
-- sigma_references: Internal Research
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.t1587, attack.t1584, attack.resource-development
-- sigma_source: linux/auditd/syscall/lnx_auditd_susp_exe_folders.yml; SigmaHQ, Detection Rule
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
-- Sigma logsource product: linux, service: auditd; condition: selection
WHERE product_name = 'Linux auditd'
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'SYSCALL') AND (LOWER(unmapped['exe']) LIKE '/tmp/%' ESCAPE '\' OR LOWER(unmapped['exe']) LIKE '/var/www/%' ESCAPE '\' OR LOWER(unmapped['exe']) LIKE '/home/%/public\_html/%' ESCAPE '\' OR LOWER(unmapped['exe']) LIKE '/usr/local/apache2/%' ESCAPE '\' OR LOWER(unmapped['exe']) LIKE '/usr/local/httpd/%' ESCAPE '\' OR LOWER(unmapped['exe']) LIKE '/var/apache/%' ESCAPE '\' OR LOWER(unmapped['exe']) LIKE '/srv/www/%' ESCAPE '\' OR LOWER(unmapped['exe']) LIKE '/home/httpd/html/%' ESCAPE '\' OR LOWER(unmapped['exe']) LIKE '/srv/http/%' ESCAPE '\' OR LOWER(unmapped['exe']) LIKE '/usr/share/nginx/html/%' ESCAPE '\' OR LOWER(unmapped['exe']) LIKE '/var/lib/pgsql/data/%' ESCAPE '\' OR LOWER(unmapped['exe']) LIKE '/usr/local/mysql/data/%' ESCAPE '\' OR LOWER(unmapped['exe']) LIKE '/var/lib/mysql/%' ESCAPE '\' OR LOWER(unmapped['exe']) LIKE '/var/vsftpd/%' ESCAPE '\' OR LOWER(unmapped['exe']) LIKE '/etc/bind/%' ESCAPE '\' OR LOWER(unmapped['exe']) LIKE '/var/named/%' ESCAPE '\'))
