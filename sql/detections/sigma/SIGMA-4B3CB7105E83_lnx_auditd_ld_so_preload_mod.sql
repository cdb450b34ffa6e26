-- id: SIGMA-4B3CB7105E83
-- title: Modification of ld.so.preload
-- description: Identifies modification of ld.so.preload for shared object injection. This technique
--   is used by attackers to load arbitrary code into processes.
-- severity: high
-- mitre: T1574.006
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 4b3cb710-5e83-4715-8c45-8b2b5b3e5751
-- sigma_author: E.M. Anhaus (originally from Atomic Blue Detections, Tony Lambert), oscd.community
-- sigma_references: https://github.com/redcanaryco/atomic-red-team/blob/f339e7da7d05f6057fdfcdd3742bfcf365fee2a9/atomics/T1574.006/T1574.006.md,
--   https://eqllib.readthedocs.io/en/latest/analytics/fd9b987a-1101-4ed3-bda6-a70300eaf57e.html
-- sigma_level: high
-- sigma_status: test
-- sigma_tags: attack.privilege-escalation, attack.persistence, attack.execution, attack.stealth,
--   attack.t1574.006
-- sigma_source: linux/auditd/path/lnx_auditd_ld_so_preload_mod.yml; SigmaHQ, Detection Rule License
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
  AND (ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'PATH') AND LOWER(CASE WHEN class_uid = 1001 THEN resource_name END) = '/etc/ld.so.preload')
