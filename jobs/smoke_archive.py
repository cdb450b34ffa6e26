"""Smoke job: Avro events from one Kafka topic to Parquet files in the staging bucket.

Run with:
    flink run -py jobs/smoke_archive.py --topic audit.smoke.<run> --output s3://staging/smoke/<run>/

It reads the topic from the beginning to the offsets at start-up (bounded), decodes each record
with the `avro-confluent` format (writer schema looked up in the registry by id) and writes
Parquet through Flink's FileSink, committed on checkpoints.
"""

from __future__ import annotations

import argparse
import sys

from pyflink.table import EnvironmentSettings, TableEnvironment

from auditflow import config, kafka, registry, sql


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--output", required=True, help="s3://bucket/prefix/ for the Parquet files")
    parser.add_argument("--profile", default=None)
    args = parser.parse_args(argv)
    cfg = config.load(args.profile)

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = env.get_config()
    conf.set("execution.checkpointing.interval", f"{cfg.get('flink.checkpoint_interval_ms')} ms")
    conf.set("pipeline.name", f"auditflow-smoke {args.topic}")
    env.execute_sql(sql.render(
        "ddl/smoke_source.sql", topic=args.topic,
        bootstrap_servers=cfg.get("kafka.bootstrap_servers"), kafka_security=kafka.flink_sql(cfg, "admin"),
        registry_options=kafka.sql_options(registry.flink_options(cfg, "archive")),
    ))
    env.execute_sql(sql.render("ddl/smoke_parquet_sink.sql", output=args.output))
    env.execute_sql("INSERT INTO smoke_parquet SELECT * FROM smoke_events").wait()


if __name__ == "__main__":
    main(sys.argv[1:])
