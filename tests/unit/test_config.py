import json

import pytest

from auditflow import config


def test_local_profile_is_built_in():
    cfg = config.load(environ={})
    assert cfg.profile == "local"
    assert cfg.get("kafka.bootstrap_servers") == "127.0.0.1:9092"


def test_precedence_file_then_env_then_flag(tmp_path):
    f = tmp_path / "auditflow.toml"
    f.write_text(
        '[profiles.prod.kafka]\nbootstrap_servers = "file:9092"\n'
        '[profiles.prod.flink]\nparallelism = 4\n'
    )
    env = {"AUDITFLOW_FLINK__PARALLELISM": "8"}
    cfg = config.load("prod", f, environ=env)
    assert cfg.get("kafka.bootstrap_servers") == "file:9092"
    assert cfg.get("flink.parallelism") == 8  # env beats file, coerced to int
    # keys a profile does not name keep the defaults
    assert cfg.get("s3.worm_bucket") == "worm"
    cfg = config.load("prod", f, ["flink.parallelism=2"], environ=env)
    assert cfg.get("flink.parallelism") == 2


def test_booleans_and_json_values_are_coerced():
    cfg = config.load(overrides=["stack.trino=false", 'kafka.client={"security.protocol": "SSL"}'],
                      environ={})
    assert cfg.get("stack.trino") is False
    assert cfg.get("kafka.client") == {"security.protocol": "SSL"}


def test_secrets_are_hidden():
    cfg = config.load(overrides=["registry.password=hunter2"], environ={})
    shown = cfg.redacted()
    assert shown["registry"]["password"] == "****"
    assert "secret_key" not in shown["s3"] and "access_key" not in shown["s3"]  # keys are per role
    assert "hunter2" not in repr(shown)


def test_alert_destination_secrets_are_hidden_and_env_references_shown():
    dest = {"slack": {"type": "slack", "url": "https://hooks.slack.com/services/T0/B0/XYZSECRET"},
            "pd": {"type": "pagerduty", "routing_key": "R0UTINGKEY"},
            "siem": {"type": "webhook", "url": "https://siem.example.com/hook",
                     "headers": {"Authorization": "Bearer T0KEN"}},
            "ref": {"type": "pagerduty", "routing_key": "${PD_ROUTING_KEY}"}}
    cfg = config.load(overrides=[f"alerts.destinations={json.dumps(dest)}"], environ={})
    shown = cfg.redacted()["alerts"]["destinations"]
    assert shown["slack"]["url"] == "https://hooks.slack.com/****"
    assert shown["pd"]["routing_key"] == "****"
    assert shown["siem"]["headers"]["Authorization"] == "****"
    assert shown["siem"]["url"] == "https://siem.example.com/hook"
    assert shown["ref"]["routing_key"] == "${PD_ROUTING_KEY}"
    for secret in ("XYZSECRET", "R0UTINGKEY", "T0KEN"):
        assert secret not in repr(shown)


def test_unknown_profile_names_the_fix(tmp_path):
    with pytest.raises(config.ConfigError, match="--config FILE"):
        config.load("staging", environ={})
    f = tmp_path / "c.toml"
    f.write_text("[profiles.prod.kafka]\n")
    with pytest.raises(config.ConfigError, match="known: local, prod"):
        config.load("nope", f, environ={})


def test_bad_values_say_where_they_came_from():
    with pytest.raises(config.ConfigError, match="AUDITFLOW_FLINK__PARALLELISM"):
        config.load(environ={"AUDITFLOW_FLINK__PARALLELISM": "many"})
    with pytest.raises(config.ConfigError, match="section.key=value"):
        config.load(overrides=["nokey"], environ={})


def test_invalid_toml_is_reported(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("[profiles.local\n")
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.load(config_file=f, environ={})


def test_environment_round_trip_reproduces_the_config(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[profiles.prod.s3]\nseaweedfs_ports = [1, 2, 3]\n[profiles.prod.stack]\ntrino = false\n')
    cfg = config.load("prod", f, ['kafka.client={"a": "b"}', "flink.parallelism=3"], environ={})
    # a child process sees no config file, only the environment
    again = config.load(environ=cfg.as_environment())
    assert again.values == cfg.values
    assert again.get("s3.seaweedfs_ports") == [1, 2, 3]
    assert again.get("stack.trino") is False


def test_a_non_local_profile_gets_production_defaults_not_the_local_secrets(tmp_path):
    f = tmp_path / "auditflow.toml"
    f.write_text('[profiles.prod.kafka]\nbootstrap_servers = "kafka:9092"\n')
    prod = config.load(profile="prod", config_file=f, environ={})
    assert prod.get("credentials.generate") is False  # a role's keys come from its credentials only
    assert prod.get("archive.retention") == "7y" and prod.get("archive.allow_short_lock") is False
    assert prod.get("archive.generate_key") is False and prod.get("witness.generate_key") is False
    local = config.load(environ={}, cwd_file=False)
    assert local.get("s3.endpoint").startswith("https://") and local.get("archive.retention") == "1d"
