"""Thin layer over boto3: a client from the config and the two buckets the pipeline needs."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from auditflow import credentials
from auditflow.config import Config, ConfigError, retention

DAY = dt.timedelta(days=1)
YEAR = dt.timedelta(days=365)


def client(cfg: Config, role: str, timeout_s: float = 10) -> Any:
    """A client acting as `role` (auditflow/roles.toml), trusting tls.ca_file."""
    from auditflow.stack import tls

    s3 = cfg.section("s3")
    user, secret = keys(cfg, role)
    endpoint = s3["endpoint"] or None
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=s3["region"],
        aws_access_key_id=user or None,
        aws_secret_access_key=secret or None,
        verify=tls.ca_file(cfg) if endpoint and endpoint.startswith("https") else None,
        config=BotoConfig(
            s3={"addressing_style": "path"},
            connect_timeout=timeout_s, read_timeout=timeout_s * 3,
            retries={"max_attempts": 3, "mode": "standard"},
            # Object Lock uploads must carry a checksum (AWS refuses them otherwise)
            request_checksum_calculation="when_supported",
        ),
    )


def keys(cfg: Config, role: str) -> tuple[str | None, str | None]:
    """The role's S3 access key and secret (credentials: its [s3] table, else principal and
    secret); where none is configured for it (a pod with a workload identity), (None, None):
    boto3's own credential chain."""
    try:
        return credentials.identity(cfg, role).at("s3")
    except ConfigError as exc:
        if str(exc).startswith("no credentials"):
            return None, None
        raise


def arrow_fs(cfg: Config, role: str) -> Any:
    """pyarrow's S3FileSystem as `role`, trusting tls.ca_file (DuckDB reads through it)."""
    import pyarrow.fs as pafs

    from auditflow.stack import tls

    conf = cfg.section("s3")
    user, secret = keys(cfg, role)
    https = conf["endpoint"].startswith("https") or not conf["endpoint"]
    opts: dict[str, Any] = {"endpoint_override": conf["endpoint"] or None, "access_key": user,
                            "secret_key": secret, "region": conf["region"],
                            "scheme": "https" if https else "http"}
    if not (conf["endpoint"] and https):
        return pafs.S3FileSystem(**opts)
    try:
        return pafs.S3FileSystem(**opts, tls_ca_file_path=str(tls.ca_file(cfg)))
    except TypeError:
        # pyarrow before 19 has no tls_ca_file_path (it fixes its CA at import, from
        # SSL_CERT_FILE): read through boto3, which trusts tls.ca_file, instead
        return pafs.PyFileSystem(_BotoHandler(client(cfg, role)))


def _boto_handler() -> type:
    import io

    import pyarrow as pa
    import pyarrow.fs as pafs

    class Handler(pafs.FileSystemHandler):
        """Read-only pyarrow filesystem over a boto3 client (paths are bucket/key)."""

        def __init__(self, s3: Any) -> None:
            self.s3 = s3

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Handler) and other.s3 is self.s3

        def __ne__(self, other: object) -> bool:
            return not self == other

        def get_type_name(self) -> str:
            return "auditflow-boto3"

        def normalize_path(self, path: str) -> str:
            return path.strip("/")

        def _info(self, path: str) -> Any:
            bucket, _, key = path.strip("/").partition("/")
            if not key:
                return pafs.FileInfo(path, pafs.FileType.Directory)
            try:
                head = self.s3.head_object(Bucket=bucket, Key=key)
                return pafs.FileInfo(path, pafs.FileType.File, size=head["ContentLength"],
                                     mtime=head["LastModified"])
            except ClientError as exc:
                if exc.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
                    raise
            listed = self.s3.list_objects_v2(Bucket=bucket, Prefix=key.rstrip("/") + "/", MaxKeys=1)
            kind = pafs.FileType.Directory if listed.get("KeyCount") else pafs.FileType.NotFound
            return pafs.FileInfo(path, kind)

        def get_file_info(self, paths: list[str]) -> list[Any]:
            return [self._info(p) for p in paths]

        def get_file_info_selector(self, selector: Any) -> list[Any]:
            bucket, _, key = selector.base_dir.strip("/").partition("/")
            prefix = key.rstrip("/") + "/" if key else ""
            out, dirs = [], set()
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for page in pages:
                for o in page.get("Contents", []):
                    rest = o["Key"][len(prefix):]
                    parts = rest.split("/")
                    if not selector.recursive and len(parts) > 1:
                        dirs.add(parts[0])
                        continue
                    for i in range(1, len(parts)):
                        dirs.add("/".join(parts[:i]))
                    out.append(pafs.FileInfo(f"{bucket}/{o['Key']}", pafs.FileType.File, size=o["Size"],
                                             mtime=o["LastModified"]))
            if not out and not dirs and not selector.allow_not_found and prefix:
                raise FileNotFoundError(selector.base_dir)
            return out + [pafs.FileInfo(f"{bucket}/{prefix}{d}", pafs.FileType.Directory)
                          for d in sorted(dirs)]

        def open_input_stream(self, path: str) -> Any:
            bucket, _, key = path.strip("/").partition("/")
            try:
                body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except ClientError as exc:
                raise OSError(f"{path}: {exc.response['Error']['Code']}") from exc
            return pa.PythonFile(io.BytesIO(body), mode="r")

        open_input_file = open_input_stream

        def _read_only(self, *args: Any, **kwargs: Any) -> Any:
            raise OSError("read-only filesystem")

        create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = _read_only
        delete_file = move = copy_file = open_output_stream = open_append_stream = _read_only

    return Handler


def _BotoHandler(s3: Any) -> Any:  # noqa: N802 (a class made on first use: pyarrow is imported lazily)
    return _boto_handler()(s3)


# what each grant in a role's [roles.<role>.s3] table allows (IAM action names, as SeaweedFS
# resolves every request to one); object-level and bucket-level actions apart for the ARNs
GRANTS: dict[str, tuple[list[str], list[str]]] = {
    "read": (["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectRetention", "s3:GetObjectLegalHold",
              "s3:GetObjectAttributes", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"],
             ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation", "s3:GetBucketVersioning",
              "s3:GetBucketObjectLockConfiguration"]),
    "write": (["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
              ["s3:ListBucketMultipartUploads"]),
    "delete": (["s3:DeleteObject", "s3:DeleteObjectVersion"], []),
    "lock": (["s3:PutObjectRetention", "s3:PutObjectLegalHold"], []),
    "create": ([], ["s3:CreateBucket", "s3:PutBucketVersioning"]),
}
NEVER_IN_WORM = ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention",
                 "s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning", "s3:DeleteBucket",
                 "s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutLifecycleConfiguration"]


def bucket_names(cfg: Config) -> dict[str, str]:
    return {"staging": cfg.get("s3.staging_bucket"), "worm": cfg.get("s3.worm_bucket"),
            "witness": cfg.get("witness.bucket")}


def policy(cfg: Config, grants: dict[str, Any]) -> dict[str, Any]:
    """One role's IAM policy from its [roles.<role>.s3] grants: allow what is listed, and deny
    in worm every delete and every change of its lock or versioning. Admin (`stack up`) sets
    that lock and versioning, and may delete a version Object Lock no longer protects (past its
    retention, no legal hold: what a purge of expired records does), but writes no delete marker
    either: DELETE without a version id hides an object, and Object Lock does not refuse it.
    Deny wins over any allow."""
    names = bucket_names(cfg)
    statements: list[dict[str, Any]] = []
    if grants.get("admin"):
        statements.append({"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::*"]})
    for grant, (obj_actions, bucket_actions) in GRANTS.items():
        # "worm" is the whole bucket, "worm/<key pattern>" only matching objects
        entries = [(names[b.partition("/")[0]], b.partition("/")[2]) for b in grants.get(grant, [])]
        buckets = [b for b, keys in entries if not keys]
        if entries and obj_actions:
            statements.append({"Effect": "Allow", "Action": obj_actions,
                               "Resource": [f"arn:aws:s3:::{b}/{keys or '*'}" for b, keys in entries]})
        if buckets and bucket_actions:
            statements.append({"Effect": "Allow", "Action": bucket_actions,
                               "Resource": [f"arn:aws:s3:::{b}" for b in buckets]})
    worm = names["worm"]
    never = ["s3:DeleteObject", "s3:BypassGovernanceRetention"] if grants.get("admin") else NEVER_IN_WORM
    statements.append({"Effect": "Deny", "Action": never,
                       "Resource": [f"arn:aws:s3:::{worm}", f"arn:aws:s3:::{worm}/*"]})
    return {"Version": "2012-10-17", "Statement": statements}


def identities_config(cfg: Config) -> dict[str, Any]:
    """SeaweedFS's -s3.config: one identity per role that has a [roles.<role>.s3] table, with
    that role's keys and an attached policy, no legacy actions: those cannot tell PutObject from
    DeleteObject, and SeaweedFS's built-in Admin action skips the policy in a batch
    DeleteObjects, so admin gets "s3:*" in a policy instead. A role without the table has no
    identity: S3 refuses its keys (InvalidAccessKeyId)."""
    identities, policies = [], []
    for name, spec in credentials.roles().items():
        grants = spec.get("s3")
        if grants is None or spec.get("per_tenant"):
            continue
        user, secret = credentials.identity(cfg, name).at("s3")
        ident: dict[str, Any] = {"name": credentials.principal(name),
                                 "credentials": [{"accessKey": user, "secretKey": secret}]}
        name = f"auditflow-{ident['name']}"
        policies.append({"name": name, "content": json.dumps(policy(cfg, grants))})
        ident["policyNames"] = [name]
        identities.append(ident)
    return {"identities": identities, "policies": policies}


def reachable(cfg: Config) -> bool:
    try:
        client(cfg, "admin", timeout_s=2).list_buckets()
        return True
    except (BotoCoreError, ClientError):
        return False


def _exists(s3: Any, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise


bucket_exists = _exists  # public: the witness creates its own bucket on first use


def ensure_buckets(cfg: Config) -> list[str]:
    """`staging` versioned; `worm` with Object Lock and a default retention. Idempotent."""
    conf = cfg.section("s3")
    s3 = client(cfg, "admin")
    changes = []
    staging, worm = conf["staging_bucket"], conf["worm_bucket"]
    if not _exists(s3, staging):
        s3.create_bucket(Bucket=staging)
        changes.append(f"created {staging}")
    s3.put_bucket_versioning(Bucket=staging, VersioningConfiguration={"Status": "Enabled"})
    if not _exists(s3, worm):
        s3.create_bucket(Bucket=worm, ObjectLockEnabledForBucket=True)
        changes.append(f"created {worm} (Object Lock)")
    lock = s3.get_object_lock_configuration(Bucket=worm)["ObjectLockConfiguration"]
    if lock.get("ObjectLockEnabled") != "Enabled":
        raise RuntimeError(
            f"bucket {worm} exists without Object Lock; it cannot be turned on later here. "
            f"Use another worm_bucket name or delete {worm}."
        )
    keep = retention(cfg)
    rule = {"DefaultRetention": {"Mode": conf["retention_mode"], **default_rule(keep)}}
    if lock.get("Rule") != rule:
        # neither shorten the bucket's policy below it nor round a sub-day setting up past it
        check_lock(cfg, keep, max(default_retention(s3, worm) or DAY, rule_length(rule)), worm)
        s3.put_object_lock_configuration(
            Bucket=worm,
            ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule},
        )
        changes.append(f"{worm} default retention {conf['retention_mode']} {describe(rule)}")
    return changes


def default_rule(keep: dt.timedelta) -> dict[str, int]:
    """archive.retention as a bucket default ({"Years": n} or {"Days": n}): whole years or days
    only, so a shorter setting (a test's minutes) becomes one day."""
    if keep >= YEAR and keep % YEAR == dt.timedelta(0):
        return {"Years": keep // YEAR}
    return {"Days": max(1, -(-keep // DAY))}


def describe(rule: dict) -> str:
    d = rule.get("DefaultRetention", rule)
    return f"{d['Years']}y" if "Years" in d else f"{d.get('Days')}d"


def default_retention(s3: Any, bucket: str) -> dt.timedelta | None:
    """The bucket's default Object Lock retention (None: no default rule or no Object Lock)."""
    try:
        lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("ObjectLockConfigurationNotFoundError", "404", "NoSuchBucket"):
            return None
        raise
    return rule_length(lock.get("Rule") or {})


def rule_length(rule: dict) -> dt.timedelta | None:
    d = rule.get("DefaultRetention") or {}
    if "Years" in d:
        return int(d["Years"]) * YEAR
    return int(d["Days"]) * DAY if "Days" in d else None


def check_lock(cfg: Config, lock: dt.timedelta, bucket_default: dt.timedelta | None, bucket: str) -> None:
    """Refuse a per-object lock shorter than the bucket's default retention (the policy): it
    would leave sealed objects deletable before the policy says. The local profile may allow it
    (archive.allow_short_lock) for tests and the demo, which lock objects for minutes."""
    if bucket_default is None or lock >= bucket_default or cfg.get("archive.allow_short_lock"):
        return
    raise ConfigError(f"archive.retention ({_human(lock)}) is shorter than the default retention of "
                      f"bucket {bucket} ({_human(bucket_default)}): sealed objects would be deletable "
                      "before the bucket's policy allows. Set archive.retention to at least that.")


def _human(t: dt.timedelta) -> str:
    s = int(t.total_seconds())
    for unit, n in (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if s >= n and s % n == 0:
            return f"{s // n}{unit}"
    return f"{s}s"
