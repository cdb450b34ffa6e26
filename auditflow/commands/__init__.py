"""Click command groups by user task, each in its own module and registered in auditflow.cli."""
