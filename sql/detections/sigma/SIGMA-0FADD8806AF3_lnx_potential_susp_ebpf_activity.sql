-- id: SIGMA-0FADD8806AF3
-- title: Potential Suspicious BPF Activity - Linux
-- description: Detects the presence of "bpf_probe_write_user" BPF helper-generated warning
--   messages. Which could be a sign of suspicious eBPF activity on the system.
-- severity: high
-- mitre: TA0003, stealth
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 0fadd880-6af3-4610-b1e5-008dc3a11b8a
-- sigma_author: Red Canary (idea), Nasreddine Bencherchali
-- sigma_references: https://redcanary.com/blog/ebpf-malware/,
--   https://man7.org/linux/man-pages/man7/bpf-helpers.7.html
-- sigma_level: high
-- sigma_status: test
-- sigma_tags: attack.persistence, attack.stealth
-- sigma_source: linux/builtin/lnx_potential_susp_ebpf_activity.yml; SigmaHQ, Detection Rule License
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
-- Sigma logsource product: linux; condition: selection
WHERE source_system IN ('syslog', 'auditd')
  AND ((LOWER(message) LIKE '%bpf\_probe\_write\_user%' ESCAPE '\' OR LOWER(raw_data) LIKE '%bpf\_probe\_write\_user%' ESCAPE '\'))
