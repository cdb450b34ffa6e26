"""The baseline of bench/normalize.py: the normalize job's Kafka source and exactly-once Kafka
sink with only Flink built-ins between them (SHA-256 of each value), no Python function.

    flink run -py bench/normalize_baseline_job.py --raw-topics T1,T2 --out-topic OUT --group-id G
"""

from __future__ import annotations

import argparse
import sys

from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment

from auditflow import config, kafka, sql


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--raw-topics", required=True)
    p.add_argument("--out-topic", required=True)
    p.add_argument("--group-id", required=True)
    args = p.parse_args(argv)
    cfg = config.load()
    env = StreamExecutionEnvironment.get_execution_environment()
    env.enable_checkpointing(int(cfg.get("flink.checkpoint_interval_ms")))
    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set("pipeline.name", f"bench-normalize-baseline {args.out_topic}")
    idle = f"{cfg.get('normalize.idle_timeout_s')} s"
    servers = cfg.get("kafka.bootstrap_servers")
    security = kafka.flink_sql(cfg, "normalize")  # the same source and sink as the normalize job's
    t_env.execute_sql(sql.render(
        "ddl/normalize_raw_source.sql",
        subscription="'topic' = '{}'".format(args.raw_topics.replace(",", ";")),
        out_of_orderness_s=cfg.get("normalize.out_of_orderness_s"), idle_timeout=idle,
        bootstrap_servers=servers, group_id=args.group_id, kafka_security=security))
    t_env.execute_sql(sql.render(
        "ddl/kafka_bytes_sink.sql", name="sink", topic=args.out_topic, bootstrap_servers=servers,
        transactional_id_prefix=args.group_id, max_record_bytes=cfg.get("kafka.max_record_bytes"),
        kafka_security=security))
    t_env.execute_sql("INSERT INTO sink SELECT `key`, CAST(SHA256(CAST(`value` AS STRING)) AS BYTES) "
                      "FROM raw_records")


if __name__ == "__main__":
    main(sys.argv[1:])
