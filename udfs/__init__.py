"""Python UDF logic as plain functions (unit-tested without Flink), plus thin Flink wrappers."""
