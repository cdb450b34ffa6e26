"""The S3 identities and policies `stack up` gives SeaweedFS, from auditflow/roles.toml."""

import json

from auditflow import config, credentials, s3


def _cfg(tmp_path):
    return config.load(overrides=[f"stack.data_dir={tmp_path}"], environ={}, cwd_file=False)


def _statements(conf, principal):
    (pol,) = [p for p in conf["policies"] if p["name"] == f"auditflow-{principal}"]
    return json.loads(pol["content"])["Statement"]


def _allowed(stmts, action, resource):
    def match(s):
        return action in s["Action"] and resource in s["Resource"]
    return any(match(s) for s in stmts if s["Effect"] == "Allow") and not any(
        match(s) for s in stmts if s["Effect"] == "Deny")


def test_one_identity_per_role_with_an_s3_table_and_its_own_keys(tmp_path):
    cfg = _cfg(tmp_path)
    conf = s3.identities_config(cfg)
    names = {i["name"] for i in conf["identities"]}
    assert names == {"admin", "archive", "sealer", "witness", "auditor", "trino"}
    for ident in conf["identities"]:
        user, secret = credentials.identity(cfg, ident["name"]).at("s3")
        assert ident["credentials"] == [{"accessKey": user, "secretKey": secret}]
        assert ident["policyNames"] == [f"auditflow-{ident['name']}"]
    assert all("actions" not in i for i in conf["identities"])  # legacy actions bypass policies


def test_no_role_deletes_or_hides_anything_in_worm(tmp_path):
    cfg = _cfg(tmp_path)
    conf = s3.identities_config(cfg)
    for ident in conf["identities"]:
        stmts = _statements(conf, ident["name"])
        assert not _allowed(stmts, "s3:DeleteObject", "arn:aws:s3:::worm/*"), ident["name"]
        deny = [s for s in stmts if s["Effect"] == "Deny"]
        assert "s3:DeleteObject" in deny[0]["Action"] and "arn:aws:s3:::worm/*" in deny[0]["Resource"]
    sealer = _statements(conf, "sealer")
    assert _allowed(sealer, "s3:PutObject", "arn:aws:s3:::worm/*")
    assert _allowed(sealer, "s3:PutObjectRetention", "arn:aws:s3:::worm/*")
    assert not _allowed(sealer, "s3:DeleteObjectVersion", "arn:aws:s3:::worm/*")
    assert _allowed(sealer, "s3:DeleteObject", "arn:aws:s3:::staging/*")


def test_readers_only_read_the_worm_bucket(tmp_path):
    conf = s3.identities_config(_cfg(tmp_path))
    for who in ("auditor", "trino"):
        stmts = _statements(conf, who)
        assert _allowed(stmts, "s3:GetObject", "arn:aws:s3:::worm/*")
        assert _allowed(stmts, "s3:ListBucket", "arn:aws:s3:::worm")
        assert not _allowed(stmts, "s3:PutObject", "arn:aws:s3:::worm/*")
        assert not _allowed(stmts, "s3:GetObject", "arn:aws:s3:::staging/*")
    archive = _statements(conf, "archive")
    assert _allowed(archive, "s3:PutObject", "arn:aws:s3:::staging/*")
    assert not _allowed(archive, "s3:GetObject", "arn:aws:s3:::worm/*")
    witness = _statements(conf, "witness")
    assert _allowed(witness, "s3:PutObject", "arn:aws:s3:::witness/*")
    assert not _allowed(witness, "s3:PutObject", "arn:aws:s3:::worm/*")
