"""udfs/detect/sigma: each Sigma construct's Flink SQL, exactly, and the reasons a rule fails.

Pure logic (no Flink): the SQL text is compared. That Flink plans what the compiler writes is
tests/unit/test_sigma_import.py's job."""

from __future__ import annotations

import textwrap

import pytest
from sigma.rule import SigmaRule

from udfs.detect.sigma import compiler


def rule(detection: str, logsource: str = "product: aws\n    service: cloudtrail") -> SigmaRule:
    text = f"""
title: test
id: 11111111-2222-3333-4444-555555555555
logsource:
    {logsource}
detection:
{textwrap.indent(textwrap.dedent(detection).strip(), "    ")}
level: high
"""
    return SigmaRule.from_yaml(text)


def detection(det: str, logsource: str = "product: aws\n    service: cloudtrail") -> str:
    return compiler.where_clause(rule(det, logsource)).detection


CT = "product_name = 'CloudTrail'"


def test_plain_value_is_case_insensitive_equality_and_scope_is_added():
    c = compiler.where_clause(rule("sel:\n    eventName: StopLogging\ncondition: sel"))
    assert c.detection == "LOWER(api_operation) = 'stoplogging'"
    assert c.where == f"{CT}\n  AND (LOWER(api_operation) = 'stoplogging')"
    assert c.rule_id == "SIGMA-111111112222"


@pytest.mark.parametrize("field, sql", [
    ("eventName|contains: Stop", "LOWER(api_operation) LIKE '%stop%' ESCAPE '\\'"),
    ("eventName|startswith: Stop", "LOWER(api_operation) LIKE 'stop%' ESCAPE '\\'"),
    ("eventName|endswith: Logging", "LOWER(api_operation) LIKE '%logging' ESCAPE '\\'"),
    ("eventName: 'Stop*Log?ing'", "LOWER(api_operation) LIKE 'stop%log_ing' ESCAPE '\\'"),
    # LIKE's own characters in a value are literal
    ("eventName|contains: '100%_x'", "LOWER(api_operation) LIKE '%100\\%\\_x%' ESCAPE '\\'"),
    ("eventName|contains|cased: Stop", "api_operation LIKE '%Stop%' ESCAPE '\\'"),
    ("eventName|cased: StopLogging", "api_operation = 'StopLogging'"),
    ("userAgent: \"it's\"", "LOWER(user_agent) = 'it''s'"),
    ("eventName|re: '^Stop.*'", "REGEXP(api_operation, '^Stop.*')"),
    ("eventName|re|i: '^stop'", "REGEXP(api_operation, '(?i)^stop')"),
    ("eventName|exists: true", "api_operation IS NOT NULL"),
    ("eventName|exists: false", "api_operation IS NULL"),
    ("eventName: null", "api_operation IS NULL"),
    ("eventName: '*'", "api_operation IS NOT NULL"),
    ("sourceIPAddress|cidr: 10.0.0.0/8",
     "LOWER(COALESCE(src_ip, src_hostname, unmapped['sourceIPAddress'])) LIKE '10.%' ESCAPE '\\'"),
    ("requestParameters.enable: 'false'",
     "LOWER(JSON_VALUE(unmapped['requestParameters'], '$.enable')) = 'false'"),
    # a path through an array: the list of values as JSON text, searched for a substring
    ("requestParameters.containerDefinitions.command|contains: $AWS_X",
     "LOWER(NULLIF(JSON_QUERY(unmapped['requestParameters'], '$.containerDefinitions[*].command' WITH"
     " CONDITIONAL ARRAY WRAPPER), '[]')) LIKE '%$aws\\_x%' ESCAPE '\\'"),
    # base64 is case-sensitive: matched exactly, not lowered
    ("eventName|base64: ab", "api_operation = 'YWI='"),
    ("eventName|fieldref: userAgent", "LOWER(api_operation) = LOWER(user_agent)"),
    ("eventName|fieldref|contains: userAgent", "POSITION(LOWER(user_agent) IN LOWER(api_operation)) > 0"),
    ("eventName|fieldref|startswith: userAgent", "POSITION(LOWER(user_agent) IN LOWER(api_operation)) = 1"),
    ("eventName|fieldref|endswith: userAgent",
     "CHAR_LENGTH(LOWER(api_operation)) >= CHAR_LENGTH(LOWER(user_agent)) AND SUBSTRING(LOWER(api_operation)"
     " FROM CHAR_LENGTH(LOWER(api_operation)) - CHAR_LENGTH(LOWER(user_agent)) + 1) = LOWER(user_agent)"),
    ("eventTime|hour: 3", "EXTRACT(HOUR FROM event_time) = 3"),
    ("eventName|lte: 5", "TRY_CAST(api_operation AS DOUBLE) <= 5"),
    ("eventName|gt: 5", "TRY_CAST(api_operation AS DOUBLE) > 5"),
])
def test_modifiers(field, sql):
    assert detection(f"sel:\n    {field}\ncondition: sel") == sql


def test_base64offset_contains_is_three_variants():
    sql = detection("sel:\n    eventName|base64offset|contains: abc\ncondition: sel")
    # 'abc' at offsets 0, 1, 2: YWJj, (IG)FiY(w==), (IC)BhYm(M=) - the stable middle of each
    assert sql == ("api_operation LIKE '%YWJj%' ESCAPE '\\' OR api_operation LIKE '%FiY%' ESCAPE '\\'"
                   " OR api_operation LIKE '%hYm%' ESCAPE '\\'")


def test_windash_expands_dash_variants():
    sql = detection("sel:\n    userAgent|windash|contains: ' -x'\ncondition: sel")
    assert sql.count(" OR ") == 4  # -, /, en dash, em dash, horizontal bar
    assert "LIKE '% -x%'" in sql and "LIKE '% /x%'" in sql


def test_all_modifier_and_lists():
    assert detection("sel:\n    userAgent|contains|all: [a, b]\ncondition: sel") == (
        "LOWER(user_agent) LIKE '%a%' ESCAPE '\\' AND LOWER(user_agent) LIKE '%b%' ESCAPE '\\'")
    assert detection("sel:\n    eventName: [A, B]\ncondition: sel") == (
        "LOWER(api_operation) = 'a' OR LOWER(api_operation) = 'b'")


def test_not_is_two_valued_so_a_missing_field_does_not_hide_the_event():
    # SQL's NOT over NULL is NULL (row dropped); Sigma: an absent field does not match the filter
    sql = detection("""
        sel:
            eventName: X
        filter:
            userAgent: bot
        condition: sel and not filter
    """)
    assert sql == "LOWER(api_operation) = 'x' AND (LOWER(user_agent) = 'bot') IS NOT TRUE"


def test_one_of_and_all_of():
    det = """
        sel_a:
            eventName: A
        sel_b:
            eventName: B
        other:
            eventSource: s
        condition: 1 of sel_* and not all of sel_*
    """
    assert detection(det) == ("(LOWER(api_operation) = 'a' OR LOWER(api_operation) = 'b') AND "
                              "(LOWER(api_operation) = 'a' AND LOWER(api_operation) = 'b') IS NOT TRUE")


def test_keywords_search_message_and_raw_data():
    sql = detection("keywords:\n    - 'new user'\ncondition: keywords", "product: linux")
    assert sql == ("(LOWER(message) LIKE '%new user%' ESCAPE '\\' OR LOWER(raw_data) LIKE '%new user%'"
                   " ESCAPE '\\')")
    assert compiler.where_clause(rule("keywords:\n    - x\ncondition: keywords", "product: linux")).where \
        .startswith("source_system IN ('syslog', 'auditd')")


def test_numbers_on_text_and_numeric_columns():
    k8s = "product: kubernetes\n    service: audit"
    assert detection("sel:\n    responseStatus.code: 403\ncondition: sel", k8s) == \
        "unmapped['responseStatus.code'] = '403'"
    assert detection("sel:\n    objectRef.resource: pods\ncondition: sel", k8s) == \
        "LOWER(SPLIT_INDEX(resource_type, '/', 0)) = 'pods'"


def test_pod_spec_fields_are_present_only_when_some_container_or_volume_has_them():
    k8s = "product: kubernetes\n    service: audit"
    assert detection("sel:\n    hostPath: '*'\ncondition: sel", k8s) == (
        "NULLIF(JSON_QUERY(unmapped['requestObject'], '$.spec.volumes[*].hostPath' WITH CONDITIONAL"
        " ARRAY WRAPPER), '[]') IS NOT NULL")
    with pytest.raises(compiler.Unsupported, match="on a field holding a list of values"):
        compiler.where_clause(rule("sel:\n    hostPath: /etc\ncondition: sel", k8s))


def test_auditd_record_type_is_list_membership_and_execve_args_are_positions():
    auditd = "product: linux\n    service: auditd"
    sql = detection("sel:\n    type: EXECVE\n    a0: wget\ncondition: sel", auditd)
    assert sql == ("ARRAY_CONTAINS(SPLIT(UPPER(unmapped['auditd.types']), ','), 'EXECVE') AND "
                   "LOWER(JSON_VALUE(unmapped['process.args'], '$[0]')) = 'wget'")


@pytest.mark.parametrize("det, logsource, reason", [
    ("sel:\n    Image: x\ncondition: sel", "product: windows\n    category: process_creation",
     "logsource product=windows service=None category=process_creation has no pipeline"),
    ("sel:\n    userIdentity.userName: x\ncondition: sel", "product: aws\n    service: cloudtrail",
     "field 'userIdentity.userName': the CloudTrail parser folds it into other columns"),
    ("sel:\n    type: SYSCALL\n    a1: '0x2'\ncondition: sel", "product: linux\n    service: auditd",
     "sel: a1 of a SYSCALL record (syscall arguments) are not kept by the auditd parser"),
    ("sel:\n    unit: firewalld\ncondition: sel", "product: linux\n    service: auditd",
     "field 'unit': not kept by the auditd parser"),
    ("sel:\n    type|contains: EXEC\ncondition: sel", "product: linux\n    service: auditd",
     "a wildcard value on the list field"),
    ("sel:\n    eventName|expand: '%names%'\ncondition: sel", "product: aws\n    service: cloudtrail",
     "placeholder %names%"),
])
def test_unsupported_constructs_fail_the_rule_with_the_reason(det, logsource, reason):
    with pytest.raises(compiler.Unsupported, match=reason.replace("(", r"\(").replace(")", r"\)")
                       .replace("*", r"\*").replace("[", r"\[").replace("+", r"\+")):
        compiler.where_clause(rule(det, logsource))


def test_rule_file_carries_the_sigma_metadata(tmp_path):
    r = SigmaRule.from_yaml("""
title: Trail stopped
id: 4db60cc0-36fb-42b7-9b58-a5b53019fb74
status: test
description: Detects disabling of a Trail
references: [https://example.com/a]
author: vitaliy0x1
tags: [attack.defense-evasion, attack.t1562.008]
logsource: {product: aws, service: cloudtrail}
detection:
    sel: {eventName: StopLogging}
    condition: sel
level: high
""")
    text = compiler.render_rule(compiler.where_clause(r), "x.yml", "x.yml; SigmaHQ, DRL 1.1")
    path = tmp_path / "SIGMA-4DB60CC036FB_x.sql"
    path.write_text(text)
    from udfs.detect import rules as R

    loaded = R.load_rule(path)
    assert (loaded.id, loaded.severity, loaded.mitre, loaded.sigma_id) == (
        "SIGMA-4DB60CC036FB", "high", ("T1562.008",), "4db60cc0-36fb-42b7-9b58-a5b53019fb74")
    head = R.parse_header(text)
    assert head["sigma_author"] == "vitaliy0x1" and head["sigma_references"] == "https://example.com/a"
    assert head["sigma_tags"] == "attack.defense-evasion, attack.t1562.008"
    assert head["sigma_source"] == "x.yml; SigmaHQ, DRL 1.1"


def test_wide_base64offset_and_several_conditions():
    sql = detection("sel:\n    userAgent|wide|base64offset|contains: ab\ncondition: sel")
    assert sql == ("user_agent LIKE '%YQBiA%' ESCAPE '\\' OR user_agent LIKE '%EAYg%' ESCAPE '\\'"
                   " OR user_agent LIKE '%hAGIA%' ESCAPE '\\'")
    many = detection("a:\n    eventName: A\nb:\n    eventName: B\ncondition:\n    - a\n    - b")
    assert many == "(LOWER(api_operation) = 'a') OR (LOWER(api_operation) = 'b')"
    flags = detection("sel:\n    eventName|re|m|s: 'a.b'\ncondition: sel")
    assert flags == "REGEXP(api_operation, '(?ms)a.b')"
