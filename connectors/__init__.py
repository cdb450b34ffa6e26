"""Kafka Connect configs (the JSON files here) and the Python ingest adapters (connectors.ingest)."""
