-- id: SIGMA-106D7CBD80FF
-- title: Loading of Kernel Module via Insmod
-- description: Detects loading of kernel modules with insmod command. Loadable Kernel Modules
--   (LKMs) are pieces of code that can be loaded and unloaded into the kernel upon
--   demand. Adversaries may use LKMs to obtain persistence within the system or elevate
--   the privileges.
-- severity: high
-- mitre: T1547.006
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 106d7cbd-80ff-4985-b682-a7043e5acb72
-- sigma_author: Pawel Mazur
-- sigma_references: https://github.com/redcanaryco/atomic-red-team/blob/f339e7da7d05f6057fdfcdd3742bfcf365fee2a9/atomics/T1547.006/T1547.006.md,
--   https://linux.die.net/man/8/insmod,
--   https://man7.org/linux/man-pages/man8/kmod.8.html
-- sigma_level: high
-- sigma_status: test
-- sigma_tags: attack.persistence, attack.privilege-escalation, attack.t1547.006
-- sigma_source: linux/auditd/syscall/lnx_auditd_load_module_insmod.yml; SigmaHQ, Detection Rule
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
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'SYSCALL') AND LOWER(unmapped['comm']) = 'insmod' AND LOWER(unmapped['exe']) = '/usr/bin/kmod')
