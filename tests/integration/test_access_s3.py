"""S3 access matrix: each role's identity at SeaweedFS may do what auditflow/roles.toml grants
and nothing else; SeaweedFS itself refuses the rest (AccessDenied), anonymous and plain-HTTP
requests, and wrong keys."""

from __future__ import annotations

import datetime as dt
import uuid

import boto3
import pytest
import requests
from botocore import UNSIGNED
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from auditflow import s3
from auditflow.stack import tls


@pytest.fixture(scope="module")
def run(stack, cfg):
    """A prefix of this run's, one staged and one sealed (locked, encrypted) object in it."""
    prefix = f"it/access-{uuid.uuid4().hex[:8]}/"
    staging, worm = cfg.get("s3.staging_bucket"), cfg.get("s3.worm_bucket")
    s3.client(cfg, "archive").put_object(Bucket=staging, Key=prefix + "staged", Body=b"staged")
    until = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    put = s3.client(cfg, "sealer").put_object(
        Bucket=worm, Key=prefix + "sealed", Body=b"sealed", ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until, ServerSideEncryption=cfg.get("archive.sse"))
    return {"prefix": prefix, "staging": staging, "worm": worm, "version": put["VersionId"], "put": put}


def denied(call, code: str = "AccessDenied") -> None:
    with pytest.raises(ClientError) as exc:
        call()
    assert exc.value.response["Error"]["Code"] == code, exc.value.response


def test_archive_writes_staging_only(cfg, run):
    c, p = s3.client(cfg, "archive"), run["prefix"]
    c.put_object(Bucket=run["staging"], Key=p + "a", Body=b"a")
    assert c.get_object(Bucket=run["staging"], Key=p + "a")["Body"].read() == b"a"
    assert c.list_objects_v2(Bucket=run["staging"], Prefix=p)["KeyCount"] >= 2
    up = c.create_multipart_upload(Bucket=run["staging"], Key=p + "multi")  # the FileSink's way
    c.abort_multipart_upload(Bucket=run["staging"], Key=p + "multi", UploadId=up["UploadId"])
    denied(lambda: c.put_object(Bucket=run["worm"], Key=p + "a", Body=b"a"))
    denied(lambda: c.get_object(Bucket=run["worm"], Key=p + "sealed"))
    denied(lambda: c.list_objects_v2(Bucket=run["worm"], Prefix=p))


def test_sealer_reads_and_deletes_staging_writes_and_locks_worm(cfg, run):
    c, p = s3.client(cfg, "sealer"), run["prefix"]
    assert c.get_object(Bucket=run["staging"], Key=p + "staged")["Body"].read() == b"staged"
    s3.client(cfg, "archive").put_object(Bucket=run["staging"], Key=p + "to-delete", Body=b"x")
    c.delete_object(Bucket=run["staging"], Key=p + "to-delete")
    head = c.head_object(Bucket=run["worm"], Key=p + "sealed")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    c.put_object_legal_hold(Bucket=run["worm"], Key=p + "sealed", VersionId=run["version"],
                            LegalHold={"Status": "OFF"})
    denied(lambda: c.create_bucket(Bucket=f"it-sealer-{uuid.uuid4().hex[:8]}"))


def test_sealed_objects_are_encrypted_at_rest(cfg, run):
    assert cfg.get("archive.sse") == "AES256"
    assert run["put"]["ServerSideEncryption"] == "AES256"
    head = s3.client(cfg, "auditor").head_object(Bucket=run["worm"], Key=run["prefix"] + "sealed")
    assert head["ServerSideEncryption"] == "AES256"


@pytest.mark.parametrize("role", ["sealer", "admin", "witness", "auditor", "archive", "trino"])
def test_no_role_deletes_or_hides_a_sealed_object(cfg, run, role):
    c, key = s3.client(cfg, role), run["prefix"] + "sealed"
    denied(lambda: c.delete_object(Bucket=run["worm"], Key=key, VersionId=run["version"]))
    # no version id: a delete marker would hide the object; Object Lock does not refuse one
    denied(lambda: c.delete_object(Bucket=run["worm"], Key=key))
    # the batch delete answers 200 with a per-key refusal
    errors = c.delete_objects(Bucket=run["worm"], Delete={"Objects": [{"Key": key}]}).get("Errors", [])
    assert [(e["Key"], e["Code"]) for e in errors] == [(key, "AccessDenied")]
    assert s3.client(cfg, "auditor").get_object(Bucket=run["worm"], Key=key)["Body"].read() == b"sealed"


def test_object_lock_refuses_even_where_a_policy_would_allow(cfg, run):
    """Past the policy (a bucket of the test's own, admin's Admin action, no deny there), Object
    Lock COMPLIANCE alone refuses the delete of a locked version and a shortening."""
    admin, bucket = s3.client(cfg, "admin"), f"it-lock-{uuid.uuid4().hex[:8]}"
    admin.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    put = admin.put_object(Bucket=bucket, Key="k", Body=b"x", ObjectLockMode="COMPLIANCE",
                           ObjectLockRetainUntilDate=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20))
    denied(lambda: admin.delete_object(Bucket=bucket, Key="k", VersionId=put["VersionId"]))
    denied(lambda: admin.put_object_retention(
        Bucket=bucket, Key="k", VersionId=put["VersionId"],
        Retention={"Mode": "COMPLIANCE",
                   "RetainUntilDate": dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)}))


@pytest.mark.parametrize("role", ["auditor", "trino"])
def test_readers_read_worm_only(cfg, run, role):
    c, p = s3.client(cfg, role), run["prefix"]
    assert c.get_object(Bucket=run["worm"], Key=p + "sealed")["Body"].read() == b"sealed"
    assert c.list_objects_v2(Bucket=run["worm"], Prefix=p)["KeyCount"] == 1
    assert c.get_object_retention(Bucket=run["worm"], Key=p + "sealed")["Retention"]["Mode"] == "COMPLIANCE"
    denied(lambda: c.put_object(Bucket=run["worm"], Key=p + "x", Body=b"x"))
    denied(lambda: c.put_object_legal_hold(Bucket=run["worm"], Key=p + "sealed", VersionId=run["version"],
                                           LegalHold={"Status": "ON"}))
    denied(lambda: c.get_object(Bucket=run["staging"], Key=p + "staged"))
    denied(lambda: c.list_objects_v2(Bucket=run["staging"], Prefix=p))
    assert [b["Name"] for b in c.list_buckets()["Buckets"]] == [run["worm"]]


def test_auditor_reads_worm_through_pyarrow(cfg, run):
    fs = s3.arrow_fs(cfg, "auditor")
    with fs.open_input_stream(f"{run['worm']}/{run['prefix']}sealed") as f:
        assert f.read() == b"sealed"
    with pytest.raises(OSError, match="AccessDenied|ACCESS_DENIED"):
        fs.open_input_stream(f"{run['staging']}/{run['prefix']}staged").read()


def test_witness_reads_worm_and_writes_its_own_bucket(cfg, run):
    c, p, own = s3.client(cfg, "witness"), run["prefix"], cfg.get("witness.bucket")
    assert c.get_object(Bucket=run["worm"], Key=p + "sealed")["Body"].read() == b"sealed"
    if not s3.bucket_exists(c, own):
        c.create_bucket(Bucket=own)
    c.put_object(Bucket=own, Key=p + "cosig", Body=b"c")
    assert c.get_object(Bucket=own, Key=p + "cosig")["Body"].read() == b"c"
    denied(lambda: c.put_object(Bucket=run["worm"], Key=p + "w", Body=b"w"))
    denied(lambda: c.get_object(Bucket=run["staging"], Key=p + "staged"))
    denied(lambda: c.create_bucket(Bucket=f"it-witness-{uuid.uuid4().hex[:8]}"))


def test_only_admin_makes_buckets_and_changes_their_lock(cfg, run):
    for role in ("archive", "sealer", "auditor", "trino"):
        c = s3.client(cfg, role)
        denied(lambda c=c, role=role: c.create_bucket(Bucket=f"it-{role}-{uuid.uuid4().hex[:8]}"))
        denied(lambda c=c: c.put_bucket_versioning(
            Bucket=run["worm"], VersioningConfiguration={"Status": "Suspended"}))
    admin = s3.client(cfg, "admin")
    assert admin.get_object_lock_configuration(Bucket=run["worm"])["ObjectLockConfiguration"][
        "ObjectLockEnabled"] == "Enabled"


def _raw(cfg, signed: bool = True, **kw):
    conf = BotoConfig(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                      **({} if signed else {"signature_version": UNSIGNED}))
    return boto3.client("s3", endpoint_url=cfg.get("s3.endpoint"), region_name=cfg.get("s3.region"),
                        verify=str(tls.ca_file(cfg)), config=conf, **kw)


def test_a_role_without_s3_grants_has_no_identity(cfg, run):
    # router has no [roles.router.s3]: its keys are unknown to S3
    denied(lambda: s3.client(cfg, "router").list_objects_v2(Bucket=run["worm"]), "InvalidAccessKeyId")


def test_anonymous_and_wrong_keys_are_refused(cfg, run):
    anon = _raw(cfg, signed=False)
    denied(lambda: anon.get_object(Bucket=run["worm"], Key=run["prefix"] + "sealed"))
    denied(lambda: anon.list_objects_v2(Bucket=run["worm"]))
    user, _ = s3.keys(cfg, "auditor")
    wrong = _raw(cfg, aws_access_key_id=user, aws_secret_access_key="not-the-secret")
    denied(lambda: wrong.list_objects_v2(Bucket=run["worm"]), "SignatureDoesNotMatch")
    unknown = _raw(cfg, aws_access_key_id="nobody", aws_secret_access_key="x" * 20)
    denied(lambda: unknown.list_objects_v2(Bucket=run["worm"]), "InvalidAccessKeyId")


def test_the_endpoint_speaks_https_only(cfg, run):
    endpoint = cfg.get("s3.endpoint")
    assert endpoint.startswith("https://")
    # Go's TLS server answers a plaintext request with a 400 and serves nothing
    plain = requests.get(endpoint.replace("https://", "http://") + "/" + run["worm"], timeout=5)
    assert plain.status_code == 400 and "HTTP request to an HTTPS server" in plain.text, plain.text
    # and a client that does not trust the stack's CA does not connect
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(endpoint + "/", timeout=5)
