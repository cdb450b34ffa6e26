"""Detection rules as files: headers, fixtures, alert suppression and the comparison of alerts.

Pure Python, no Flink: `auditflow rules` and jobs/detect.py wire this into Flink (through
auditflow/rules_runner.py), the unit tests call it directly. The rule file format and the
input/output contract are in sql/detections/README.md.

    rules.py     a rule file (name, header, one SELECT), discovery and selection, the SQL each
                 rule is wrapped in (the shape all rules' matches share, its late events)
    fixtures.py  a rule's fixture cases, fixture events as canonical events, expected vs actual
    suppress.py  matches -> alerts: dedup keys, dedup windows, rollups, Alert records
"""
