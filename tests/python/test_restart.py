"""Topics and records survive a clean broker restart, and crash (kill -9) recovery loses no
acknowledged (acks=all) record.

Guards against: topic metadata kept only in memory, a log that is not reopened at its end
(offsets reused after restart), recovery that truncates durable data, and acks=all answered
before the data is durable.
"""

import random
import time

from confluent_kafka import Producer

from conftest import BROKER_KIND
from helpers import create_topic, read_partitions

PARTITIONS = 2
RECORDS = 5_000
# Kafka needs ~10 s per restart after kill -9 (the old broker session must expire first).
KILL_ROUNDS = 5 if BROKER_KIND == "vltava" else 3
ACKED_BEFORE_KILL_MIN = 300
ACKED_BEFORE_KILL_MAX = 3_000
PRODUCE_LOOP_MAX = 200_000
KILL_DEADLINE_S = 60.0


def produce(bootstrap: str, topic: str, values: list) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for i, value in enumerate(values):
        producer.produce(topic, value=value, partition=i % PARTITIONS)
        producer.poll(0)
    assert producer.flush(60) == 0


def test_restart_keeps_topics_and_records(broker_factory, topic_name):
    broker = broker_factory()
    create_topic(broker.bootstrap, topic_name, partitions=PARTITIONS)
    values = [f"before-restart-{i}".encode() for i in range(RECORDS)]
    produce(broker.bootstrap, topic_name, values)

    broker.restart()

    per_partition = RECORDS // PARTITIONS
    got = read_partitions(broker.bootstrap, topic_name, {p: per_partition for p in range(PARTITIONS)})
    for partition, messages in got.items():
        assert [m.value() for m in messages] == values[partition::PARTITIONS]
    # New records continue after the old ones: offsets are not reused.
    produce(broker.bootstrap, topic_name, [b"after-0", b"after-1"])
    got = read_partitions(broker.bootstrap, topic_name, {p: per_partition + 1 for p in range(PARTITIONS)})
    assert [got[p][-1].value() for p in range(PARTITIONS)] == [b"after-0", b"after-1"]
    assert [got[p][-1].offset() for p in range(PARTITIONS)] == [per_partition] * PARTITIONS


def test_kill_9_during_acks_all_produce_loses_no_acknowledged_record(broker_factory, topic_name):
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    broker = broker_factory()
    create_topic(broker.bootstrap, topic_name, partitions=PARTITIONS)
    acked = {}  # (partition, offset) -> value

    for round_number in range(KILL_ROUNDS):
        kill_after = rng.randint(ACKED_BEFORE_KILL_MIN, ACKED_BEFORE_KILL_MAX)
        producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 2,
                             "message.timeout.ms": 3000, "reconnect.backoff.max.ms": 500})
        acked_this_round = []

        def on_delivery(error, message):
            if error is None:
                acked[(message.partition(), message.offset())] = message.value()
                acked_this_round.append(message.value())

        deadline = time.monotonic() + KILL_DEADLINE_S
        for i in range(PRODUCE_LOOP_MAX):
            producer.produce(topic_name, value=f"round-{round_number}-{i}".encode(),
                             partition=i % PARTITIONS, on_delivery=on_delivery)
            producer.poll(0)
            if len(acked_this_round) >= kill_after:
                break
            assert time.monotonic() < deadline, f"only {len(acked_this_round)} acks in {KILL_DEADLINE_S}s"
            if i % 1000 == 999:
                producer.poll(0.01)  # let acks arrive rather than racing far ahead of them
        broker.kill9()  # records still in flight now may or may not be stored: both are fine
        producer.flush(15)  # unacknowledged records fail after message.timeout.ms
        assert len(producer) == 0
        broker.restart()
        print(f"round {round_number}: killed after {len(acked_this_round)} acks")

    ends = {}
    for partition, offset in acked:
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    got = read_partitions(broker.bootstrap, topic_name, ends)
    stored = {(m.partition(), m.offset()): m.value() for messages in got.values() for m in messages}
    missing = {k: v for k, v in acked.items() if stored.get(k) != v}
    assert not missing, f"seed {seed}: {len(missing)} acknowledged records lost or changed, e.g. " \
                        f"{sorted(missing.items())[:5]}"
