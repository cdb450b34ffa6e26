"""SQL templates from sql/: `${name}` placeholders filled from configuration and arguments."""

from __future__ import annotations

from pathlib import Path
from string import Template

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"


def render(relative: str, **values: object) -> str:
    """Fill a template; a placeholder without a value is an error naming the file."""
    path = SQL_DIR / relative
    try:
        return Template(path.read_text()).substitute({k: str(v) for k, v in values.items()})
    except KeyError as exc:
        raise ValueError(f"{path}: no value for placeholder ${{{exc.args[0]}}}") from exc
