import pytest

from auditflow import sql


def test_templates_render_with_all_values():
    text = sql.render("ddl/smoke_source.sql", topic="t", bootstrap_servers="b:1",
                      registry_options="'k' = 'u'")
    assert "'topic' = 't'" in text and "${" not in text


def test_missing_value_names_the_file():
    with pytest.raises(ValueError, match=r"smoke_source.sql: no value for placeholder \$\{topic\}"):
        sql.render("ddl/smoke_source.sql", bootstrap_servers="b", registry_options="'k' = 'u'")
