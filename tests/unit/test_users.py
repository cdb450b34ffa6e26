"""User directory (udfs/users.py): parsing, temporal profiles, the audit.users record format."""

from __future__ import annotations

import json

import pytest

from udfs.users import (
    UserDirectory,
    UserDirectoryError,
    UserVersion,
    decode_record,
    encode_record,
    load_file,
    merge_versions,
    parse_csv,
    parse_json,
    parse_time_ms,
    profile_from_record,
)

JAN = parse_time_ms("2024-01-01T00:00:00Z")
FEB = parse_time_ms("2024-02-01")
MAR = parse_time_ms("2024-03-01T00:00:00+00:00")

CSV = f"""uid,name,display_name,department,title,manager,privileged,valid_from,valid_to,deleted
u1,alice,Alice Example,Finance,Analyst,bob,no,2024-01-01T00:00:00Z,,
u1,alice,Alice Example,IT,Admin,carol,yes,{FEB},,
u1,alice,,,,,,2024-03-01,,true
u2,bob,Bob Boss,Finance,Head,,false,,,
u3,tmp,Temp Contractor,IT,,,1,2024-01-01,2024-01-15,
"""


@pytest.fixture
def directory() -> UserDirectory:
    return UserDirectory(parse_csv(CSV))


def test_time_parsing():
    assert parse_time_ms("2024-01-01T00:00:00Z") == 1704067200000
    assert parse_time_ms("2024-01-01") == parse_time_ms("2024-01-01T00:00:00") == 1704067200000
    assert parse_time_ms("2024-01-01T01:00:00+01:00") == 1704067200000
    assert parse_time_ms("1704067200000") == parse_time_ms(1704067200000) == 1704067200000
    with pytest.raises(ValueError, match="'yesterday' as ISO 8601"):
        parse_time_ms("yesterday")


def test_profile_valid_at_the_event_time(directory):
    assert directory.profile_at("u1", JAN + 1) == {"display_name": "Alice Example", "department": "Finance",
                                                   "title": "Analyst", "manager": "bob", "privileged": False,
                                                   "known": True}
    assert directory.profile_at("alice", FEB)["department"] == "IT"  # valid_from is inclusive
    assert directory.profile_at("alice", FEB - 1)["department"] == "Finance"
    assert directory.profile_at("alice", FEB + 5)["privileged"] is True
    gone = directory.profile_at("alice", MAR + 1)  # deleted in March
    assert gone["known"] is False and gone["privileged"] is False
    assert directory.profile_at("u1", JAN - 1)["known"] is False  # before the first version
    assert directory.profile_at("bob", 0)["known"] is True  # empty valid_from: since ever
    assert directory.profile_at("tmp", JAN + 1)["privileged"] is True
    assert directory.profile_at("tmp", parse_time_ms("2024-01-15"))["known"] is False  # valid_to exclusive


@pytest.mark.parametrize("user", ["mallory", "", None, "u9"])
def test_unknown_users_are_flagged_not_raised(directory, user):
    assert directory.profile_at(user, FEB) == {"display_name": None, "department": None, "title": None,
                                               "manager": None, "privileged": False, "known": False}


def test_names_resolve_as_of_the_time_and_case_insensitively():
    d = UserDirectory([UserVersion("u1", "sam", "Sam One", valid_from=0, valid_to=JAN),
                       UserVersion("u2", "sam", "Sam Two", valid_from=FEB)])
    assert d.profile_at("sam", JAN - 1)["display_name"] == "Sam One"
    assert d.profile_at("sam", JAN + 1)["known"] is False  # between the two owners of the name
    assert d.profile_at("sam", FEB)["display_name"] == "Sam Two"
    assert d.profile_at("SAM", FEB)["display_name"] == "Sam Two"


def test_name_without_uid_becomes_the_uid():
    [v] = parse_json('[{"name": "dave", "privileged": true}]')
    assert v.uid == "dave" and v.privileged and v.valid_from == 0


def test_topic_record_round_trip_and_determinism(directory):
    records = dict(directory.records())
    assert set(records) == {b"u1", b"u2", b"u3"}
    doc = json.loads(records[b"u1"])
    assert doc["format"] == "auditflow.users/1" and doc["uid"] == "u1"
    assert [v["valid_from"] for v in doc["versions"]] == [JAN, FEB, MAR]
    assert decode_record(records[b"u1"]) == directory.versions("u1")
    assert dict(UserDirectory(parse_csv(CSV)).records()) == records  # same file, same bytes
    assert profile_from_record(records[b"u1"], FEB)["title"] == "Admin"
    assert profile_from_record(None, FEB)["known"] is False


def test_directory_rebuilt_from_the_compacted_topic(directory):
    rebuilt = UserDirectory()
    for key, value in directory.records():
        rebuilt.apply(key, value)
    for user in ("u1", "alice", "bob", "tmp"):
        for t in (JAN - 1, JAN + 1, FEB, MAR + 1):
            assert rebuilt.profile_at(user, t) == directory.profile_at(user, t)
    rebuilt.apply(b"u2", None)  # tombstone: erased
    assert "u2" not in rebuilt and rebuilt.profile_at("bob", FEB)["known"] is False
    with pytest.raises(UserDirectoryError, match="another user's history"):
        rebuilt.apply(b"u2", dict(directory.records())[b"u1"])
    with pytest.raises(UserDirectoryError, match="not a user history"):
        rebuilt.apply(b"u1", b'{"something": "else"}')


def test_loading_merges_into_the_history(directory):
    correction = parse_csv(
        f"uid,name,department,valid_from\nu1,alice,Audit,{FEB}\nu1,alice,Legal,2024-04-01\n")
    merged = directory.merged_with(correction)
    assert [v.department for v in merged.versions("u1")] == ["Finance", "Audit", None, "Legal"]
    assert directory.versions("u1")[1].department == "IT"  # the original is unchanged
    assert merged.profile_at("alice", parse_time_ms("2024-04-02"))["department"] == "Legal"
    assert merge_versions([], correction) == sorted(correction, key=lambda v: v.valid_from)
    key, value = encode_record("u1", merged.versions("u1"))
    assert key == b"u1" and len(decode_record(value)) == 4


@pytest.mark.parametrize("body,message", [
    ("uid,name,valid_from\nu1,alice,yesterday\n", "users.csv line 2: valid_from: cannot read 'yesterday'"),
    ("uid,name,privileged\nu1,alice,maybe\n", "users.csv line 2: privileged: expected true/false"),
    ("uid,name,departmnet\nu1,alice,IT\n", "users.csv line 2: unknown column(s) 'departmnet'"),
    ("uid,name\nu1,alice\n,\nu2\n,\n", None),
    ("uid,name,display_name\n,,Nobody\n", "users.csv line 2: needs a uid or a name"),
    ("uid,name,valid_from,valid_to\nu1,a,2024-02-01,2024-01-01\n",
     "line 2: valid_to (2024-01-01) is not after"),
    ("uid,name\nu1,alice,extra\n", "users.csv line 2: more values than header columns"),
    ("", "users.csv: empty file"),
])
def test_csv_errors_name_file_row_and_column(body, message):
    if message is None:
        assert [v.uid for v in parse_csv(body)] == ["u1", "u2"]  # blank rows skipped
        return
    with pytest.raises(UserDirectoryError) as err:
        parse_csv(body)
    assert message in str(err.value)


def test_unknown_columns_can_be_ignored():
    [v] = parse_csv("uid,name,email\nu1,alice,alice@example.com\n", extra="ignore")
    assert v.uid == "u1"


@pytest.mark.parametrize("body,source,message", [
    ('[{"uid": "u1"}, {"uid": "u2", "valid_from": "soon"}]', "dir.json", "dir.json item 2: valid_from"),
    ('{"uid": "u1"}', "dir.json", "expected a list of user objects"),
    ("[1]", "dir.json", "dir.json item 1: expected an object"),
    ("{not json", "dir.json", "dir.json: not JSON"),
    ('{"uid": "u1"}\n\n{"uid": 2, "privileged": "x"}\n', "dir.jsonl", "dir.jsonl line 3: privileged"),
])
def test_json_errors_name_file_and_item(body, source, message):
    with pytest.raises(UserDirectoryError) as err:
        parse_json(body, source)
    assert message in str(err.value)


def test_load_file_by_extension(tmp_path):
    (tmp_path / "u.csv").write_text(CSV)
    (tmp_path / "u.json").write_text(json.dumps({"users": [{"uid": "u1", "name": "alice",
                                                            "valid_from": 1704067200000}]}))
    (tmp_path / "u.ndjson").write_text('{"uid": "u1"}\n{"uid": "u2"}\n')
    (tmp_path / "u.txt").write_text("x")
    assert len(load_file(tmp_path / "u.csv")) == 5
    assert load_file(tmp_path / "u.json")[0].valid_from == JAN
    assert [v.uid for v in load_file(tmp_path / "u.ndjson")] == ["u1", "u2"]
    assert len(UserDirectory.from_file(tmp_path / "u.csv")) == 3
    with pytest.raises(UserDirectoryError, match="u.txt: unknown file type '.txt'"):
        load_file(tmp_path / "u.txt")
    with pytest.raises(UserDirectoryError, match="missing.csv: cannot read"):
        load_file(tmp_path / "missing.csv")
