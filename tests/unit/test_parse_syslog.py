from datetime import UTC, datetime

import pytest
from parse_support import by_rule, fixture_events, parse_one, record

from udfs.parse import ParseError, parse


def ms(*args) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def events():
    return fixture_events("syslog")


def test_every_fixture_line_becomes_a_valid_event(events):
    assert len(events) == 40
    assert all(e["lineage"]["source_system"] == "syslog" for e in events)


def test_sshd_accepted_is_a_successful_logon_with_user_and_source(events):
    e = by_rule(events, "sshd.accepted")[0]
    assert (e["class_uid"], e["activity_id"], e["type_uid"], e["status_id"]) == (3002, 1, 300201, 1)
    assert e["actor"]["user"]["name"] == "alice"
    assert e["src_endpoint"] == {"ip": "203.0.113.7", "port": 51234, "hostname": None}
    assert e["dst_endpoint"]["hostname"] == "web1"
    assert e["metadata"]["product"]["name"] == "OpenSSH"
    assert e["unmapped"]["auth_method"] == "password"
    assert e["unmapped"]["syslog.facility"] == "auth" and e["unmapped"]["syslog.severity"] == "info"
    assert e["time"] == ms(2024, 11, 28, 12, 9, 1)
    assert e["metadata"]["original_time"] == "Nov 28 12:09:01"
    assert e["raw_data"].startswith("<38>Nov 28 12:09:01 web1 sshd[4242]: Accepted")


def test_sshd_ipv6_and_key(events):
    e = by_rule(events, "sshd.accepted")[1]
    assert e["src_endpoint"]["ip"] == "2001:db8::17"
    assert e["unmapped"]["ssh.key"].startswith("ED25519 SHA256:")


def test_sshd_failures(events):
    failed = by_rule(events, "sshd.failed")
    assert all(e["status_id"] == 2 and e["severity_id"] == 2 for e in failed)
    assert failed[0]["status_detail"] == "Failed password"
    assert failed[1]["status_detail"] == "Failed publickey for invalid user"
    assert failed[1]["actor"]["user"]["name"] == "oracle"
    assert failed[1]["unmapped"]["sshd.invalid_user"] == "true"
    repeated = failed[2]
    assert repeated["unmapped"]["syslog.repeated"] == "5"
    assert repeated["actor"]["user"]["name"] == "root"
    invalid = by_rule(events, "sshd.invalid_user")[0]
    assert (invalid["status_id"], invalid["status_detail"]) == (2, "invalid user")


def test_sshd_logoff(events):
    e = by_rule(events, "sshd.disconnected")[0]
    assert (e["type_uid"], e["status_id"], e["actor"]["user"]["name"]) == (300202, 1, "alice")
    assert by_rule(events, "sshd.pam_session_closed")[0]["type_uid"] == 300202


def test_sudo_command_is_authorize_session_with_runas_and_command(events):
    e = by_rule(events, "sudo.command")[0]
    assert (e["class_uid"], e["activity_id"], e["status_id"]) == (3003, 1, 1)
    assert e["actor"]["user"]["name"] == "alice"
    assert e["resources"][0]["name"] == "root" and e["resources"][0]["type"] == "User"
    assert e["unmapped"]["sudo.command"] == "/usr/bin/id -u"
    assert e["unmapped"]["sudo.tty"] == "pts/0" and e["unmapped"]["sudo.pwd"] == "/home/alice"


def test_sudo_failures(events):
    bad = by_rule(events, "sudo.bad_password")[0]
    assert (bad["class_uid"], bad["status_id"]) == (3002, 2)
    assert bad["status_detail"] == "3 incorrect password attempts"
    denied = by_rule(events, "sudo.denied")[0]
    assert (denied["class_uid"], denied["status_id"]) == (3003, 2)
    assert denied["status_detail"] == "user NOT in sudoers"
    assert denied["unmapped"]["sudo.command"] == "/bin/cat /etc/shadow"
    pam = by_rule(events, "sudo.pam_auth_failure")[0]
    assert (pam["class_uid"], pam["status_id"], pam["actor"]["user"]["name"]) == (3002, 2, "bob")


def test_su(events):
    opened = by_rule(events, "su.pam_session_opened")[0]
    assert (opened["type_uid"], opened["status_id"]) == (300201, 1)
    assert opened["actor"]["user"] == {"uid": "1001", "name": "alice", "type": None, "groups": None}
    assert opened["resources"][0]["name"] == "root"
    failures = by_rule(events, "su.failed") + by_rule(events, "su.pam_auth_failure")
    assert len(failures) == 2 and all(e["status_id"] == 2 for e in failures)
    assert all(e["resources"][0]["name"] == "root" for e in failures)
    assert by_rule(events, "su.to")[0]["status_id"] == 1


def test_shadow_utils_account_changes(events):
    new_user = by_rule(events, "shadow.new_user")[0]
    assert new_user["type_uid"] == 300101
    assert new_user["resources"][0] == {"uid": "1003", "name": "carol", "type": "User", "namespace": None,
                                        "owner": None}
    assert new_user["unmapped"]["useradd.shell"] == "/bin/bash"
    member = by_rule(events, "shadow.group_member")
    assert [e["type_uid"] for e in member] == [300107, 300108]
    assert member[0]["resources"][1] == {"uid": None, "name": "sudo", "type": "Group", "namespace": None,
                                         "owner": None}
    assert member[1]["actor"]["user"]["name"] == "root"
    assert by_rule(events, "shadow.delete_user")[0]["type_uid"] == 300106
    assert by_rule(events, "shadow.lock_user")[0]["type_uid"] == 300109
    assert by_rule(events, "shadow.change_user")[0]["unmapped"]["usermod.new"] == "/bin/zsh"
    assert [e["type_uid"] for e in by_rule(events, "shadow.new_group")] == [300401, 300401]
    assert [e["type_uid"] for e in by_rule(events, "shadow.removed_group")] == [300404, 300404]
    assert by_rule(events, "pam.password_changed")[0]["type_uid"] == 300103


def test_unrecognised_lines_become_base_events_not_dropped(events):
    generic = by_rule(events, "syslog.generic")
    assert len(generic) == 6
    kernel = next(e for e in generic if e["unmapped"].get("syslog.program") == "kernel")
    assert (kernel["class_uid"], kernel["category_uid"], kernel["type_uid"]) == (0, 0, 99)
    assert kernel["severity_id"] == 2  # syslog notice -> Low
    assert kernel["message"].startswith("[ 1234.5678] audit:")
    cron = next(e for e in generic if e["unmapped"].get("syslog.program") == "CRON")
    assert cron["unmapped"].get("syslog.facility") is None  # no PRI in a file line
    assert cron["dst_endpoint"]["hostname"] == "web1"


def test_rfc3164_with_iso_timestamp(events):
    e = [e for e in by_rule(events, "sshd.accepted") if e["actor"]["user"]["name"] == "bob"][0]
    assert e["time"] == ms(2024, 11, 28, 11, 13, 3, 123000)
    assert e["dst_endpoint"]["hostname"] == "web2"


def test_rfc5424_structured_data_and_fields(events):
    e = [e for e in by_rule(events, "sshd.failed") if e["dst_endpoint"]["hostname"] == "web3.example.com"][0]
    assert e["time"] == ms(2024, 11, 28, 12, 14, 0, 3000)
    assert e["unmapped"]["sd.origin.ip"] == "10.0.4.12"
    assert e["unmapped"]["sd.origin.swVersion"] == "9.6p1"
    assert e["unmapped"]["sd.meta.sequenceId"] == "17"
    assert e["unmapped"]["syslog.msgid"] == "ID47"
    assert e["unmapped"]["syslog.app_name"] == "sshd"
    assert e["src_endpoint"]["ip"] == "198.51.100.23"
    app = [e for e in events if e["unmapped"].get("sd.exampleSDID@32473.eventID") == "1011"][0]
    assert app["unmapped"]["syslog.facility"] == "local4"
    assert app["message"] == 'An application event log entry with \\"quotes\\"'


def test_rfc5424_nil_timestamp_uses_kafka_timestamp(events):
    e = events[-1]
    assert e["time"] == e["lineage"]["ingest_time"]
    assert e["unmapped"]["syslog.time_source"] == "ingest"


def test_sd_escapes():
    e = parse_one("syslog", r'<14>1 2024-11-28T12:00:00Z h app - - [x@1 a="q\"u\]o\\te"] m')
    assert e["unmapped"]["sd.x@1.a"] == 'q"u]o\\te'
    assert e["message"] == "m"


# --- year inference -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line_time", "ingest", "expected"),
    [
        ("Dec 31 23:59:59", ms(2025, 1, 1, 0, 0, 5), ms(2024, 12, 31, 23, 59, 59)),  # new year: previous year
        ("Jan  1 00:00:10", ms(2024, 12, 31, 23, 59, 50), ms(2025, 1, 1, 0, 0, 10)),  # source clock ahead
        ("Nov 28 12:09:01", ms(2024, 11, 28, 13, 0), ms(2024, 11, 28, 12, 9, 1)),
        ("Nov 29 12:09:01", ms(2024, 11, 28, 13, 0), ms(2024, 11, 29, 12, 9, 1)),  # < 1 day ahead: same year
        ("Nov 30 12:09:01", ms(2024, 11, 28, 13, 0), ms(2023, 11, 30, 12, 9, 1)),  # > 1 day ahead: last year
        ("Feb 29 10:00:00", ms(2025, 3, 1), ms(2024, 2, 29, 10)),  # leap day: the last leap year
    ],
)
def test_rfc3164_year_inference(line_time, ingest, expected):
    e = parse_one("syslog", f"<38>{line_time} h sshd[1]: Invalid user x from 192.0.2.1", ts=ingest)
    assert e["time"] == expected
    assert e["time"] <= ingest + 86_400_000


def test_rfc3164_time_zone_header():
    e = parse_one("syslog", "<38>Nov 28 12:09:01 h sshd[1]: Invalid user x from 192.0.2.1",
                  headers={"tz": "Europe/Berlin"})
    assert e["time"] == ms(2024, 11, 28, 11, 9, 1)


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "error_class"),
    [
        ("this is not syslog at all", "syslog.unframed"),
        ("", "syslog.unframed"),
        ("<999>Nov 28 12:09:01 h sshd[1]: x", "syslog.bad_pri"),
        ("<38>Nov 31 12:09:01 h sshd[1]: x", "syslog.bad_time"),
        ("<38>Foo 28 12:09:01 h sshd[1]: x", "syslog.bad_time"),
        ("<14>1 2024-11-28T12:00:00Z h app - - [unterminated a=\"1\" m", "syslog.bad_sd"),
        ("<14>1 2024-13-45T12:00:00Z h app - - - m", "time.invalid"),
    ],
)
def test_bad_lines_raise_parse_errors(value, error_class):
    with pytest.raises(ParseError) as err:
        parse(record("syslog", value))
    assert err.value.error_class == error_class
    assert err.value.tenant_id == "acme"
    assert str(err.value)


def test_bad_time_zone_header_is_reported():
    with pytest.raises(ParseError, match="IANA") as err:
        parse(record("syslog", "<38>Nov 28 12:09:01 h x: y", headers={"tz": "Mars/Olympus"}))
    assert err.value.error_class == "syslog.bad_tz"


def test_invalid_utf8_is_a_decode_error():
    with pytest.raises(ParseError) as err:
        parse(record("syslog", b"<38>Nov 28 12:09:01 h x: \xff\xfe"))
    assert (err.value.error_class, err.value.stage) == ("decode.utf8", "decode")
