"""Message timestamps as the topic configures them (message.timestamp.type, .before.max.ms,
.after.max.ms), seen through real clients.

Guards against: a LogAppendTime topic handing consumers the producer's timestamps (or the
CreateTime type), ListOffsets by time ignoring the append time, records far in the past or
future accepted despite the limits (Kafka refuses them with INVALID_TIMESTAMP and appends
nothing of the batch), the per-record errors Kafka names missing from the response, and a
config change that does not reach the next produce.
"""

import time

import pytest
from confluent_kafka import (TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, Consumer,
                             KafkaError, Producer, TopicPartition)
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType
from kafka import KafkaProducer

from helpers import (ADMIN_TIMEOUT_S, admin, consumer_config, create_topic, high_watermarks,
                     read_partitions)

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
DELIVERY_TIMEOUT_S = 30.0
# Kafka applies a config change through its metadata log: the next produce may still see the
# old value for a moment. Bounds the retries that wait for it.
SETTLE_TIMEOUT_S = 15.0


def now_ms() -> int:
    return int(time.time() * 1000)


def produce(bootstrap: str, topic: str, timestamp: int, compression: str = "none") -> tuple:
    """Produces one record stamped `timestamp`; returns (error or None, delivered message)."""
    reports = []
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0,
                         "compression.type": compression})
    # Compressible, so that librdkafka keeps the compression (it sends a batch uncompressed
    # when compressing does not make it smaller).
    producer.produce(topic, value=b"v" * 4096, partition=0, timestamp=timestamp,
                     on_delivery=lambda err, msg: reports.append((err, msg)))
    assert producer.flush(DELIVERY_TIMEOUT_S) == 0, "record not delivered in time"
    assert len(reports) == 1
    return reports[0]


def assert_refused(bootstrap: str, topic: str, timestamp: int, compression: str = "none") -> None:
    error, _ = produce(bootstrap, topic, timestamp, compression)
    assert error is not None, f"record stamped {timestamp} (now {now_ms()}) was accepted"
    assert error.code() == KafkaError.INVALID_TIMESTAMP, error


def assert_accepted(bootstrap: str, topic: str, timestamp: int, compression: str = "none"):
    error, message = produce(bootstrap, topic, timestamp, compression)
    assert error is None, f"record stamped {timestamp} (now {now_ms()}) refused: {error}"
    return message


def alter(bootstrap: str, topic: str, name: str, value: str,
          resource_type: ResourceType = ResourceType.TOPIC) -> None:
    resource = ConfigResource(resource_type, topic, incremental_configs=[
        ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)])
    client = admin(bootstrap)
    client.incremental_alter_configs([resource])[resource].result(timeout=ADMIN_TIMEOUT_S)


def accepted_once_settled(bootstrap: str, topic: str, timestamp: int):
    """After an alter: the delivered record once the new config lets it in."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        error, message = produce(bootstrap, topic, timestamp)
        if error is None:
            return message
        assert error.code() == KafkaError.INVALID_TIMESTAMP, error
        assert time.monotonic() < deadline, "the altered config never took effect"
        time.sleep(0.2)  # poll interval while Kafka's metadata log applies the change


def refused_once_settled(bootstrap: str, topic: str, timestamp: int) -> None:
    """After an alter: the record is refused as soon as the new config is in force."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        error, _ = produce(bootstrap, topic, timestamp)
        if error is not None:
            assert error.code() == KafkaError.INVALID_TIMESTAMP, error
            return
        assert time.monotonic() < deadline, "the altered limit never took effect"
        time.sleep(0.2)  # poll interval while Kafka's metadata log applies the change


def read_all(bootstrap: str, topic: str) -> list:
    end = high_watermarks(bootstrap, topic, 1)[0]
    return read_partitions(bootstrap, topic, {0: end})[0]


# Compressed batches too: only their header changes, the records are not re-compressed.
@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_log_append_time_topic_stamps_records_with_the_broker_clock(broker, topic_name, compression):
    create_topic(broker.bootstrap, topic_name, config={"message.timestamp.type": "LogAppendTime"})
    producer_stamp = now_ms() - DAY_MS
    window_start = now_ms()
    delivered = [assert_accepted(broker.bootstrap, topic_name, producer_stamp, compression)
                 for _ in range(3)]
    window_end = now_ms()

    # The produce response carries the append time, and librdkafka reports it as such.
    for message in delivered:
        kind, stamp = message.timestamp()
        assert kind == TIMESTAMP_LOG_APPEND_TIME and window_start <= stamp <= window_end, (kind, stamp)
    records = read_all(broker.bootstrap, topic_name)
    assert len(records) == 3
    stamps = []
    for record in records:
        kind, stamp = record.timestamp()
        assert kind == TIMESTAMP_LOG_APPEND_TIME, record.timestamp()
        assert window_start <= stamp <= window_end, (stamp, window_start, window_end)
        stamps.append(stamp)

    # ListOffsets by time goes by the append time: the producer's old stamp finds the first
    # record, a time after the last append finds nothing.
    consumer = Consumer(consumer_config(broker.bootstrap))
    try:
        def offset_for(timestamp: int) -> int:
            found = consumer.offsets_for_times([TopicPartition(topic_name, 0, timestamp)], timeout=10)
            return found[0].offset
        assert offset_for(producer_stamp) == 0
        assert offset_for(stamps[0]) == 0
        assert offset_for(window_end + HOUR_MS) == -1
    finally:
        consumer.close()


# Compressed records are checked one by one as well (the broker decompresses them).
@pytest.mark.parametrize("compression", ["none", "lz4"])
def test_after_max_ms_refuses_a_record_from_the_future(broker, topic_name, compression):
    create_topic(broker.bootstrap, topic_name, config={"message.timestamp.after.max.ms": "60000"})
    assert_refused(broker.bootstrap, topic_name, now_ms() + 2 * HOUR_MS, compression)
    stamp = now_ms()
    assert_accepted(broker.bootstrap, topic_name, stamp, compression)
    records = read_all(broker.bootstrap, topic_name)
    # Nothing of the refused batch was appended; the accepted record keeps its CreateTime.
    assert [r.timestamp() for r in records] == [(TIMESTAMP_CREATE_TIME, stamp)]


def test_before_max_ms_refuses_a_record_from_the_past(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, config={"message.timestamp.before.max.ms": str(HOUR_MS)})
    assert_refused(broker.bootstrap, topic_name, now_ms() - 2 * HOUR_MS)
    stamp = now_ms() - 60_000
    assert_accepted(broker.bootstrap, topic_name, stamp)
    assert [r.timestamp() for r in read_all(broker.bootstrap, topic_name)] == [
        (TIMESTAMP_CREATE_TIME, stamp)]


def test_default_after_max_ms_of_one_hour_refuses_two_hours_ahead(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    assert_refused(broker.bootstrap, topic_name, now_ms() + 2 * HOUR_MS)
    assert_accepted(broker.bootstrap, topic_name, now_ms() + HOUR_MS // 2)
    # The default before.max.ms is Long.MAX_VALUE: any past timestamp is fine.
    assert_accepted(broker.bootstrap, topic_name, 1)


def test_each_refused_record_is_named_in_the_response(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, config={"message.timestamp.before.max.ms": str(HOUR_MS)})
    # kafka-python reads record_errors and fails each record with its own message; linger
    # puts the three records in one batch.
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=500, retries=0)
    try:
        now = now_ms()
        futures = [producer.send(topic_name, b"old", partition=0, timestamp_ms=now - 2 * HOUR_MS),
                   producer.send(topic_name, b"fine", partition=0, timestamp_ms=now),
                   producer.send(topic_name, b"ancient", partition=0, timestamp_ms=1)]
        producer.flush(timeout=DELIVERY_TIMEOUT_S)
        messages = []
        for future in futures:
            assert future.exception is not None, "a record of the refused batch was accepted"
            messages.append(str(future.exception))
    finally:
        producer.close(timeout=DELIVERY_TIMEOUT_S)
    assert f"Timestamp {now - 2 * HOUR_MS} of message with offset 0 is out of range" in messages[0]
    assert "part of a batch which had one more more invalid records" in messages[1]
    assert "Timestamp 1 of message with offset 2 is out of range" in messages[2]
    assert high_watermarks(broker.bootstrap, topic_name, 1)[0] == 0


def test_altering_the_timestamp_configs_takes_effect_on_the_next_produce(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    a_day_ago = now_ms() - DAY_MS
    assert_accepted(broker.bootstrap, topic_name, a_day_ago)

    alter(broker.bootstrap, topic_name, "message.timestamp.before.max.ms", str(HOUR_MS))
    refused_once_settled(broker.bootstrap, topic_name, now_ms() - DAY_MS)

    # LogAppendTime ignores the limits and stamps the broker's time.
    alter(broker.bootstrap, topic_name, "message.timestamp.type", "LogAppendTime")
    message = accepted_once_settled(broker.bootstrap, topic_name, now_ms() - DAY_MS)
    assert message.timestamp()[0] == TIMESTAMP_LOG_APPEND_TIME
    records = read_all(broker.bootstrap, topic_name)
    assert records[0].timestamp() == (TIMESTAMP_CREATE_TIME, a_day_ago)
    assert records[-1].timestamp()[0] == TIMESTAMP_LOG_APPEND_TIME
    assert records[-1].timestamp()[1] > now_ms() - HOUR_MS


def test_broker_level_synonyms_are_the_default_of_topics_without_an_override(broker_factory,
                                                                             topic_name):
    # A private broker: the change is broker-wide.
    broker = broker_factory()
    create_topic(broker.bootstrap, topic_name)
    # Each broker applies its own value to the partitions it leads: set it on all of them.
    nodes = [str(n) for n in admin(broker.bootstrap).list_topics(timeout=ADMIN_TIMEOUT_S).brokers]
    assert_accepted(broker.bootstrap, topic_name, now_ms() - DAY_MS)

    for node in nodes:
        alter(broker.bootstrap, node, "log.message.timestamp.before.max.ms", str(HOUR_MS),
              ResourceType.BROKER)
    refused_once_settled(broker.bootstrap, topic_name, now_ms() - DAY_MS)

    for node in nodes:
        alter(broker.bootstrap, node, "log.message.timestamp.type", "LogAppendTime",
              ResourceType.BROKER)
    message = accepted_once_settled(broker.bootstrap, topic_name, now_ms() - DAY_MS)
    assert message.timestamp()[0] == TIMESTAMP_LOG_APPEND_TIME
    # A topic's own value wins over the broker's.
    other = topic_name + "-own"
    create_topic(broker.bootstrap, other, config={"message.timestamp.type": "CreateTime"})
    assert_refused(broker.bootstrap, other, now_ms() - DAY_MS)
