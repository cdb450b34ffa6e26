-- id: SIGMA-C0D3734D330F
-- title: Webshell Remote Command Execution
-- description: Detects possible command execution by web application/web shell
-- severity: critical
-- mitre: T1505.003
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: c0d3734d-330f-4a03-aae2-65dacc6a8222
-- sigma_author: Ilyas Ochkov, Beyu Denis, oscd.community
-- sigma_references: Personal Experience of the Author,
--   https://www.vaadata.com/blog/what-is-command-injection-exploitations-and-security-best-practices/
-- sigma_level: critical
-- sigma_status: test
-- sigma_tags: attack.persistence, attack.t1505.003
-- sigma_source: linux/auditd/syscall/lnx_auditd_web_rce.yml; SigmaHQ, Detection Rule License 1.1
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
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'SYSCALL') AND (LOWER(api_operation) = 'execve' OR LOWER(api_operation) = 'execveat') AND unmapped['euid'] = '33')
