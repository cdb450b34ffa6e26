-- id: SIGMA-A7AF24879C2F
-- title: Audio Capture
-- description: Detects attempts to record audio using the arecord and ecasound utilities.
-- severity: low
-- mitre: T1123
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: a7af2487-9c2f-42e4-9bb9-ff961f0561d5
-- sigma_author: Pawel Mazur, Milad Cheraghi
-- sigma_references: https://linux.die.net/man/1/arecord,
--   https://linuxconfig.org/how-to-test-microphone-with-audio-linux-sound-architecture-alsa,
--   https://manpages.debian.org/unstable/ecasound/ecasound.1.en.html,
--   https://ecasound.seul.org/ecasound/Documentation/examples.html#fconversions
-- sigma_level: low
-- sigma_status: test
-- sigma_tags: attack.collection, attack.t1123
-- sigma_source: linux/auditd/lnx_auditd_audio_capture.yml; SigmaHQ, Detection Rule License 1.1
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
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'EXECVE') AND LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'arecord' AND LOWER(JSON_VALUE(unmapped['process.args'], '$[1]')) = '-vv' AND LOWER(JSON_VALUE(unmapped['process.args'], '$[2]')) = '-fdat' OR ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'SYSCALL') AND LOWER(unmapped['exe']) LIKE '%/ecasound' ESCAPE '\' AND LOWER(api_operation) = 'memfd_create')
