-- id: SIGMA-A5A827D91BBE
-- title: Steganography Extract Files with Steghide
-- description: Detects extraction of files with usage of steghide binary, the adversaries may use
--   this technique to prevent the detection of hidden information.
-- severity: low
-- mitre: T1027.003
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: a5a827d9-1bbe-4952-9293-c59d897eb41b
-- sigma_author: Pawel Mazur
-- sigma_references: https://vitux.com/how-to-hide-confidential-files-in-images-on-debian-using-steganography/
-- sigma_level: low
-- sigma_status: test
-- sigma_tags: attack.stealth, attack.t1027.003
-- sigma_source: linux/auditd/execve/lnx_auditd_steghide_extract_steganography.yml; SigmaHQ,
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
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'EXECVE') AND LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'steghide' AND LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) = 'extract' AND LOWER(JSON_VALUE(unmapped['process.args'], '$[2]')) = '-sf' AND (LOWER(JSON_VALUE(unmapped['process.args'], '$[3]')) LIKE '%.jpg' ESCAPE '\' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[3]')) LIKE '%.png' ESCAPE '\'))
