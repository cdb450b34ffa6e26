-- id: SIGMA-759D0D51BC99
-- title: Creation Of An User Account
-- description: Detects the creation of a new user account. Such accounts may be used for
--   persistence that do not require persistent remote access tools to be deployed on the
--   system.
-- severity: medium
-- mitre: T1136.001
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 759d0d51-bc99-4b5e-9add-8f5b2c8e7512
-- sigma_author: Marie Euler, Pawel Mazur
-- sigma_references: https://access.redhat.com/documentation/en-us/red_hat_enterprise_linux/7/html/security_guide/sec-understanding_audit_log_files,
--   https://access.redhat.com/articles/4409591#audit-record-types-2,
--   https://www.youtube.com/watch?v=VmvY5SQm5-Y&ab_channel=M45C07
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.t1136.001, attack.persistence
-- sigma_source: linux/auditd/syscall/lnx_auditd_create_account.yml; SigmaHQ, Detection Rule License
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
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'SYSCALL') AND LOWER(unmapped['exe']) LIKE '%/useradd' ESCAPE '\' OR ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'ADD_USER'))
