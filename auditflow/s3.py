"""Thin layer over boto3: a client from the config and the two buckets the pipeline needs."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from auditflow.config import Config


def client(cfg: Config, timeout_s: float = 10) -> Any:
    s3 = cfg.section("s3")
    return boto3.client(
        "s3",
        endpoint_url=s3["endpoint"] or None,
        region_name=s3["region"],
        aws_access_key_id=s3["access_key"] or None,
        aws_secret_access_key=s3["secret_key"] or None,
        config=BotoConfig(
            s3={"addressing_style": "path"},
            connect_timeout=timeout_s, read_timeout=timeout_s * 3,
            retries={"max_attempts": 3, "mode": "standard"},
            # Object Lock uploads must carry a checksum (AWS refuses them otherwise)
            request_checksum_calculation="when_supported",
        ),
    )


def reachable(cfg: Config) -> bool:
    try:
        client(cfg, timeout_s=2).list_buckets()
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
    s3 = client(cfg)
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
    rule = {"DefaultRetention": {"Mode": conf["retention_mode"], "Days": int(conf["retention_days"])}}
    if lock.get("Rule") != rule:
        s3.put_object_lock_configuration(
            Bucket=worm,
            ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule},
        )
        changes.append(f"{worm} default retention {conf['retention_mode']} {conf['retention_days']}d")
    return changes
