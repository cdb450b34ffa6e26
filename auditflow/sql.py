"""SQL templates from sql/: `${name}` placeholders filled from configuration and arguments."""

from __future__ import annotations

from string import Template

from auditflow import paths

SQL_DIR = paths.SQL


def render(relative: str, **values: object) -> str:
    """Fill a template; a placeholder without a value is an error naming the file."""
    path = SQL_DIR / relative
    try:
        return Template(path.read_text()).substitute({k: str(v) for k, v in values.items()})
    except KeyError as exc:
        raise ValueError(f"{path}: no value for placeholder ${{{exc.args[0]}}}") from exc
