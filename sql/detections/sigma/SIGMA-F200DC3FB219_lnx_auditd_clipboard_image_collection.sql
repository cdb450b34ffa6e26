-- id: SIGMA-F200DC3FB219
-- title: Clipboard Collection of Image Data with Xclip Tool
-- description: Detects attempts to collect image data stored in the clipboard from users with the
--   usage of xclip tool. Xclip has to be installed. Highly recommended using rule on
--   servers, due to high usage of clipboard utilities on user workstations.
-- severity: low
-- mitre: T1115
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: f200dc3f-b219-425d-a17e-c38467364816
-- sigma_author: Pawel Mazur
-- sigma_references: https://linux.die.net/man/1/xclip
-- sigma_level: low
-- sigma_status: test
-- sigma_tags: attack.collection, attack.t1115
-- sigma_source: linux/auditd/execve/lnx_auditd_clipboard_image_collection.yml; SigmaHQ, Detection
--   Rule License 1.1
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
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'EXECVE') AND LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'xclip' AND (LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) = '-selection' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) = '-sel') AND (LOWER(JSON_VALUE(unmapped['process.args'], '$[2]')) = 'clipboard' OR LOWER(JSON_VALUE(unmapped['process.args'], '$[2]')) = 'clip') AND LOWER(JSON_VALUE(unmapped['process.args'], '$[3]')) = '-t' AND LOWER(JSON_VALUE(unmapped['process.args'], '$[4]')) LIKE 'image/%' ESCAPE '\' AND LOWER(JSON_VALUE(unmapped['process.args'], '$[5]')) = '-o')
