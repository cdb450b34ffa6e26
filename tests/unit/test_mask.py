"""PII masking (udfs/mask.py): detectors, false positives, JSON in unmapped, idempotence, policy."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import fastavro
import pytest

from udfs.mask import MaskPolicy, is_sensitive_key, luhn_ok, mask_event, mask_text

SCHEMA = fastavro.parse_schema(json.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "audit_event.avsc").read_text("utf-8")))
PLAIN = MaskPolicy()
KEYED = MaskPolicy(hmac_key=b"test-key")


def text(s: str, policy: MaskPolicy = PLAIN) -> str:
    return mask_text(s, policy)[0]


def _event(**extra) -> dict:
    e = {"event_id": "e-1", "tenant_id": "acme", "time": 1732795741123, "class_uid": 6003,
         "category_uid": 6, "activity_id": 1, "type_uid": 600301, "severity_id": 1,
         "metadata": {"product": {"name": "AWS CloudTrail"}, "uid": "4111111111111111"}}
    e.update(extra)
    return e


# --- card numbers -------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,masked", [
    ("4111111111111111", "411111******1111"),
    ("4111 1111 1111 1111", "411111******1111"),
    ("5500-0000-0000-0004", "550000******0004"),
    ("378282246310005", "378282*****0005"),  # Amex, 15 digits
    ("4222222222222", "422222***2222"),  # Visa, 13 digits
    ("6011000990139424", "601100******9424"),
    ("2223000048400011", "222300******0011"),  # Mastercard 2-series
])
def test_card_numbers_keep_first6_last4(raw, masked):
    assert text(f"card={raw};") == f"card={masked};"
    assert mask_text(f"paid with {raw} today", PLAIN)[1] == ["card_number@text"]


@pytest.mark.parametrize("s", [
    "order 1234567812345678 shipped",  # 16 digits, fails Luhn
    "at 1732795741123 ms",  # epoch millis (13 digits) never start like a card
    "id 7992739871300000",  # passes Luhn? no matter: 7 is no card prefix
    "uuid 12345678-1234-1234-1234-123456789012",
    "hash a4111111111111111b",  # digits inside a hex word
    "41111111111111111111 is 20 digits",
    "phone +1 555 123 4567",
])
def test_card_false_positives_stay(s):
    assert text(s) == s


def test_luhn():
    assert luhn_ok("4111111111111111") and luhn_ok("79927398713")
    assert not luhn_ok("4111111111111112")


# --- e-mail, national ids ----------------------------------------------------------------------

def test_emails_plain_and_keyed_markers():
    assert text("mail alice.smith+x@example.co.uk now") == "mail [MASKED:email] now"
    keyed = text("alice@example.com and alice@example.com and bob@example.com", KEYED)
    tokens = keyed.replace("and", "").split()
    assert tokens[0] == tokens[1] != tokens[2]
    assert tokens[0].startswith("[MASKED:email:") and len(tokens[0]) == len("[MASKED:email:]") + 8
    other = MaskPolicy(hmac_key=b"other-key")
    assert text("alice@example.com", other) != text("alice@example.com", KEYED)


def test_national_identifiers():
    assert text("ssn 123-45-6789.") == "ssn [MASKED:us_ssn]."
    assert text("ssn 123 45 6789") == "ssn [MASKED:us_ssn]"
    for s in ("000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000",
              "2024-11-28", "123-45-67890", "12-345-6789"):
        assert text(s) == s, s
    assert (text("NINO AB 12 34 56 C and JG123456A, not QQ123456A")
            == "NINO [MASKED:uk_nino] and [MASKED:uk_nino], not QQ123456A")
    assert text("GB123456A") == "GB123456A"  # GB is not a valid NINO prefix


def test_configurable_national_id_patterns():
    policy = MaskPolicy.from_dict({"national_id_patterns": {"de_tax_id": r"\b\d{11}\b"}}, environ={})
    assert (text("steuer-id 12345678901, ssn 123-45-6789", policy)
            == "steuer-id [MASKED:de_tax_id], ssn 123-45-6789")
    with pytest.raises(ValueError, match="pattern 'bad' is not a valid regex"):
        MaskPolicy.from_dict({"extra_patterns": {"bad": "("}}, environ={})


# --- secrets ------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,masked", [
    ("login password=hunter2 ok", "login password=[MASKED:secret] ok"),
    ("PASSWORD: hunter2", "PASSWORD: [MASKED:secret]"),
    ("user=alice&token=abc123&x=1", "user=alice&token=[MASKED:secret]&x=1"),
    ('{"password": "s3cr3t", "pin": 1234, "token": null',
     '{"password": "[MASKED:secret]", "pin": "[MASKED:secret]", "token": null'),
    ("client_secret='abc def'", "client_secret='[MASKED:secret]'"),
    ("Authorization: Bearer abc.def-ghi_123", "Authorization: Bearer [MASKED:secret]"),
    ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic [MASKED:secret]"),
    ("https://bob:pa55@db.example.com:5432/x?api_key=XYZ&page=2",
     "https://bob:[MASKED:secret]@db.example.com:5432/x?api_key=[MASKED:secret]&page=2"),
    ("GET /s3/obj?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F2024&X-Amz-Signature=ab12",
     "GET /s3/obj?X-Amz-Credential=[MASKED:secret]&X-Amz-Signature=[MASKED:secret]"),
    ("key AKIAIOSFODNN7EXAMPLE here", "key [MASKED:aws_access_key] here"),
    ("temp ASIAY34FZKBOKMUTVV7A", "temp [MASKED:aws_access_key]"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "aws_secret_access_key = [MASKED:secret]"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U end",
     "jwt [MASKED:jwt] end"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIabc\n-----END RSA PRIVATE KEY-----", "[MASKED:secret]"),
])
def test_secrets_in_free_text_and_urls(raw, masked):
    assert text(raw) == masked


@pytest.mark.parametrize("s", [
    "sudo: alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls",
    "Failed password for invalid user admin from 203.0.113.7 port 22 ssh2",
    "basic authentication failed for token provided",
    "responseStatus code=403 reason=Forbidden",
    "password=, token=null",
    "resource=secrets verb=get",
])
def test_secret_false_positives_stay(s):
    assert text(s) == s


def test_sensitive_key_names():
    for k in ("password", "db_password", "newPassword", "X-Amz-Signature", "client_secret", "SecretAccessKey",
              "sessionToken", "api-key", "requestParameters.password", "Authorization"):
        assert is_sensitive_key(k), k
    for k in ("pwd", "code", "user", "tokenType", "secretName_x", "resource", "accessKeyId", "passed"):
        assert not is_sensitive_key(k), k


# --- whole events ---------------------------------------------------------------------------------

def test_event_walk_records_paths_and_keeps_ids_and_ips():
    e = _event(
        message="card 4111 1111 1111 1111 by alice@example.com",
        actor={"user": {"name": "alice@example.com",
                        "uid": "arn:aws:sts::1:assumed-role/R/alice@example.com"},
               "session": {"uid": "ASIAY34FZKBOKMUTVV7A"}},
        src_endpoint={"ip": "203.0.113.7"},
        http_request={"url": "https://h/x?token=abc", "user_agent": "curl"},
        resources=[{"name": "ok"}, {"name": "bob@example.com", "type": "AWS::IAM::User"}],
        raw_data='{"requestParameters":{"userName":"carol","password":"P@ss"},"sourceIPAddress":"203.0.113.7"}',
        unmapped={
            "requestParameters":
                '{"userName":"carol","password":"P@ss","tags":[{"k":"mail","v":"c@example.com"}]}',
            "debezium.after": '{"id":7,"email":"dora@example.com","card":"4111111111111111","note":"x"}',
            "userIdentity.accessKeyId": "AKIAIOSFODNN7EXAMPLE",
            "requestParameters.newPassword": "n3w",
            "syslog.facility": "auth",
        },
    )
    out, found = mask_event(e, PLAIN)
    assert out["event_id"] == "e-1" and out["metadata"]["uid"] == "4111111111111111"  # exempt
    assert out["src_endpoint"]["ip"] == "203.0.113.7"
    assert out["actor"]["session"]["uid"] == "ASIAY34FZKBOKMUTVV7A"
    assert out["message"] == "card 411111******1111 by [MASKED:email]"
    assert out["actor"]["user"]["name"] == "[MASKED:email]"
    assert out["resources"][1]["type"] == "AWS::IAM::User"
    assert json.loads(out["raw_data"]) == {
        "requestParameters": {"userName": "carol", "password": "[MASKED:secret]"},
        "sourceIPAddress": "203.0.113.7"}
    rp = json.loads(out["unmapped"]["requestParameters"])
    assert rp == {"userName": "carol", "password": "[MASKED:secret]",
                  "tags": [{"k": "mail", "v": "[MASKED:email]"}]}
    after = json.loads(out["unmapped"]["debezium.after"])
    assert after == {"id": 7, "email": "[MASKED:email]", "card": "411111******1111", "note": "x"}
    assert out["unmapped"]["userIdentity.accessKeyId"] == "[MASKED:aws_access_key]"
    assert out["unmapped"]["requestParameters.newPassword"] == "[MASKED:secret]"
    assert out["unmapped"]["syslog.facility"] == "auth"
    assert set(found) == {
        "card_number@message", "email@message", "email@actor.user.name", "email@actor.user.uid",
        "secret@http_request.url", "email@resources[1].name", "secret@raw_data.requestParameters.password",
        "secret@unmapped[requestParameters].password", "email@unmapped[requestParameters].tags[0].v",
        "email@unmapped[debezium.after].email", "card_number@unmapped[debezium.after].card",
        "aws_access_key@unmapped[userIdentity.accessKeyId]", "secret@unmapped[requestParameters.newPassword]",
    }
    assert out["unmapped"]["auditflow.masked"].split(",") == found
    assert fastavro.validate(out, SCHEMA, raise_errors=True)
    assert e["message"].startswith("card 4111")  # the input is untouched


def test_masking_twice_equals_masking_once():
    e = _event(message="pw password=x, 4111111111111111, a@b.example, 123-45-6789, Bearer abcdefgh1234",
               unmapped={"requestParameters": '{"password":"x","mail":"a@b.example"}',
                         "masked": "source value"},
               http_request={"url": "https://u:p@h/?signature=1"})
    for policy in (PLAIN, KEYED):
        once, found = mask_event(e, policy)
        twice, found2 = mask_event(once, policy)
        assert twice == once and found2 == [] and found
        assert once["unmapped"]["masked"] == "source value"  # a source attribute named 'masked' is kept


def test_record_merges_with_earlier_entries():
    once, _ = mask_event(_event(message="a@b.example"), PLAIN)
    once["status_detail"] = "then 4111111111111111"
    twice, found = mask_event(once, PLAIN)
    assert found == ["card_number@status_detail"]
    assert twice["unmapped"]["auditflow.masked"] == "email@message,card_number@status_detail"


def test_nothing_to_mask_leaves_event_unchanged():
    e = _event(message="Accepted publickey for alice from 203.0.113.7 port 50022 ssh2",
               unmapped={"requestParameters": '{ "bucketName" : "logs" }'})
    out, found = mask_event(e, PLAIN)
    assert out == e and found == [] and out is not e


def test_policy_from_dict_and_toml(tmp_path, monkeypatch):
    key_file = tmp_path / "mask.key"
    key_file.write_text("s3cret-key\n")
    cfg = tmp_path / "auditflow.toml"
    cfg.write_text(f'[mask]\nemails = false\nextend_exempt_fields = ["message"]\n'
                   f'pseudonymize_fields = ["actor.user.name"]\nhmac_key_file = "{key_file}"\n')
    policy = MaskPolicy.from_toml(cfg)
    assert policy.hmac_key == b"s3cret-key" and not policy.emails and "event_id" in policy.exempt_fields
    out, found = mask_event(_event(message="a@b.example 4111111111111111", status_detail="c@d.example",
                                   actor={"user": {"name": "alice"}}), policy)
    assert out["message"] == "a@b.example 4111111111111111"  # exempt
    assert out["status_detail"] == "c@d.example"  # e-mail detector off
    assert out["actor"]["user"]["name"].startswith("[MASKED:pseudonym:")
    assert found == ["pseudonym@actor.user.name"]
    monkeypatch.setenv("AUDITFLOW_MASK_HMAC_KEY", "from-env")
    assert MaskPolicy.from_dict({}).hmac_key == b"from-env"
    assert MaskPolicy.from_dict({}, environ={}).hmac_key is None
    with pytest.raises(ValueError, match="unknown setting.*emial"):
        MaskPolicy.from_dict({"emial": False})
    with pytest.raises(ValueError, match="cannot read hmac_key_file"):
        MaskPolicy.from_dict({"hmac_key_file": str(tmp_path / "missing")})


def test_disabled_policy_and_ips_are_not_masked():
    e = _event(message="a@b.example from 10.0.0.1")
    assert mask_event(e, MaskPolicy(enabled=False)) == (e, [])
    assert mask_event(e, PLAIN)[0]["message"] == "[MASKED:email] from 10.0.0.1"


def test_input_is_not_modified():
    e = _event(unmapped={"x.password": "p"}, message="a@b.example")
    before = copy.deepcopy(e)
    mask_event(e, KEYED)
    assert e == before


@pytest.mark.parametrize("s,leak", [
    ("password=Tr0ub4dor&3 set for x", "&3"),
    ("passwd: a;b,c) next", ";b"),
    ("secret=p&q1 ok", "&q1"),
])
def test_unquoted_secret_masked_to_its_end(s, leak):
    out = text(s)
    assert "[MASKED:secret]" in out and leak not in out
