-- id: SIGMA-13D8AA7DFBB8
-- title: SSH password guessing against one host
-- description: Ten or more passwords rejected by the sshd of one host within two minutes, the pace
--   of hydra, medusa or an SSH worm.
-- severity: medium
-- mitre: T1110.001
-- compliance: SOC2-CC7.2
-- dedup_window: 2m
-- owner: sigma-import
-- input: (source_system = 'syslog' AND unmapped['syslog.program'] IN ('sshd') AND ((LOWER(message)
--   LIKE '%failed password for %' ESCAPE '\' OR LOWER(raw_data) LIKE '%failed password for %'
--   ESCAPE '\')))
-- sigma_id: 13d8aa7d-fbb8-43bc-9703-eaa3b59e1ecf
-- sigma_author: auditflow detection-engineering
-- sigma_level: medium
-- sigma_status: experimental
-- sigma_tags: attack.credential-access, attack.t1110.001
-- sigma_source: linux_sshd_password_guessing.yml; auditflow, this repository (Apache-2.0 like the
--   code)
-- compiled by `auditflow rules import-sigma` (udfs/detect/sigma/correlation.py): change the Sigma rule and re-import
-- Sigma correlation event_count of linux_sshd_failed_password within 2m, group-by host, condition {'gte': 10}
WITH matched AS (
    SELECT *, 0 AS corr_rule, CAST(dst_hostname AS STRING) AS g_0 FROM events
    WHERE (source_system = 'syslog' AND unmapped['syslog.program'] IN ('sshd')
      AND ((LOWER(message) LIKE '%failed password for %' ESCAPE '\' OR LOWER(raw_data) LIKE '%failed password for %' ESCAPE '\'))) AND dst_hostname IS NOT NULL
)
SELECT
    tenant_id,
    'host' AS entity_type,
    g_0 AS entity_value,
    first_seen AS window_start,
    last_seen + INTERVAL '0.001' SECOND AS window_end,
    event_count,
    evidence,
    first_seen,
    last_seen
FROM matched
MATCH_RECOGNIZE (
    PARTITION BY tenant_id, g_0
    ORDER BY event_time
    MEASURES
        FIRST(E.event_time) AS first_seen,
        LAST(E.event_time) AS last_seen,
        COUNT(E.event_id) AS event_count,
        ARRAY_AGG(ROW(E.event_id, E.chain_id, E.chain_seq, E.event_hash)) AS evidence
    ONE ROW PER MATCH
    -- matches never share an event; a storm is folded by the dedup window
    AFTER MATCH SKIP PAST LAST ROW
    -- 10 matching events at most 2m apart
    PATTERN (E{10}) WITHIN INTERVAL '120.001' SECOND(3, 3)
    DEFINE E AS TRUE
)
