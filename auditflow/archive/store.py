"""Object stores the sealer and verifier work on: an S3 bucket (with a key prefix) or a local
directory. A local directory is what tests tamper with and what an auditor gets from
`aws s3 sync`; the verifier reads both the same way."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError


@dataclass(frozen=True)
class Obj:
    key: str  # relative to the store's prefix
    size: int
    modified: dt.datetime  # UTC; for staging, when Flink committed the file


class Store(Protocol):
    url: str

    def list(self, prefix: str = "") -> list[Obj]: ...
    def get(self, key: str, version_id: str | None = None) -> bytes: ...
    def version_id(self, key: str) -> str | None: ...
    def put(self, key: str, data: bytes, retain_until: dt.datetime | None = None,
            metadata: dict[str, str] | None = None) -> str | None: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...


class LocalStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.url = str(self.root)

    def list(self, prefix: str = "") -> list[Obj]:
        out = []
        base = self.root
        if not base.exists():
            return out
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                p = Path(dirpath) / name
                key = p.relative_to(base).as_posix()
                if key.startswith(prefix):
                    st = p.stat()
                    out.append(Obj(key, st.st_size, dt.datetime.fromtimestamp(st.st_mtime, dt.UTC)))
        return sorted(out, key=lambda o: o.key)

    def get(self, key: str, version_id: str | None = None) -> bytes:
        if version_id is not None:
            raise ValueError(f"{self.url} is a directory: it has no object versions")
        return (self.root / key).read_bytes()

    def version_id(self, key: str) -> str | None:
        return None

    def put(self, key: str, data: bytes, retain_until: dt.datetime | None = None,
            metadata: dict[str, str] | None = None) -> str | None:
        p = self.root / key
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(p)
        return None

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return (self.root / key).exists()


class S3Store:
    """One bucket and prefix. Uploads carry Content-MD5 and a SHA-256 checksum (Object Lock
    buckets refuse uploads without one on AWS), COMPLIANCE retention and SSE when asked."""

    def __init__(self, client: Any, bucket: str, prefix: str = "", mode: str = "COMPLIANCE",
                 sse: str = ""):
        self.s3, self.bucket, self.prefix, self.mode, self.sse = client, bucket, prefix, mode, sse
        self.url = f"s3://{bucket}/{prefix}"

    def list(self, prefix: str = "") -> list[Obj]:
        out = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix):
            for o in page.get("Contents", []):
                out.append(Obj(o["Key"][len(self.prefix):], o["Size"], o["LastModified"]))
        return sorted(out, key=lambda o: o.key)

    def get(self, key: str, version_id: str | None = None) -> bytes:
        extra = {"VersionId": version_id} if version_id else {}
        return self.s3.get_object(Bucket=self.bucket, Key=self.prefix + key, **extra)["Body"].read()

    def version_id(self, key: str) -> str | None:
        """The current version's id (None in an unversioned bucket)."""
        vid = self.s3.head_object(Bucket=self.bucket, Key=self.prefix + key).get("VersionId")
        return None if vid in (None, "null") else vid

    def put(self, key: str, data: bytes, retain_until: dt.datetime | None = None,
            metadata: dict[str, str] | None = None) -> str | None:
        args: dict[str, Any] = {
            "Bucket": self.bucket, "Key": self.prefix + key, "Body": data,
            "ContentMD5": base64.b64encode(hashlib.md5(data).digest()).decode(),
            "ChecksumSHA256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
            "Metadata": metadata or {},
        }
        if retain_until is not None:
            args.update(ObjectLockMode=self.mode, ObjectLockRetainUntilDate=retain_until)
        if self.sse:
            args["ServerSideEncryption"] = self.sse
        return self.s3.put_object(**args).get("VersionId")

    def delete(self, key: str) -> None:
        """Delete every version (staging is versioned; a bare delete would only hide it)."""
        full = self.prefix + key
        versions = self.s3.list_object_versions(Bucket=self.bucket, Prefix=full)
        ids = [v["VersionId"] for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])
               if v["Key"] == full and v.get("VersionId")]
        if not ids and self.exists(key):  # an unversioned bucket
            ids = ["null"]
        for vid in ids:
            self.s3.delete_object(Bucket=self.bucket, Key=full, VersionId=vid)

    def legal_hold(self, key: str, version_id: str | None = None) -> bool:
        """Whether this version (default: the current one) is under an Object Lock legal hold."""
        extra = {"VersionId": version_id} if version_id else {}
        head = self.s3.head_object(Bucket=self.bucket, Key=self.prefix + key, **extra)
        return head.get("ObjectLockLegalHoldStatus") == "ON"

    def set_legal_hold(self, key: str, on: bool, version_id: str | None = None) -> str | None:
        """Put (on) or release a legal hold on one version (default: the current one); a held
        version cannot be deleted, whatever its retention, until the hold is released. Returns
        the version id it acted on."""
        version_id = version_id or self.version_id(key)
        extra = {"VersionId": version_id} if version_id else {}
        self.s3.put_object_legal_hold(Bucket=self.bucket, Key=self.prefix + key,
                                      LegalHold={"Status": "ON" if on else "OFF"}, **extra)
        return version_id

    def exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=self.prefix + key)
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

