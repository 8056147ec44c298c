"""A fetch waiting at the log end is answered as soon as a record arrives.

Guards against: a fetch that always sleeps the full fetch.wait.max.ms (the delayed fetch is
not woken by the append), which shows up as seconds of end-to-end latency for idle consumers.
"""

import time

from confluent_kafka import Consumer, Producer, TopicPartition

from helpers import consumer_config, create_topic

FETCH_WAIT_MAX_MS = 5000
LATENCY_LIMIT_S = 1.0
IDLE_BEFORE_PRODUCE_S = 1.5  # long enough for the consumer's fetch to be parked at the end
RECEIVE_TIMEOUT_S = 15.0


def test_waiting_fetch_returns_a_new_record_well_under_a_second(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "acks": "all"})
    producer.produce(topic_name, value=b"warm-up", partition=0)  # connection and metadata ready
    assert producer.flush(30) == 0

    consumer = Consumer(consumer_config(broker.bootstrap, **{
        "fetch.wait.max.ms": FETCH_WAIT_MAX_MS, "fetch.min.bytes": 1}))
    try:
        consumer.assign([TopicPartition(topic_name, 0, 1)])  # at the end: offset 1
        idle_until = time.monotonic() + IDLE_BEFORE_PRODUCE_S
        while time.monotonic() < idle_until:
            assert consumer.poll(0.1) is None, "nothing should arrive before the produce"

        sent_at = time.monotonic()
        producer.produce(topic_name, value=b"wake up", partition=0)
        producer.poll(0)
        message = None
        while message is None and time.monotonic() - sent_at < RECEIVE_TIMEOUT_S:
            message = consumer.poll(0.01)
        latency_s = time.monotonic() - sent_at
        assert message is not None, f"no record within {RECEIVE_TIMEOUT_S}s"
        assert message.error() is None and message.value() == b"wake up"
        print(f"long-poll latency {latency_s * 1000:.0f} ms")
        assert latency_s < LATENCY_LIMIT_S, f"record took {latency_s:.2f}s to reach a waiting fetch"
        assert producer.flush(30) == 0
    finally:
        consumer.close()
