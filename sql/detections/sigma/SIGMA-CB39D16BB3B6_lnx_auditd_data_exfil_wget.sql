-- id: SIGMA-CB39D16BB3B6
-- title: Data Exfiltration with Wget
-- description: Detects attempts to post the file with the usage of wget utility. The adversary can
--   bypass the permission restriction with the misconfigured sudo permission for wget
--   utility which could allow them to read files like /etc/shadow.
-- severity: medium
-- mitre: T1048.003
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: cb39d16b-b3b6-4a7a-8222-1cf24b686ffc
-- sigma_author: Pawel Mazur
-- sigma_references: https://linux.die.net/man/1/wget, https://gtfobins.github.io/gtfobins/wget/
-- sigma_level: medium
-- sigma_status: test
-- sigma_tags: attack.exfiltration, attack.t1048.003
-- sigma_source: linux/auditd/execve/lnx_auditd_data_exfil_wget.yml; SigmaHQ, Detection Rule License
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
-- Sigma logsource product: linux, service: auditd; condition: selection
WHERE product_name = 'Linux auditd'
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'EXECVE') AND LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'wget' AND LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) LIKE '--post-file=%' ESCAPE '\')
