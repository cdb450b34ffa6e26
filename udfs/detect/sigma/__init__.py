"""Sigma rules compiled to this project's Flink SQL rules (`auditflow rules import-sigma`).

- backend.py: a pySigma backend writing a detection as a boolean Flink SQL expression;
- pipelines.py: per logsource, where each Sigma field lands in the `events` view;
- compiler.py: `where_clause(rule)` (the entry point, also for correlations) and the rule file;
- correlation.py: correlation rules (event_count, value_count, temporal, ...) over those clauses.

    from udfs.detect.sigma import compiler
    for rule in compiler.load([Path("rules/")]).rules:
        c = compiler.where_clause(rule)       # raises compiler.Unsupported with the reason
        sql = f"SELECT * FROM events WHERE {c.where}"
"""
