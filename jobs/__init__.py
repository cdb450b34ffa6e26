"""PyFlink job entry points, one file per job, each runnable with `flink run -py jobs/<job>.py`."""
