import pytest

from auditflow import sql


def test_templates_render_with_all_values():
    text = sql.render("ddl/smoke_source.sql", topic="t", bootstrap_servers="b:1",
                      kafka_security="'properties.security.protocol' = 'SASL_SSL'",
                      registry_options="'k' = 'u'")
    assert "'topic' = 't'" in text and "${" not in text


def test_missing_value_names_the_file():
    with pytest.raises(ValueError, match=r"smoke_source.sql: no value for placeholder \$\{topic\}"):
        sql.render("ddl/smoke_source.sql", bootstrap_servers="b", registry_options="'k' = 'u'")


def test_kafka_security_options_quote_the_jaas_line_and_name_the_shaded_module(tmp_path):
    from auditflow import config, kafka

    cfg = config.load(overrides=[f"stack.data_dir={tmp_path}"])
    opts = kafka.flink_options(cfg, "normalize")
    assert opts["properties.security.protocol"] == "SASL_SSL"
    assert opts["properties.sasl.jaas.config"].startswith(
        "org.apache.flink.kafka.shaded.org.apache.kafka.common.security.scram.ScramLoginModule required")
    assert opts["properties.ssl.truststore.type"] == "PEM"
    text = sql.render("ddl/kafka_bytes_sink.sql", name="s", topic="t", bootstrap_servers="b",
                      transactional_id_prefix="p", max_record_bytes=1,
                      kafka_security=kafka.flink_sql(cfg, "normalize"))
    assert text.count("'properties.sasl.jaas.config'") == 1
