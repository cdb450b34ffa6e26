-- id: SIGMA-597A7E84187D
-- title: Kubernetes Potential Enumeration Activity
-- description: Detects potential Kubernetes enumeration or attack activity via the audit log. This
--   includes the execution of common shells, utilities, or specialized tools like
--   'Rakkess' (access_matrix) and 'TruffleHog' via Kubernetes API requests. Attackers
--   use these methods to perform reconnaissance (enumeration), secret harvesting, or
--   execute code (exec) within a cluster.
-- severity: medium
-- mitre: T1609, T1613
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 597a7e84-187d-458b-9e4f-2f5a0e676711
-- sigma_author: uniqu3-us3r
-- sigma_references: https://www.nccgroup.com/research/detection-engineering-for-kubernetes-clusters/,
--   https://github.com/trufflesecurity/trufflehog,
--   https://github.com/corneliusweig/rakkess
-- sigma_level: medium
-- sigma_status: experimental
-- sigma_tags: attack.execution, attack.discovery, attack.t1609, attack.t1613
-- sigma_source: application/kubernetes/audit/kubernetes_audit_potential_enumeration_activity.yml;
--   SigmaHQ, Detection Rule License 1.1
SELECT
    tenant_id,
    'user' AS entity_type,
    COALESCE(user_name, src_ip, tenant_id) AS entity_value,
    event_time AS window_start,
    event_time + INTERVAL '0.001' SECOND AS window_end,
    CAST(1 AS BIGINT) AS event_count,
    ARRAY[ROW(event_id, chain_id, chain_seq, event_hash)] AS evidence,
    event_time AS first_seen,
    event_time AS last_seen
FROM events
-- compiled by `auditflow rules import-sigma` (udfs/detect/sigma): change the Sigma rule and re-import
-- Sigma logsource product: kubernetes, service: audit; condition: selection_status and 1 of selection_request_*
WHERE product_name = 'Kubernetes'
  AND (LOWER(unmapped['responseStatus.code']) = 'allow' AND (LOWER(http_url) LIKE '%\%2fbin\%2fash%' ESCAPE '\' OR LOWER(http_url) LIKE '%\%2fbin\%2fbash%' ESCAPE '\' OR LOWER(http_url) LIKE '%\%2fbin\%2fbusybox%' ESCAPE '\' OR LOWER(http_url) LIKE '%\%2fbin\%2fdash%' ESCAPE '\' OR LOWER(http_url) LIKE '%\%2fbin\%2fsh%' ESCAPE '\' OR LOWER(http_url) LIKE '%\%2fbin\%2fzsh%' ESCAPE '\' OR LOWER(http_url) LIKE '%/bin/ash%' ESCAPE '\' OR LOWER(http_url) LIKE '%/bin/bash%' ESCAPE '\' OR LOWER(http_url) LIKE '%/bin/busybox%' ESCAPE '\' OR LOWER(http_url) LIKE '%/bin/dash%' ESCAPE '\' OR LOWER(http_url) LIKE '%/bin/sh%' ESCAPE '\' OR LOWER(http_url) LIKE '%/bin/zsh%' ESCAPE '\' OR LOWER(http_url) LIKE '%\%2fusr\%2fbin\%2fcurl%' ESCAPE '\' OR LOWER(http_url) LIKE '%\%2fusr\%2fbin\%2fkubectl%' ESCAPE '\' OR LOWER(http_url) LIKE '%\%2fusr\%2fbin\%2fperl%' ESCAPE '\' OR LOWER(http_url) LIKE '%\%2fusr\%2fbin\%2fpython%' ESCAPE '\' OR LOWER(http_url) LIKE '%\%2fusr\%2fbin\%2fwget%' ESCAPE '\' OR LOWER(http_url) LIKE '%/usr/bin/curl%' ESCAPE '\' OR LOWER(http_url) LIKE '%/usr/bin/kubectl%' ESCAPE '\' OR LOWER(http_url) LIKE '%/usr/bin/perl%' ESCAPE '\' OR LOWER(http_url) LIKE '%/usr/bin/python%' ESCAPE '\' OR LOWER(http_url) LIKE '%/usr/bin/wget%' ESCAPE '\' OR LOWER(user_agent) LIKE '%access\_matrix%' ESCAPE '\' OR LOWER(user_agent) LIKE '%trufflehog%' ESCAPE '\' OR LOWER(user_agent) LIKE '%azurehound%' ESCAPE '\' OR LOWER(user_agent) LIKE '%micro-scanner%' ESCAPE '\'))
