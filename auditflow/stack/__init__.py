"""`auditflow stack`: the local services, fetched, started, checked and stopped."""
