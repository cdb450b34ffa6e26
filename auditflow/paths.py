"""Where the files auditflow ships live: the one place that knows the layout.

The top-level folders auditflow/, udfs/, jobs/, connectors/, sql/ and schemas/ sit side by side
under one ROOT: the checkout (editable install) or site-packages (`pip install .`, where the
data folders are package data), and the same again in the copy shipped to Flink with `-pyfs`.
So every path is ROOT-relative and nothing else walks up from its own ``__file__``. This module
imports nothing from auditflow, so udfs/ and jobs/ (also on Flink workers) can use it.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PACKAGE = ROOT / "auditflow"
DEFAULTS_FILE = PACKAGE / "defaults.toml"
STACK = PACKAGE / "stack"
MAVEN = STACK / "maven"

SQL = ROOT / "sql"
DETECTIONS = SQL / "detections"
REFERENCE = DETECTIONS / "reference"
TRINO_VIEWS = SQL / "views" / "trino"
# DuckDB's form of a view, by the same file name, where its SQL differs from Trino's
DUCKDB_VIEWS = SQL / "views" / "duckdb"
SCHEMAS = ROOT / "schemas"
# the contracts: the pipeline's Kafka topics, and the Avro subjects with their compatibility
TOPICS_FILE = SCHEMAS / "topics.toml"
SUBJECTS_FILE = SCHEMAS / "subjects.toml"
JOBS = ROOT / "jobs"
CONNECTORS = ROOT / "connectors"

# the folders under ROOT that Flink's Python workers get (`-pyfs`): the packages they import
# and the data they read (schemas, SQL). Only these: ROOT may be a checkout with a 1 GB .venv.
PYFS = ("auditflow", "udfs", "jobs", "connectors", "schemas", "sql")
