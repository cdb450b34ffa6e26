-- id: SIGMA-0AC15EC3D24F
-- title: Privileged User Has Been Created
-- description: Detects the addition of a new user to a privileged group such as "root" or "sudo"
-- severity: high
-- mitre: T1136.001, T1098
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 0ac15ec3-d24f-4246-aa2a-3077bb1cf90e
-- sigma_author: Pawel Mazur
-- sigma_references: https://digital.nhs.uk/cyber-alerts/2018/cc-2825,
--   https://linux.die.net/man/8/useradd,
--   https://github.com/redcanaryco/atomic-red-team/blob/25acadc0b43a07125a8a5b599b28bbc1a91ffb06/atomics/T1136.001/T1136.001.md#atomic-test-5---create-a-new-user-in-linux-with-root-uid-and-gid
-- sigma_level: high
-- sigma_status: test
-- sigma_tags: attack.privilege-escalation, attack.persistence, attack.t1136.001, attack.t1098
-- sigma_source: linux/builtin/lnx_privileged_user_creation.yml; SigmaHQ, Detection Rule License 1.1
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
-- Sigma logsource product: linux; condition: all of selection_*
WHERE source_system IN ('syslog', 'auditd')
  AND ((LOWER(message) LIKE '%new user%' ESCAPE '\' OR LOWER(raw_data) LIKE '%new user%' ESCAPE '\') AND ((LOWER(message) LIKE '%gid=0,%' ESCAPE '\' OR LOWER(raw_data) LIKE '%gid=0,%' ESCAPE '\') OR (LOWER(message) LIKE '%uid=0,%' ESCAPE '\' OR LOWER(raw_data) LIKE '%uid=0,%' ESCAPE '\') OR (LOWER(message) LIKE '%gid=10,%' ESCAPE '\' OR LOWER(raw_data) LIKE '%gid=10,%' ESCAPE '\') OR (LOWER(message) LIKE '%gid=27,%' ESCAPE '\' OR LOWER(raw_data) LIKE '%gid=27,%' ESCAPE '\')))
