"""Flink's REST endpoint and internal connections take only mutual TLS (issue #14).

REST: HTTPS with client authentication; the JobManager accepts exactly the operator's client
certificate (pinned by fingerprint), so only whoever holds it (locally: whoever can read the 0600
<data_dir>/tls and flink/client-conf) can submit, list or cancel jobs. Internal (Pekko RPC, blob
server, shuffle): TLS between nodes that all hold the server certificate, pinned likewise.
`flink run` itself is exercised by the job tests (test_stack's `flink list`, test_jobs_cli,
test_detect): they go through the same endpoint with the CLI's client-conf."""

from __future__ import annotations

import socket
import ssl
from urllib.parse import urlparse

import pytest
import requests

from auditflow import flink
from auditflow.stack import tls


def rest_base(cfg) -> str:
    return cfg.get("flink.rest_url").rstrip("/")


def test_rest_answers_the_operator_certificate(stack, cfg):
    overview = flink.rest(cfg).get("/overview", timeout=10)
    assert overview.status_code == 200
    assert overview.json()["taskmanagers"] >= 1


def test_plain_http_gets_only_a_redirect_to_https(stack, cfg):
    """Flink's endpoint answers plaintext with an empty redirect (its RedirectingSslHandler), never
    with data."""
    url = urlparse(rest_base(cfg))
    r = requests.get(f"http://{url.netloc}/overview", timeout=10, allow_redirects=False)
    assert r.status_code in (301, 302, 307, 308)
    assert r.headers["location"].startswith("https://")
    assert r.content == b""


def test_https_without_a_client_certificate_is_refused_at_the_handshake(stack, cfg):
    with pytest.raises(requests.exceptions.SSLError, match="BAD_CERTIFICATE|CERTIFICATE_REQUIRED"):
        requests.get(rest_base(cfg) + "/overview", verify=str(tls.ca_file(cfg)), timeout=10)


def test_a_client_certificate_of_another_ca_is_refused(stack, cfg, tmp_path):
    other = tls.ensure(tmp_path / "other-ca")  # a CA of its own, with a client cert CN=operator too
    cert, key = other.client("operator")
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_UNKNOWN"):
        requests.get(rest_base(cfg) + "/overview", verify=str(tls.ca_file(cfg)),
                     cert=(str(cert), str(key)), timeout=10)


def test_another_roles_certificate_of_the_same_ca_is_refused(stack, cfg):
    """The pin: a certificate the local CA signed for another role does not submit jobs."""
    cert, key = tls.local_pki(cfg).client("analyst")
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_UNKNOWN"):
        requests.get(rest_base(cfg) + "/jobs/overview", verify=str(tls.ca_file(cfg)),
                     cert=(str(cert), str(key)), timeout=10)


def rpc_handshake(cfg, cert: tuple[str, str] | None) -> None:
    context = ssl.create_default_context(cafile=str(tls.ca_file(cfg)))
    if cert:
        context.load_cert_chain(*cert)
    with (socket.create_connection(("127.0.0.1", int(cfg.get("flink.rpc_port"))), timeout=10) as raw,
          context.wrap_socket(raw, server_hostname="127.0.0.1") as conn):
        conn.sendall(b"\0")
        conn.recv(1)  # TLS 1.2: a refused client certificate surfaces here at the latest


def test_internal_rpc_takes_only_the_cluster_certificate(stack, cfg):
    """The operator's certificate opens REST, not the JobManager's RPC port (nor does no certificate)."""
    with pytest.raises(ssl.SSLError, match="BAD_CERTIFICATE|CERTIFICATE_REQUIRED"):
        rpc_handshake(cfg, None)
    with pytest.raises(ssl.SSLError, match="CERTIFICATE_UNKNOWN"):
        rpc_handshake(cfg, flink.client_cert(cfg))


def test_flink_conf_files_are_private(stack, cfg):
    """They hold the store password (the cluster's also its S3 keys): 0600 in 0700 directories; the
    CLI's holds none of the cluster's S3 keys."""
    for d in flink.conf_dirs(cfg.path("stack.data_dir")):
        assert d.stat().st_mode & 0o077 == 0, d
        assert (d / "config.yaml").stat().st_mode & 0o077 == 0, d
    client_conf = (flink.conf_dirs(cfg.path("stack.data_dir"))[1] / "config.yaml").read_text()
    assert "secret-key" not in client_conf and "access-key" not in client_conf
