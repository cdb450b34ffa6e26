"""Archive job: audit.events and audit.alerts -> Parquet files in the staging bucket.

    flink run -py jobs/archive.py [--startup group-offsets|latest-offset|earliest-offset]
                                  [--staging s3://staging/archive/] [--events-topic T] [--alerts-topic T]

Configuration comes from the environment (AUDITFLOW_*, as `auditflow` passes it) like every
job. Each Kafka record is kept exactly (the Confluent-wire Avro value) with its coordinates,
in zstd Parquet under <staging>/<events|alerts>/tenant=<t>/dt=<yyyy-mm-dd>/hour=<hh>/, written
by Flink's FileSink and committed on checkpoints: exactly once, since Kafka offsets are part of
the same checkpoint. `auditflow seal` then turns closed periods into the typed, sorted and
signed WORM archive; see auditflow/archive/seal.py.
"""

from __future__ import annotations

import argparse
import sys

from pyflink.table import EnvironmentSettings, TableEnvironment

from auditflow import config, flink, kafka, sql


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--startup", default="group-offsets",
                        choices=["group-offsets", "latest-offset", "earliest-offset", "timestamp"],
                        help="where a new job starts reading (a restored job resumes from its checkpoint)")
    parser.add_argument("--startup-timestamp-ms", type=int, default=None,
                        help="with --startup timestamp: the first Kafka record time to archive")
    parser.add_argument("--staging", default=None, help="s3://bucket/prefix/ (default from [archive] config)")
    parser.add_argument("--events-topic", default=None)
    parser.add_argument("--alerts-topic", default=None)
    parser.add_argument("--group-id", default=None)
    parser.add_argument("--profile", default=None)
    args = parser.parse_args(argv)
    cfg = config.load(args.profile)
    arch = cfg.section("archive")
    staging = args.staging or f"s3://{cfg.get('s3.staging_bucket')}/{arch['staging_prefix']}"
    staging = staging if staging.endswith("/") else staging + "/"

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = env.get_config()
    conf.set("execution.checkpointing.interval", f"{cfg.get('flink.checkpoint_interval_ms')} ms")
    # keep the last checkpoint when the job is cancelled: `auditflow jobs start` resumes from it
    conf.set("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION")
    conf.set("table.local-time-zone", "UTC")  # partition dates and hours are UTC
    statements = env.create_statement_set()
    topics = {"events": args.events_topic or arch["events_topic"],
              "alerts": args.alerts_topic or arch["alerts_topic"]}
    conf.set("pipeline.name", flink.pipeline_job_name("archive", topics["events"]))
    for kind, topic in topics.items():
        env.execute_sql(sql.render(
            "ddl/archive_source.sql", name=f"{kind}_in", topic=topic,
            bootstrap_servers=cfg.get("kafka.bootstrap_servers"),
            kafka_security=kafka.flink_sql(cfg, "archive"),
            group_id=args.group_id or arch["group_id"], startup_mode=args.startup,
            startup_options=(f"\n    'scan.startup.timestamp-millis' = '{args.startup_timestamp_ms}',"
                             if args.startup == "timestamp" else ""),
        ))
        env.execute_sql(sql.render("ddl/archive_parquet_sink.sql", name=f"{kind}_staging",
                                   path=f"{staging}{kind}"))
        # arrival time, not event time: a late event lands in the hour it arrived, so a sealed
        # hour never receives another file
        statements.add_insert_sql(f"""
            INSERT INTO {kind}_staging
            SELECT `value`, `partition`, `offset`, CAST(`ts` AS TIMESTAMP(3)),
                   COALESCE(NULLIF(CAST(`key` AS STRING), ''), '_unknown'),
                   DATE_FORMAT(CURRENT_TIMESTAMP, 'yyyy-MM-dd'),
                   DATE_FORMAT(CURRENT_TIMESTAMP, 'HH')
            FROM {kind}_in""")
    statements.execute()


if __name__ == "__main__":
    main(sys.argv[1:])
