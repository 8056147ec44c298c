"""Topic configs that take effect, as a client sees them, on vltava and on Kafka alike:
retention.ms (with segment.ms rolling the segments) deletes whole old segments and moves the
log start offset; retention.bytes keeps at least that many bytes and deletes the rest by whole
segments; cleanup.policy=compact keeps what the same retention deletes under compact,delete;
max.message.bytes set and altered on a topic bounds the records it takes.

Guards against configs that are accepted and stored but ignored by the log."""

import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

from conftest import start_broker
from helpers import admin, consumer_config, create_topic

RETENTION_CHECK_MS = 200
WAIT_S = 60.0
POLL_S = 0.2


@pytest.fixture(scope="module")
def retention_broker(tmp_path_factory):
    b = start_broker(tmp_path_factory.mktemp("retention"),
                     retention_check_interval_ms=RETENTION_CHECK_MS)
    yield b
    b.stop()


def watermarks(bootstrap: str, topic: str) -> tuple[int, int]:
    consumer = Consumer(consumer_config(bootstrap))
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        consumer.close()


def produce(bootstrap: str, topic: str, count: int, value: bytes = b"v", keys: bool = False) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(count):
        producer.produce(topic, key=f"k{i}".encode() if keys else None, value=value, partition=0)
    assert producer.flush(30) == 0


def wait_for_low_watermark(bootstrap: str, topic: str, want: int) -> tuple[int, int]:
    deadline = time.monotonic() + WAIT_S
    while True:
        low, high = watermarks(bootstrap, topic)
        if low >= want:
            return low, high
        if time.monotonic() > deadline:
            raise AssertionError(f"{topic}: log start {low} did not reach {want} within {WAIT_S}s")
        time.sleep(POLL_S)  # poll interval


def test_retention_ms_deletes_expired_segments_and_a_consumer_resets_past_them(
        retention_broker, topic_name):
    bootstrap = retention_broker.bootstrap
    create_topic(bootstrap, topic_name, config={"retention.ms": "2000", "segment.ms": "300"})
    produce(bootstrap, topic_name, 10)
    time.sleep(0.5)  # segment.ms must pass for the next append to roll a new segment
    produce(bootstrap, topic_name, 10)
    # Every record is older than retention.ms after ~2 s: both brokers delete all of them
    # (Kafka rolls the expired active segment to delete it; vltava rolled it by segment.ms).
    low, high = wait_for_low_watermark(bootstrap, topic_name, 20)
    assert (low, high) == (20, 20)
    produce(bootstrap, topic_name, 1, value=b"after")
    # A consumer at a deleted offset resets per auto.offset.reset=earliest: the new record.
    consumer = Consumer(consumer_config(bootstrap, **{"auto.offset.reset": "earliest"}))
    try:
        consumer.assign([TopicPartition(topic_name, 0, 5)])
        deadline = time.monotonic() + WAIT_S
        message = None
        while message is None and time.monotonic() < deadline:
            message = consumer.poll(0.5)
        assert message is not None and message.error() is None, message
        assert (message.offset(), message.value()) == (20, b"after")
    finally:
        consumer.close()


def test_retention_bytes_keeps_at_least_that_much_and_deletes_whole_segments(
        retention_broker, topic_name):
    bootstrap = retention_broker.bootstrap
    segment_bytes = 1024 * 1024  # Kafka's smallest segment.bytes
    value = b"x" * 10_000
    create_topic(bootstrap, topic_name,
                 config={"segment.bytes": str(segment_bytes), "retention.bytes": str(segment_bytes)})
    produce(bootstrap, topic_name, 400, value=value)  # ~4 MB: four segments or more
    low, high = wait_for_low_watermark(bootstrap, topic_name, 1)
    kept_bytes = (high - low) * len(value)
    # Deleting a segment must not take the log below retention.bytes; whole segments go, so
    # up to one segment more than retention.bytes stays (plus the active one's records).
    assert segment_bytes <= kept_bytes <= 3 * segment_bytes, (low, high)


def test_compact_alone_ignores_retention_ms_which_compact_delete_applies(
        retention_broker, topic_name):
    bootstrap = retention_broker.bootstrap
    compact, both = f"{topic_name}-compact", f"{topic_name}-compact-delete"
    retention = {"retention.ms": "1000", "segment.ms": "300"}
    create_topic(bootstrap, compact, config={"cleanup.policy": "compact", **retention})
    create_topic(bootstrap, both, config={"cleanup.policy": "compact,delete", **retention})
    for topic in (compact, both):
        produce(bootstrap, topic, 10, keys=True)
    time.sleep(0.5)  # segment.ms must pass for the next append to roll a new segment
    for topic in (compact, both):
        produce(bootstrap, topic, 10, keys=True, value=b"w")
    wait_for_low_watermark(bootstrap, both, 10)
    # The same retention ran over both logs by now; the compact-only one kept its start.
    assert watermarks(bootstrap, compact) == (0, 20)


def test_max_message_bytes_of_a_topic_bounds_its_records_and_follows_alteration(
        retention_broker, topic_name):
    bootstrap = retention_broker.bootstrap
    create_topic(bootstrap, topic_name, config={"max.message.bytes": "2000"})

    def send(size: int):
        results = []
        producer = Producer({"bootstrap.servers": bootstrap, "compression.type": "none",
                             "message.timeout.ms": 15000, "linger.ms": 0})
        producer.produce(topic_name, value=b"a" * size, partition=0,
                         on_delivery=lambda e, m: results.append(e))
        assert producer.flush(30) == 0
        return results[0]

    error = send(3000)
    assert error is not None and error.code() == KafkaError.MSG_SIZE_TOO_LARGE, error
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic_name, incremental_configs=[
        ConfigEntry("max.message.bytes", "10000", incremental_operation=AlterConfigOpType.SET)])
    client = admin(bootstrap)
    client.incremental_alter_configs([resource])[resource].result(timeout=30)
    # Kafka applies topic configs asynchronously: retry within a bound until it takes.
    deadline = time.monotonic() + WAIT_S
    while (error := send(3000)) is not None and time.monotonic() < deadline:
        assert error.code() == KafkaError.MSG_SIZE_TOO_LARGE, error
        time.sleep(POLL_S)  # poll interval
    assert error is None
