-- id: SIGMA-E76B413A83D0
-- title: Suspicious OpenSSH Daemon Error
-- description: Detects suspicious SSH / SSHD error messages that indicate a fatal or suspicious
--   error that could be caused by exploiting attempts
-- severity: medium
-- mitre: T1190
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: e76b413a-83d0-4b94-8e4c-85db4a5b8bdc
-- sigma_author: Florian Roth (Nextron Systems)
-- sigma_references: https://github.com/openssh/openssh-portable/blob/c483a5c0fb8e8b8915fad85c5f6113386a4341ca/ssherr.c,
--   https://github.com/ossec/ossec-hids/blob/1ecffb1b884607cb12e619f9ab3c04f530801083/etc/rules/sshd_rules.xml
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.initial-access, attack.t1190
-- sigma_source: linux/builtin/sshd/lnx_sshd_susp_ssh.yml; SigmaHQ, Detection Rule License 1.1
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
-- Sigma logsource product: linux, service: sshd; condition: keywords
WHERE source_system = 'syslog' AND unmapped['syslog.program'] IN ('sshd')
  AND ((LOWER(message) LIKE '%unexpected internal error%' ESCAPE '\' OR LOWER(raw_data) LIKE '%unexpected internal error%' ESCAPE '\') OR (LOWER(message) LIKE '%unknown or unsupported key type%' ESCAPE '\' OR LOWER(raw_data) LIKE '%unknown or unsupported key type%' ESCAPE '\') OR (LOWER(message) LIKE '%invalid certificate signing key%' ESCAPE '\' OR LOWER(raw_data) LIKE '%invalid certificate signing key%' ESCAPE '\') OR (LOWER(message) LIKE '%invalid elliptic curve value%' ESCAPE '\' OR LOWER(raw_data) LIKE '%invalid elliptic curve value%' ESCAPE '\') OR (LOWER(message) LIKE '%incorrect signature%' ESCAPE '\' OR LOWER(raw_data) LIKE '%incorrect signature%' ESCAPE '\') OR (LOWER(message) LIKE '%error in libcrypto%' ESCAPE '\' OR LOWER(raw_data) LIKE '%error in libcrypto%' ESCAPE '\') OR (LOWER(message) LIKE '%unexpected bytes remain after decoding%' ESCAPE '\' OR LOWER(raw_data) LIKE '%unexpected bytes remain after decoding%' ESCAPE '\') OR (LOWER(message) LIKE '%fatal: buffer\_get\_string: bad string%' ESCAPE '\' OR LOWER(raw_data) LIKE '%fatal: buffer\_get\_string: bad string%' ESCAPE '\') OR (LOWER(message) LIKE '%local: crc32 compensation attack%' ESCAPE '\' OR LOWER(raw_data) LIKE '%local: crc32 compensation attack%' ESCAPE '\') OR (LOWER(message) LIKE '%bad client public dh value%' ESCAPE '\' OR LOWER(raw_data) LIKE '%bad client public dh value%' ESCAPE '\') OR (LOWER(message) LIKE '%corrupted mac on input%' ESCAPE '\' OR LOWER(raw_data) LIKE '%corrupted mac on input%' ESCAPE '\'))
