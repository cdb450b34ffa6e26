"""Reproduce a PyFlink checkpoint gap: state written and a timer registered in the bundle that
Flink processes while taking a checkpoint; restored from that checkpoint, the state is there but
the timer never fires. jobs/normalize.py works around it (see its Chain docstring).

    .venv/bin/python scripts/repro_pyflink_timer_checkpoint.py      # needs `auditflow stack up`

It submits a small job (this file, run by `flink run -py`) with a record already waiting, so its
first bundle is processed while the first checkpoint is taken, cancels it right after, restores it
from that checkpoint, then sends one more record to show the restored state. About a minute. It is
a race: when the checkpoint is taken before the record is processed, the run says so and proves
nothing; run it again.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from pathlib import Path

DUE_MS = 12_000


def job(topic: str) -> None:
    from pyflink.common import Configuration, Types
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.datastream.functions import KeyedBroadcastProcessFunction
    from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor
    from pyflink.table import StreamTableEnvironment

    log = logging.getLogger("repro")
    bcast = MapStateDescriptor("b", Types.STRING(), Types.STRING())

    class Timed(KeyedBroadcastProcessFunction):
        def open(self, rc):
            self.due = rc.get_state(ValueStateDescriptor("due", Types.LONG()))

        def process_element(self, value, ctx):
            log.warning("REPRO element key=%s state_due=%s", ctx.get_current_key(), self.due.value())
            due = ctx.timer_service().current_processing_time() + DUE_MS
            ctx.timer_service().register_processing_time_timer(due)
            self.due.update(due)
            yield value["k"]

        def on_timer(self, ts, ctx):
            log.warning("REPRO fired key=%s ts=%s", ctx.get_current_key(), ts)
            return []

        def process_broadcast_element(self, value, ctx):
            pass

    conf = Configuration()
    conf.set_string("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION")
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.enable_checkpointing(2500)
    t_env = StreamTableEnvironment.create(env)
    for name, t in (("src", topic), ("bc", topic + ".b")):
        t_env.execute_sql(
            f"CREATE TABLE {name} (k STRING) WITH ('connector'='kafka','topic'='{t}',"
            "'properties.bootstrap.servers'='127.0.0.1:9092','properties.group.id'='repro',"
            "'scan.startup.mode'='earliest-offset','format'='raw')")
    src = t_env.to_data_stream(t_env.from_path("src"))
    other = t_env.to_data_stream(t_env.from_path("bc")).broadcast(bcast)
    (src.key_by(lambda r: r["k"], key_type=Types.STRING()).connect(other)
     .process(Timed(), output_type=Types.STRING()).print())
    env.execute("repro-pyflink-timer " + topic)


def drive() -> int:
    from confluent_kafka import Producer

    from auditflow import config, flink, kafka

    cfg = config.load()
    log_file = Path(cfg.get("stack.data_dir")).expanduser() / "logs" / "flink-taskmanager.log"
    topic = f"repro.timer.{uuid.uuid4().hex[:6]}"
    kafka.apply_topics(cfg, [kafka.TopicSpec(topic, 1, 1), kafka.TopicSpec(topic + ".b", 1, 1)])

    def send(key: str) -> None:
        p = Producer(kafka.producer_conf(cfg, "admin"))
        p.produce(topic, key.encode())
        p.flush(10)

    def lines() -> list[str]:
        return [ln for ln in log_file.read_text(errors="replace").splitlines() if "REPRO" in ln]

    send("alpha")
    seen = len(lines())
    first = flink.start(cfg, Path(__file__), ["job", topic], say=lambda _m: None)
    flink.wait_for_status(cfg, first, {"RUNNING"})
    while flink.latest_checkpoint(cfg, first) is None:
        time.sleep(0.1)
    flink.cancel(cfg, first)
    flink.wait_for_status(cfg, first, {"CANCELED"}, timeout_s=60)
    checkpoint = flink.latest_checkpoint(cfg, first)
    print("first run:", *lines()[seen:], sep="\n  ")
    seen = len(lines())
    second = flink.start(cfg, Path(__file__), ["job", topic], restore_from=checkpoint[1], say=lambda _m: None)
    flink.wait_for_status(cfg, second, {"RUNNING"})
    time.sleep(DUE_MS / 1000 + 10)
    send("alpha")
    time.sleep(5)
    flink.cancel(cfg, second)
    after = lines()[seen:]
    print(f"restored from checkpoint {checkpoint[0]}:", *after, sep="\n  ")
    restored_state = any("state_due=" in ln and "state_due=None" not in ln for ln in after)
    replayed = any("state_due=None" in ln for ln in after)
    fired_before_probe = [ln for ln in after if "fired" in ln]
    if replayed:
        print("not reproduced: the checkpoint was taken before the record was processed")
        return 1
    if restored_state and not fired_before_probe:
        print("REPRODUCED: the state written with the timer was restored, the timer was not")
        return 0
    print("not reproduced: the timer was restored with the state")
    return 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["job"]:
        job(sys.argv[2])
    else:
        sys.exit(drive())
