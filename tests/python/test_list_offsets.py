"""ListOffsets: lookup by timestamp (offsets_for_times) and the watermarks.

Guards against: a time index that answers with the wrong record (off by one, or the batch
base offset instead of the first record at or after the timestamp), EARLIEST/LATEST mixed up,
and a high watermark that counts records not yet readable.
"""

import time

from confluent_kafka import Consumer, Producer, TopicPartition

from helpers import consumer_config, create_topic

RECORDS = 20
STEP_MS = 1000


def test_offsets_for_times_returns_first_offset_at_or_after_timestamp(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    base_ms = int(time.time() * 1000) - 100_000
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 50})
    for i in range(RECORDS):
        producer.produce(topic_name, value=f"v{i}".encode(), partition=0, timestamp=base_ms + i * STEP_MS)
    assert producer.flush(30) == 0

    consumer = Consumer(consumer_config(broker.bootstrap))
    try:
        def offset_for(timestamp_ms: int) -> int:
            [tp] = consumer.offsets_for_times([TopicPartition(topic_name, 0, timestamp_ms)], timeout=10)
            assert tp.error is None, tp.error
            return tp.offset

        assert offset_for(base_ms - 50_000) == 0
        assert offset_for(base_ms) == 0
        assert offset_for(base_ms + 5 * STEP_MS) == 5
        assert offset_for(base_ms + 5 * STEP_MS + 1) == 6
        assert offset_for(base_ms + (RECORDS - 1) * STEP_MS) == RECORDS - 1
        assert offset_for(base_ms + RECORDS * STEP_MS) == -1, "no record that late: OFFSET_END"
        assert consumer.get_watermark_offsets(TopicPartition(topic_name, 0), timeout=10) == (0, RECORDS)
    finally:
        consumer.close()


def test_watermarks_of_an_empty_partition_are_zero(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    consumer = Consumer(consumer_config(broker.bootstrap))
    try:
        for partition in (0, 1):
            assert consumer.get_watermark_offsets(TopicPartition(topic_name, partition), timeout=10) == (0, 0)
    finally:
        consumer.close()
