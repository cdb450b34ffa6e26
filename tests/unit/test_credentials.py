"""Role credentials (auditflow/credentials.py) and the local CA (auditflow/stack/tls.py)."""

import os
import ssl
import stat

import pytest
from cryptography import x509

from auditflow import config, credentials
from auditflow.config import ConfigError
from auditflow.stack import tls


def _cfg(tmp_path):
    return config.load(overrides=[f"stack.data_dir={tmp_path}"], environ={}, cwd_file=False)


def test_every_role_has_a_description_and_tenant_roles_need_a_tenant():
    for name, spec in credentials.roles().items():
        assert spec["description"], name
    assert credentials.principal("sealer") == "sealer"
    assert credentials.principal("ingest:acme") == "ingest-acme"
    assert credentials.principal("tenant-auditor:acme") == "tenant-auditor-acme"
    with pytest.raises(ConfigError, match="per tenant"):
        credentials.principal("ingest")
    with pytest.raises(ConfigError, match="not per tenant"):
        credentials.principal("sealer:acme")
    with pytest.raises(ConfigError, match="unknown role 'root'"):
        credentials.principal("root")
    with pytest.raises(ConfigError, match="letters, digits"):
        credentials.principal("ingest:a b")
    assert "ingest:t1" in credentials.all_roles(["t1"]) and "ingest" not in credentials.all_roles()


def test_local_secrets_are_made_once_in_owner_only_files(tmp_path):
    cfg = _cfg(tmp_path)
    first = credentials.identity(cfg, "sealer")
    path = tmp_path / "secrets" / "sealer.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert credentials.identity(cfg, "sealer").secret == first.secret
    assert credentials.identity(cfg, "detect").secret != first.secret
    assert first.at("kafka") == ("sealer", first.secret)
    assert first.secret not in repr(first)


def test_a_service_table_overrides_and_a_readable_file_is_refused(tmp_path):
    cfg = _cfg(tmp_path)
    path = tmp_path / "secrets" / "router.toml"
    tls.write_private(path, b'secret = "s"\n[kafka]\nuser = "API-KEY"\nsecret = "api-secret"\n')
    ident = credentials.identity(cfg, "router")
    assert ident.at("kafka") == ("API-KEY", "api-secret") and ident.at("s3") == ("router", "s")
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        credentials.identity(cfg, "router")


def test_environment_wins_and_other_profiles_never_generate(tmp_path):
    cfg = _cfg(tmp_path)
    ident = credentials.identity(cfg, "ingest:acme", environ={"AUDITFLOW_SECRET_INGEST_ACME": "from-env"})
    assert ident.at("s3") == ("ingest-acme", "from-env")
    conf = tmp_path / "auditflow.toml"
    conf.write_text("[profiles.prod.stack]\n")
    prod = config.load("prod", conf, [f"stack.data_dir={tmp_path}"], environ={}, cwd_file=False)
    assert prod.get("credentials.generate") is False
    with pytest.raises(ConfigError, match="AUDITFLOW_SECRET_WITNESS"):
        credentials.identity(prod, "witness")
    assert not (tmp_path / "secrets" / "witness.toml").exists()


def test_the_local_ca_signs_a_server_certificate_for_loopback(tmp_path):
    pki = tls.ensure(tmp_path / "tls")
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificates(pki.server_cert.read_bytes())[0]
    server.verify_directly_issued_by(ca)
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1"}
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    ctx.load_cert_chain(str(pki.server_cert), str(pki.server_key))
    for private in (pki.ca_key, pki.server_key, pki.client("operator")[1]):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
    assert stat.S_IMODE((tmp_path / "tls").stat().st_mode) == 0o700
    # made once: a second call keeps the same CA
    assert tls.ensure(tmp_path / "tls").ca_cert.read_bytes() == pki.ca_cert.read_bytes()
