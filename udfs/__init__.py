"""The pipeline's domain logic as plain functions, unit-tested without Flink: parsing, validation,
masking, enrichment, hashing and chaining per record (the normalize job), detection rules,
fixtures and suppression (``udfs.detect``), reconciliation and schema-compatibility reasoning.
The jobs in jobs/ wrap them in Flink operators; nothing here imports ``auditflow``."""
