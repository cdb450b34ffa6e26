"""Thin layer over boto3: a client from the config and the two buckets the pipeline needs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from auditflow.config import Config, ConfigError, retention

DAY = dt.timedelta(days=1)
YEAR = dt.timedelta(days=365)


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
