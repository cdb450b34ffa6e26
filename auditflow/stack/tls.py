"""The local stack's certificate authority: one CA, one server certificate for every service on
127.0.0.1/localhost, client certificates for mutual TLS, and the Java key and trust stores.

Made by `auditflow stack up` (the `cryptography` package; Java stores by the JDK's keytool) under
``<stack.data_dir>/tls``. Private keys and stores are mode 0600; the CA certificate is what every
client trusts (``tls.ca_file`` in the config points at it). A production deployment brings its
own certificates and sets the same config keys; nothing here runs outside the local stack.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 825  # the longest validity clients accept for a server certificate
HOSTS = ("127.0.0.1", "localhost")


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read (created 0600, never world-readable in between)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def generated_secret(path: Path, nbytes: int = 32) -> str:
    """A random secret kept in a 0600 file: made on the first call, read back on every later one."""
    if not path.exists():
        write_private(path, secrets.token_urlsafe(nbytes).encode())
    return path.read_text().strip()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "auditflow local stack"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(subject: str, key: ec.EllipticCurvePrivateKey, ca_key: ec.EllipticCurvePrivateKey,
           ca_cert: x509.Certificate | None, *, server: bool = False, client: bool = False,
           ca: bool = False) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer = ca_cert.subject if ca_cert else _name(subject)
    b = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(minutes=5))
         .not_valid_after(now + dt.timedelta(days=3650 if ca else VALID_DAYS))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if ca:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                          content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False,
                                          encipher_only=False, decipher_only=False), critical=True)
    else:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True,
                                          content_commitment=False, data_encipherment=False,
                                          key_agreement=True, key_cert_sign=False, crl_sign=False,
                                          encipher_only=False, decipher_only=False), critical=True)
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + \
                 ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
        b = b.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        assert ca_cert is not None
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),
                            critical=False)
    if server:
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
    return b.sign(ca_key, hashes.SHA256())


@dataclass(frozen=True)
class Pki:
    """The files of the local CA under ``dir``."""

    dir: Path

    @property
    def ca_cert(self) -> Path:
        """PEM: the certificate every client trusts."""
        return self.dir / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca-key.pem"

    @property
    def server_cert(self) -> Path:
        """PEM: the services' certificate (SAN 127.0.0.1, localhost), followed by the CA's."""
        return self.dir / "server.pem"

    @property
    def server_key(self) -> Path:
        """PEM, PKCS#8, unencrypted, 0600."""
        return self.dir / "server-key.pem"

    def server_bundle(self) -> Path:
        """Key and certificate chain in one PEM file (Trino's PEM keystore, SeaweedFS)."""
        path = self.dir / "server-bundle.pem"
        if not path.exists():
            write_private(path, self.server_key.read_bytes() + self.server_cert.read_bytes())
        return path

    def client(self, name: str) -> tuple[Path, Path]:
        """A client certificate (CN=name) and its key for mutual TLS: (cert PEM, key PEM)."""
        cert, key = self.dir / f"client-{name}.pem", self.dir / f"client-{name}-key.pem"
        if not cert.exists() or not key.exists():
            ca_key = serialization.load_pem_private_key(self.ca_key.read_bytes(), None)
            ca_cert = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
            k = ec.generate_private_key(ec.SECP256R1())
            c = _issue(name, k, ca_key, ca_cert, client=True)  # type: ignore[arg-type]
            write_private(key, _key_pem(k))
            cert.write_bytes(c.public_bytes(serialization.Encoding.PEM) + self.ca_cert.read_bytes())
        return cert, key

    def store_password(self) -> str:
        """The password of the Java stores below (they must have one), in a 0600 file."""
        return generated_secret(self.dir / "store-password", 24)

    def pkcs12(self, name: str, cert: Path, key: Path) -> Path:
        """A PKCS#12 keystore (alias ``name``) of a certificate chain and its key, 0600."""
        path = self.dir / f"{name}.p12"
        if not path.exists():
            k = serialization.load_pem_private_key(key.read_bytes(), None)
            chain = x509.load_pem_x509_certificates(cert.read_bytes())
            data = pkcs12.serialize_key_and_certificates(
                name.encode(), k, chain[0], chain[1:],  # type: ignore[arg-type]
                serialization.BestAvailableEncryption(self.store_password().encode()))
            write_private(path, data)
        return path

    def truststore(self, java_home: str | None = None, storetype: str = "PKCS12") -> Path:
        """A truststore holding the CA, for JVMs; made by keytool, which marks the entry trusted (a
        store written by other tools is read by Java as empty). PKCS12 for a JVM told the password
        in a 0600 file; JKS for one that must trust the CA by default (S3A in Flink, Trino's S3
        client): Java loads a JKS with no password (it holds only public certificates; without a
        password Java skips just the integrity check), so none appears on a command line."""
        path = self.dir / ("truststore.jks" if storetype == "JKS" else "truststore.p12")
        if not path.exists():
            keytool = str(Path(java_home) / "bin" / "keytool") if java_home else shutil.which("keytool")
            if not keytool:
                raise RuntimeError("keytool (the JDK's) is not on PATH: it writes the Java truststore")
            tmp = path.with_suffix(".tmp")
            tmp.unlink(missing_ok=True)
            # the password through the environment, never on the command line
            proc = subprocess.run(
                [keytool, "-importcert", "-noprompt", "-alias", "auditflow-local-ca",
                 "-file", str(self.ca_cert), "-keystore", str(tmp), "-storetype", storetype,
                 "-storepass:env", "AUDITFLOW_STORE_PASSWORD"],
                env={**os.environ, "AUDITFLOW_STORE_PASSWORD": self.store_password()},
                capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"keytool could not write {path}: {proc.stdout}{proc.stderr}")
            os.chmod(tmp, 0o600)
            tmp.rename(path)
        return path


def ensure(directory: Path) -> Pki:
    """The CA and the server certificate, made once; later calls reuse them."""
    pki = Pki(directory)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    if not pki.ca_cert.exists() or not pki.ca_key.exists():
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _issue("auditflow local CA", ca_key, ca_key, None, ca=True)
        write_private(pki.ca_key, _key_pem(ca_key))
        pki.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        for stale in directory.iterdir():  # everything the old CA signed
            if stale not in (pki.ca_cert, pki.ca_key):
                stale.unlink()
    if not pki.server_cert.exists() or not pki.server_key.exists():
        ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), None)
        ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
        k = ec.generate_private_key(ec.SECP256R1())
        c = _issue("auditflow local services", k, ca_key, ca_cert, server=True, client=True)  # type: ignore[arg-type]
        write_private(pki.server_key, _key_pem(k))
        pki.server_cert.write_bytes(c.public_bytes(serialization.Encoding.PEM) + pki.ca_cert.read_bytes())
    return pki


def ca_file(cfg) -> Path:  # noqa: ANN001 (auditflow.config imports nothing from here)
    """The CA certificate clients trust: ``tls.ca_file``, else the local stack's."""
    configured = cfg.get("tls.ca_file")
    if configured:
        return Path(os.path.expanduser(configured))
    return cfg.path("stack.data_dir") / "tls" / "ca.pem"


def local_pki(cfg) -> Pki:  # noqa: ANN001
    return ensure(cfg.path("stack.data_dir") / "tls")
