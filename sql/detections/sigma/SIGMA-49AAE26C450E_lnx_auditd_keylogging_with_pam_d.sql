-- id: SIGMA-49AAE26C450E
-- title: Linux Keylogging with Pam.d
-- description: Detect attempt to enable auditing of TTY input
-- severity: high
-- mitre: T1003, T1056.001
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 49aae26c-450e-448b-911d-b3c13d178dfc
-- sigma_author: Pawel Mazur
-- sigma_references: https://github.com/redcanaryco/atomic-red-team/blob/f339e7da7d05f6057fdfcdd3742bfcf365fee2a9/atomics/T1056.001/T1056.001.md,
--   https://linux.die.net/man/8/pam_tty_audit,
--   https://access.redhat.com/documentation/en-us/red_hat_enterprise_linux/6/html/security_guide/sec-configuring_pam_for_auditing,
--   https://access.redhat.com/articles/4409591#audit-record-types-2
-- sigma_level: high
-- sigma_status: test
-- sigma_tags: attack.collection, attack.credential-access, attack.t1003, attack.t1056.001
-- sigma_source: linux/auditd/lnx_auditd_keylogging_with_pam_d.yml; SigmaHQ, Detection Rule License
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
-- Sigma logsource product: linux, service: auditd; condition: 1 of selection_*
WHERE product_name = 'Linux auditd'
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'PATH') AND (LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/etc/pam.d/system-auth' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/etc/pam.d/password-auth') OR ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'TTY') OR ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'USER_TTY'))
