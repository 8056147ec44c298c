"""Error answers a client can see: an oversized record and a fetch out of range.

Guards against: a record larger than max.message.bytes being stored (or the connection
dropped instead of MESSAGE_TOO_LARGE), and a fetch past the log end returning empty data or
garbage instead of OFFSET_OUT_OF_RANGE, which clients need to apply auto.offset.reset.
"""

import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from helpers import consumer_config, create_topic, high_watermarks

OVERSIZED_VALUE_BYTES = 1536 * 1024  # above Kafka's default message.max.bytes of 1048588
RECORDS = 10
READ_TIMEOUT_S = 30.0


def produce_values(bootstrap: str, topic: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(count):
        producer.produce(topic, value=f"v{i}".encode(), partition=0)
    assert producer.flush(30) == 0


def test_record_above_max_message_bytes_fails_with_message_too_large(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    results = []
    producer = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": "none",
                         "message.max.bytes": 4 * 1024 * 1024, "message.timeout.ms": 15000})
    producer.produce(topic_name, value=b"\xab" * OVERSIZED_VALUE_BYTES, partition=0,
                     on_delivery=lambda e, m: results.append(e))
    producer.produce(topic_name, value=b"small", partition=0, on_delivery=lambda e, m: results.append(e))
    assert producer.flush(30) == 0
    errors = [e for e in results if e is not None]
    assert len(errors) == 1 and errors[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, results
    assert high_watermarks(broker.bootstrap, topic_name, 1) == {0: 1}, "only the small record is stored"


def first_message(consumer: Consumer):
    deadline = time.monotonic() + READ_TIMEOUT_S
    while time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None:
            return message
    raise AssertionError(f"nothing within {READ_TIMEOUT_S}s")


def test_fetch_out_of_range_resets_to_earliest(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    produce_values(broker.bootstrap, topic_name, RECORDS)
    consumer = Consumer(consumer_config(broker.bootstrap, **{"auto.offset.reset": "earliest"}))
    try:
        consumer.assign([TopicPartition(topic_name, 0, RECORDS + 100)])
        message = first_message(consumer)
        assert message.error() is None, message.error()
        assert (message.offset(), message.value()) == (0, b"v0")
    finally:
        consumer.close()


def test_fetch_out_of_range_resets_to_latest(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    produce_values(broker.bootstrap, topic_name, RECORDS)
    consumer = Consumer(consumer_config(broker.bootstrap, **{"auto.offset.reset": "latest"}))
    try:
        consumer.assign([TopicPartition(topic_name, 0, RECORDS + 100)])
        # The reset happens asynchronously; keep appending until a record arrives. With
        # "latest" the first one seen must come after the RECORDS that existed before.
        deadline = time.monotonic() + READ_TIMEOUT_S
        message = None
        while message is None:
            assert time.monotonic() < deadline, f"nothing consumed within {READ_TIMEOUT_S}s"
            produce_values(broker.bootstrap, topic_name, 1)
            message = consumer.poll(0.5)
        assert message.error() is None, message.error()
        assert message.offset() >= RECORDS and message.value() == b"v0"
    finally:
        consumer.close()


def test_fetch_out_of_range_is_reported_when_reset_is_error(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    produce_values(broker.bootstrap, topic_name, RECORDS)
    consumer = Consumer(consumer_config(broker.bootstrap, **{"auto.offset.reset": "error"}))
    try:
        consumer.assign([TopicPartition(topic_name, 0, RECORDS + 100)])
        message = first_message(consumer)
        error = message.error()
        assert error is not None and error.code() == KafkaError._AUTO_OFFSET_RESET, error
        assert "out of range" in error.str().lower(), error.str()
    finally:
        consumer.close()
