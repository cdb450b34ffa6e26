-- id: SIGMA-A94CDD876C54
-- title: Unix Shell Configuration Modification
-- description: Detect unix shell configuration modification. Adversaries may establish persistence
--   through executing malicious commands triggered when a new shell is opened.
-- severity: medium
-- mitre: T1546.004
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: a94cdd87-6c54-4678-a6cc-2814ffe5a13d
-- sigma_author: Peter Matkovski, IAI
-- sigma_references: https://objective-see.org/blog/blog_0x68.html,
--   https://web.archive.org/web/20221204161143/https://www.glitch-cat.com/p/green-lambert-and-attack,
--   https://www.anomali.com/blog/pulling-linux-rabbit-rabbot-malware-out-of-a-hat
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.privilege-escalation, attack.persistence, attack.t1546.004
-- sigma_source: linux/auditd/path/lnx_auditd_unix_shell_configuration_modification.yml; SigmaHQ,
--   Detection Rule License 1.1
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
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'PATH') AND (LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/etc/shells' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/etc/profile' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) LIKE '/etc/profile.d/%' ESCAPE '\' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/etc/bash.bashrc' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/etc/bashrc' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/etc/zsh/zprofile' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/etc/zsh/zshrc' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/etc/zsh/zlogin' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/etc/zsh/zlogout' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/etc/csh.cshrc' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/etc/csh.login' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/root/.bashrc' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/root/.bash_profile' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/root/.profile' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/root/.zshrc' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/root/.zprofile' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) LIKE '/home/%/.bashrc' ESCAPE '\' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) LIKE '/home/%/.zshrc' ESCAPE '\' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) LIKE '/home/%/.bash\_profile' ESCAPE '\' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) LIKE '/home/%/.zprofile' ESCAPE '\' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) LIKE '/home/%/.profile' ESCAPE '\' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) LIKE '/home/%/.bash\_login' ESCAPE '\' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) LIKE '/home/%/.bash\_logout' ESCAPE '\' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) LIKE '/home/%/.zlogin' ESCAPE '\' OR LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) LIKE '/home/%/.zlogout' ESCAPE '\'))
