"""The Flink REST session: mutual TLS settings from the config, paths relative to flink.rest_url."""

from __future__ import annotations

from auditflow import config, flink


def test_session_presents_the_local_operator_certificate_and_trusts_the_local_ca(tmp_path):
    cfg = config.load(overrides=[f'stack.data_dir={tmp_path}'], environ={}, cwd_file=False)
    session = flink.rest(cfg)
    assert cfg.get("flink.rest_url").startswith("https://")
    assert session.cert == (str(tmp_path / "tls" / "client-operator.pem"),
                            str(tmp_path / "tls" / "client-operator-key.pem"))
    assert session.verify == str(tmp_path / "tls" / "ca.pem")


def test_session_takes_a_configured_certificate_and_ca(tmp_path):
    cfg = config.load(overrides=['flink.client_cert=/etc/pki/op.pem', 'flink.client_key=/etc/pki/op.key',
                                 'tls.ca_file=/etc/pki/ca.pem', 'flink.rest_url=https://jm:8081/'],
                      environ={}, cwd_file=False)
    session = flink.rest(cfg)
    assert session.cert == ("/etc/pki/op.pem", "/etc/pki/op.key")
    assert session.verify == "/etc/pki/ca.pem"
    assert session.base == "https://jm:8081"


def test_paths_are_relative_to_the_rest_url(tmp_path, monkeypatch):
    cfg = config.load(overrides=['flink.rest_url=https://jm:8081'], environ={}, cwd_file=False)
    seen = {}

    def fake(self, method, url, *args, **kwargs):
        seen.update(method=method, url=url, verify=kwargs.get("verify"))

    monkeypatch.setattr(flink.requests.Session, "request", fake)
    session = flink.rest(cfg)
    session.get("/jobs/overview")
    # REQUESTS_CA_BUNDLE must not replace the session's CA (requests merges it per request)
    assert seen == {"method": "GET", "url": "https://jm:8081/jobs/overview", "verify": session.verify}
