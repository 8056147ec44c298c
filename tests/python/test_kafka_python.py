"""kafka-python (pure Python, its own protocol code) produces and consumes a round trip.

Guards against: answers that only librdkafka tolerates: API version negotiation, the
ListOffsets used by seek_to_beginning, and record batches decoded by a second implementation.
"""

import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from helpers import create_topic

RECORDS = 1_000
READ_TIMEOUT_S = 60.0


def test_kafka_python_round_trip_with_seek_to_beginning(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=5)
    futures = [producer.send(topic_name, key=f"k{i}".encode(), value=f"v{i}".encode(),
                             headers=[("i", str(i).encode())], partition=i % 2)
               for i in range(RECORDS)]
    producer.flush(timeout=60)
    offsets = [f.get(timeout=30).offset for f in futures]
    producer.close(timeout=10)
    assert offsets[0::2] == list(range(RECORDS // 2)) and offsets[1::2] == list(range(RECORDS // 2))

    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None,
                             enable_auto_commit=False, consumer_timeout_ms=1000)
    try:
        partitions = [TopicPartition(topic_name, p) for p in (0, 1)]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        got = {0: [], 1: []}
        deadline = time.monotonic() + READ_TIMEOUT_S
        while sum(map(len, got.values())) < RECORDS:
            assert time.monotonic() < deadline, f"read {sum(map(len, got.values()))} of {RECORDS}"
            for tp, records in consumer.poll(timeout_ms=500).items():
                got[tp.partition].extend(records)
    finally:
        consumer.close()
    for partition in (0, 1):
        indices = range(partition, RECORDS, 2)
        assert [(r.offset, r.key, r.value, list(r.headers)) for r in got[partition]] == \
            [(n, f"k{i}".encode(), f"v{i}".encode(), [("i", str(i).encode())]) for n, i in enumerate(indices)]
