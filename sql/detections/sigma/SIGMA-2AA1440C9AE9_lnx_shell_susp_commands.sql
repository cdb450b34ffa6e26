-- id: SIGMA-2AA1440C9AE9
-- title: Suspicious Activity in Shell Commands
-- description: Detects suspicious shell commands used in various exploit codes (see references)
-- severity: high
-- mitre: T1059.004
-- compliance: SOC2-CC7.2
-- dedup_window: 15m
-- owner: sigma-import
-- sigma_id: 2aa1440c-9ae9-4d92-84a7-a9e5f5e31695
-- sigma_author: Florian Roth (Nextron Systems)
-- sigma_references: https://web.archive.org/web/20170319121015/http://www.threatgeek.com/2017/03/widespread-exploitation-attempts-using-cve-2017-5638.html,
--   https://github.com/rapid7/metasploit-framework/blob/eb6535009f5fdafa954525687f09294918b5398d/modules/exploits/multi/http/struts_code_exec_exception_delegator.rb,
--   http://pastebin.com/FtygZ1cg, https://artkond.com/2017/03/23/pivoting-guide/
-- sigma_level: high
-- sigma_status: test
-- sigma_tags: attack.execution, attack.t1059.004
-- sigma_source: linux/builtin/lnx_shell_susp_commands.yml; SigmaHQ, Detection Rule License 1.1
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
-- Sigma logsource product: linux; condition: keywords
WHERE source_system IN ('syslog', 'auditd')
  AND ((LOWER(message) LIKE '%wget % - http% | perl%' ESCAPE '\' OR LOWER(raw_data) LIKE '%wget % - http% | perl%' ESCAPE '\') OR (LOWER(message) LIKE '%wget % - http% | sh%' ESCAPE '\' OR LOWER(raw_data) LIKE '%wget % - http% | sh%' ESCAPE '\') OR (LOWER(message) LIKE '%wget % - http% | bash%' ESCAPE '\' OR LOWER(raw_data) LIKE '%wget % - http% | bash%' ESCAPE '\') OR (LOWER(message) LIKE '%python -m simplehttpserver%' ESCAPE '\' OR LOWER(raw_data) LIKE '%python -m simplehttpserver%' ESCAPE '\') OR (LOWER(message) LIKE '%-m http.server%' ESCAPE '\' OR LOWER(raw_data) LIKE '%-m http.server%' ESCAPE '\') OR (LOWER(message) LIKE '%import pty; pty.spawn%' ESCAPE '\' OR LOWER(raw_data) LIKE '%import pty; pty.spawn%' ESCAPE '\') OR (LOWER(message) LIKE '%socat exec:%' ESCAPE '\' OR LOWER(raw_data) LIKE '%socat exec:%' ESCAPE '\') OR (LOWER(message) LIKE '%socat -o /tmp/%' ESCAPE '\' OR LOWER(raw_data) LIKE '%socat -o /tmp/%' ESCAPE '\') OR (LOWER(message) LIKE '%socat tcp-connect%' ESCAPE '\' OR LOWER(raw_data) LIKE '%socat tcp-connect%' ESCAPE '\') OR (LOWER(message) LIKE '%echo binary >>%' ESCAPE '\' OR LOWER(raw_data) LIKE '%echo binary >>%' ESCAPE '\') OR (LOWER(message) LIKE '%wget %; chmod +x%' ESCAPE '\' OR LOWER(raw_data) LIKE '%wget %; chmod +x%' ESCAPE '\') OR (LOWER(message) LIKE '%wget %; chmod 777 %' ESCAPE '\' OR LOWER(raw_data) LIKE '%wget %; chmod 777 %' ESCAPE '\') OR (LOWER(message) LIKE '%cd /tmp || cd /var/run || cd /mnt%' ESCAPE '\' OR LOWER(raw_data) LIKE '%cd /tmp || cd /var/run || cd /mnt%' ESCAPE '\') OR (LOWER(message) LIKE '%stop;service iptables stop;%' ESCAPE '\' OR LOWER(raw_data) LIKE '%stop;service iptables stop;%' ESCAPE '\') OR (LOWER(message) LIKE '%stop;susefirewall2 stop;%' ESCAPE '\' OR LOWER(raw_data) LIKE '%stop;susefirewall2 stop;%' ESCAPE '\') OR (LOWER(message) LIKE '%chmod 777 2020%' ESCAPE '\' OR LOWER(raw_data) LIKE '%chmod 777 2020%' ESCAPE '\') OR (LOWER(message) LIKE '%>>/etc/rc.local%' ESCAPE '\' OR LOWER(raw_data) LIKE '%>>/etc/rc.local%' ESCAPE '\') OR (LOWER(message) LIKE '%base64 -d /tmp/%' ESCAPE '\' OR LOWER(raw_data) LIKE '%base64 -d /tmp/%' ESCAPE '\') OR (LOWER(message) LIKE '% | base64 -d %' ESCAPE '\' OR LOWER(raw_data) LIKE '% | base64 -d %' ESCAPE '\') OR (LOWER(message) LIKE '%/chmod u+s %' ESCAPE '\' OR LOWER(raw_data) LIKE '%/chmod u+s %' ESCAPE '\') OR (LOWER(message) LIKE '%chmod +s /tmp/%' ESCAPE '\' OR LOWER(raw_data) LIKE '%chmod +s /tmp/%' ESCAPE '\') OR (LOWER(message) LIKE '%chmod u+s /tmp/%' ESCAPE '\' OR LOWER(raw_data) LIKE '%chmod u+s /tmp/%' ESCAPE '\') OR (LOWER(message) LIKE '% /tmp/haxhax%' ESCAPE '\' OR LOWER(raw_data) LIKE '% /tmp/haxhax%' ESCAPE '\') OR (LOWER(message) LIKE '% /tmp/ns\_sploit%' ESCAPE '\' OR LOWER(raw_data) LIKE '% /tmp/ns\_sploit%' ESCAPE '\') OR (LOWER(message) LIKE '%nc -l -p %' ESCAPE '\' OR LOWER(raw_data) LIKE '%nc -l -p %' ESCAPE '\') OR (LOWER(message) LIKE '%cp /bin/ksh %' ESCAPE '\' OR LOWER(raw_data) LIKE '%cp /bin/ksh %' ESCAPE '\') OR (LOWER(message) LIKE '%cp /bin/sh %' ESCAPE '\' OR LOWER(raw_data) LIKE '%cp /bin/sh %' ESCAPE '\') OR (LOWER(message) LIKE '% /tmp/%.b64 %' ESCAPE '\' OR LOWER(raw_data) LIKE '% /tmp/%.b64 %' ESCAPE '\') OR (LOWER(message) LIKE '%/tmp/ysocereal.jar%' ESCAPE '\' OR LOWER(raw_data) LIKE '%/tmp/ysocereal.jar%' ESCAPE '\') OR (LOWER(message) LIKE '%/tmp/x %' ESCAPE '\' OR LOWER(raw_data) LIKE '%/tmp/x %' ESCAPE '\') OR (LOWER(message) LIKE '%; chmod +x /tmp/%' ESCAPE '\' OR LOWER(raw_data) LIKE '%; chmod +x /tmp/%' ESCAPE '\') OR (LOWER(message) LIKE '%;chmod +x /tmp/%' ESCAPE '\' OR LOWER(raw_data) LIKE '%;chmod +x /tmp/%' ESCAPE '\'))
