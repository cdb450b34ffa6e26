-- id: SIGMA-45810B507EDC
-- title: Steganography Hide Zip Information in Picture File
-- description: Detects appending of zip file to image
-- severity: low
-- mitre: T1027.003
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 45810b50-7edc-42ca-813b-bdac02fb946b
-- sigma_author: Pawel Mazur
-- sigma_references: https://zerotoroot.me/steganography-hiding-a-zip-in-a-jpeg-file/
-- sigma_level: low
-- sigma_status: test
-- sigma_tags: attack.stealth, attack.t1027.003
-- sigma_source: linux/auditd/execve/lnx_auditd_hidden_zip_files_steganography.yml; SigmaHQ,
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
-- Sigma logsource product: linux, service: auditd; condition: commands and a1 and a2
WHERE product_name = 'Linux auditd'
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'EXECVE') AND LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'cat' AND (LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) LIKE '%.jpg' ESCAPE '\' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) LIKE '%.png' ESCAPE '\') AND LOWER(JSON_VALUE(unmapped['process.args'], '$[2]')) LIKE '%.zip' ESCAPE '\')
