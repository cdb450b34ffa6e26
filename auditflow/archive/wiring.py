"""Sealer, verifier and stores built from configuration (the thin layer the commands use)."""

from __future__ import annotations

import os
from collections.abc import Callable

from confluent_kafka.schema_registry.error import SchemaRegistryError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditflow import registry, s3
from auditflow.archive import digest as dg
from auditflow.archive.compact import Compactor
from auditflow.archive.seal import AvroDecoder, Sealer
from auditflow.archive.store import LocalStore, S3Store, Store
from auditflow.config import Config, ConfigError, retention

WORM_HELP = ("Archive location: a prefix in s3.worm_bucket, s3://bucket/prefix/, or a local directory "
             "(e.g. an auditor's copy); default archive.worm_prefix.")


def staging_store(cfg: Config, prefix: str | None = None, role: str = "sealer") -> S3Store:
    arch = cfg.section("archive")
    return S3Store(s3.client(cfg, role), cfg.get("s3.staging_bucket"),
                   _slash(prefix or arch["staging_prefix"]))


def worm_store(cfg: Config, location: str | None = None, role: str = "auditor") -> Store:
    """The sealed archive: [archive] worm_prefix in s3.worm_bucket, or `location` (a prefix in
    that bucket, an s3://bucket/prefix/ URL or a local directory, e.g. an auditor's copy), read
    (or, by the sealer, written) as `role`."""
    arch, conf = cfg.section("archive"), cfg.section("s3")
    if location and location.startswith("s3://"):
        bucket, _, prefix = location[5:].partition("/")
        return S3Store(s3.client(cfg, role), bucket, _slash(prefix), conf["retention_mode"], arch["sse"])
    if location and location.startswith(("/", ".", "~")):
        return LocalStore(os.path.expanduser(location))
    return S3Store(s3.client(cfg, role), conf["worm_bucket"], _slash(location or arch["worm_prefix"]),
                   conf["retention_mode"], arch["sse"])


def _slash(prefix: str) -> str:
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def decoder(cfg: Config) -> AvroDecoder:
    client = registry.client(cfg, "archive")

    def fetch(sid: int) -> str:
        try:
            return client.get_schema(sid).schema_str
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:  # an id no schema has: that record is undecodable
                raise KeyError(sid) from exc
            raise

    return AvroDecoder(fetch)


def signing(cfg: Config, worm: Store) -> tuple[Ed25519PrivateKey, int]:
    """The sealing key and the retention (seconds) of what is written to `worm`; refuses
    (ConfigError) a lock shorter than the worm bucket's default retention."""
    keep = retention(cfg)
    if isinstance(worm, S3Store):
        s3.check_lock(cfg, keep, s3.default_retention(worm.s3, worm.bucket), worm.bucket)
    try:
        key = dg.load_private(cfg.section("archive"), cfg.profile)
    except (OSError, ValueError, TypeError) as exc:  # missing, unreadable, encrypted, not Ed25519
        raise ConfigError(str(exc)) from exc
    return key, int(keep.total_seconds())


def sealer(cfg: Config, staging: Store, worm: Store, say: Callable[[str], None]) -> Sealer:
    """The configured sealer (see signing)."""
    arch = cfg.section("archive")
    key, retain_s = signing(cfg, worm)
    return Sealer(staging, worm, key, decoder(cfg), period_s=int(arch["period_s"]),
                  grace_s=int(arch["grace_s"]), retention_s=retain_s, say=say)


def compactor(cfg: Config, worm: Store, say: Callable[[str], None], settle_s: int | None = None) -> Compactor:
    """The configured compactor: the sealer's key and retention; a day closes settle_s (default
    two sealing periods plus the grace) after its end."""
    arch = cfg.section("archive")
    key, retain_s = signing(cfg, worm)
    if settle_s is None:
        settle_s = 2 * int(arch["period_s"]) + int(arch["grace_s"])
    return Compactor(worm, key, retention_s=retain_s, settle_s=settle_s, say=say)



def witness_store(cfg: Config, location: str | None = None) -> Store:
    """The witness's own storage: witness.bucket/witness.prefix (the bucket is created, versioned,
    on first use), an s3://bucket/prefix/ URL, or a local directory."""
    if location and location.startswith(("/", ".", "~")):
        return LocalStore(os.path.expanduser(location))
    conf = cfg.section("witness")
    bucket, prefix = conf["bucket"], conf["prefix"]
    if location:
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
    client = s3.client(cfg, "witness")
    if not s3.bucket_exists(client, bucket):
        client.create_bucket(Bucket=bucket)
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return S3Store(client, bucket, _slash(prefix))


def witness_key(cfg: Config) -> Ed25519PrivateKey:
    """The witness's own Ed25519 key (witness.key_env, else witness.key_file, mode 0600); a
    missing file is generated only in the local profile with witness.generate_key (pods set it
    false: their profile is local too)."""
    conf = cfg.section("witness")
    return dg.load_private({"signing_key_env": conf["key_env"], "signing_key_file": conf["key_file"],
                            "generate_key": cfg.profile == "local" and bool(conf.get("generate_key"))})
