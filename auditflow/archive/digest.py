"""Signed period digests (schemas/digest.schema.json, documented in schemas/CHAIN.md section 8).

A digest is a JSON object; its signature is Ed25519 over the RFC 8785 canonical bytes of the
object without `signature`, so any JCS library and any Ed25519 library can check it. Digests
form a chain of their own: each records the SHA-256 of the previous digest's stored bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

FORMAT = "auditflow-digest/1"
GENESIS = "0" * 64


def signed_bytes(digest: dict) -> bytes:
    return rfc8785.dumps({k: v for k, v in digest.items() if k != "signature"})


def encode(digest: dict) -> bytes:
    """The stored form: pretty JSON (readable by people); signatures do not depend on it."""
    return (json.dumps(digest, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return sha256(public_raw(key))[:16]


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public(data: bytes | str) -> Ed25519PublicKey:
    """A PEM public key, or the base64/hex of the 32 raw bytes."""
    if isinstance(data, str):
        data = data.encode()
    text = data.strip()
    if text.startswith(b"-----"):
        key = serialization.load_pem_public_key(text)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the public key is not an Ed25519 key")
        return key
    raw = bytes.fromhex(text.decode()) if len(text) == 64 else base64.b64decode(text)
    return Ed25519PublicKey.from_public_bytes(raw)


def sign(digest: dict, key: Ed25519PrivateKey) -> dict:
    out = dict(digest)
    out["key_id"] = key_id(key.public_key())
    out.pop("signature", None)
    out["signature"] = base64.b64encode(key.sign(signed_bytes(out))).decode()
    return out


def check_signature(digest: dict, key: Ed25519PublicKey) -> bool:
    try:
        key.verify(base64.b64decode(digest.get("signature", "")), signed_bytes(digest))
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def key_file(cfg_archive: dict[str, Any]) -> Path:
    return Path(os.path.expanduser(str(cfg_archive["signing_key_file"])))


def configured_private(cfg_archive: dict[str, Any]) -> Ed25519PrivateKey | None:
    """The configured signing key if it exists (environment variable, else file); never made here."""
    path = key_file(cfg_archive)
    env = os.environ.get(cfg_archive.get("signing_key_env") or "", "")
    if env:
        text = env.strip().encode()
        if text.startswith(b"-----"):
            key = serialization.load_pem_private_key(text, password=None)
        else:
            key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(text))
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"${cfg_archive['signing_key_env']} is not an Ed25519 private key")
        return key
    if not path.exists():
        return None
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def configured_public(cfg_archive: dict[str, Any]) -> Ed25519PublicKey | None:
    """The public half of the configured signing key, when one exists (never generated here)."""
    key = configured_private(cfg_archive)
    return key.public_key() if key else None


def load_private(cfg_archive: dict[str, Any], profile: str | None = None) -> Ed25519PrivateKey:
    """The signing key from the environment variable named by `signing_key_env` (PEM, or the
    base64 of 32 raw bytes), else from `signing_key_file`. A missing file is created only in
    the `local` profile with `generate_key` true: anywhere else a surprise key would sign
    history that no auditor pinned."""
    key, path = configured_private(cfg_archive), key_file(cfg_archive)
    if key is not None:
        return key
    if profile != "local" or not cfg_archive.get("generate_key"):
        why = (f"profile {profile!r} never generates one (archive.generate_key is for the local profile)"
               if profile != "local" else "archive.generate_key is false")
        raise FileNotFoundError(
            f"no signing key: {path} does not exist and ${cfg_archive.get('signing_key_env')} is "
            f"empty; {why}. Create one with `openssl genpkey -algorithm ed25519 -out FILE`.")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return key
