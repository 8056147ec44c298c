"""Internal topics: only the broker writes them.

Guards against: a client appending to `__consumer_offsets` (one acks=all Produce of a record
with an unknown key version, then kill -9, and vltava refused to start with "malformed
__consumer_offsets record: unknown key version": a denial of service from one request).

What Apache Kafka 4.4.0 answered for `__consumer_offsets` (scripts/kafka-reference, probed
with confluent-kafka): Produce INVALID_TOPIC_EXCEPTION, except from client id
`__admin_client`, which it lets append (vltava does not copy that: any client can send the
id); DeleteRecords INVALID_TOPIC_EXCEPTION; CreatePartitions, AlterConfigs,
IncrementalAlterConfigs and DeleteTopics succeed (vltava refuses CreatePartitions with
POLICY_VIOLATION, see docs/compatibility.md).
"""

import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from helpers import ADMIN_TIMEOUT_S, admin, create_topic

OFFSETS_TOPIC = "__consumer_offsets"
GROUP = "internal-topics-group"
DELIVERY_TIMEOUT_S = 30.0
COORDINATOR_WAIT_S = 60.0
COORDINATOR_RETRY_S = 0.5
COORDINATOR_NOT_READY = (KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                         KafkaError.COORDINATOR_NOT_AVAILABLE)


def with_coordinator(bootstrap: str, call):
    """`call(consumer)`, retried while the coordinator is not ready: Kafka answers
    NOT_COORDINATOR while it creates or loads __consumer_offsets, and librdkafka's
    synchronous commit()/committed() do not retry that. No event tells a client when it is
    ready, so this asks again after a pause, for at most COORDINATOR_WAIT_S."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP,
                         "enable.auto.commit": False})
    deadline = time.monotonic() + COORDINATOR_WAIT_S
    try:
        while True:
            try:
                return call(consumer)
            except KafkaException as e:
                error = e.args[0]
                not_ready = error.retriable() or error.code() in COORDINATOR_NOT_READY
                if not not_ready or time.monotonic() > deadline:
                    raise
            time.sleep(COORDINATOR_RETRY_S)
    finally:
        consumer.close()


def commit(bootstrap: str, offsets: dict) -> None:
    wanted = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
    with_coordinator(bootstrap, lambda c: c.commit(offsets=wanted, asynchronous=False))


def committed(bootstrap: str, partitions: list) -> dict:
    wanted = [TopicPartition(t, p) for t, p in partitions]
    found = with_coordinator(bootstrap, lambda c: c.committed(wanted, timeout=ADMIN_TIMEOUT_S))
    return {(tp.topic, tp.partition): tp.offset for tp in found}


def produce_error(bootstrap: str, topic: str, partition: int, key: bytes, value: bytes):
    errors = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "retries": 0,
                         "message.timeout.ms": int(DELIVERY_TIMEOUT_S * 1000)})
    producer.produce(topic, key=key, value=value, partition=partition,
                     on_delivery=lambda err, _msg: errors.append(err))
    assert producer.flush(DELIVERY_TIMEOUT_S) == 0
    assert len(errors) == 1
    return errors[0]


def test_clients_cannot_append_to_or_delete_records_of_consumer_offsets(broker_factory,
                                                                         topic_name):
    broker = broker_factory()
    create_topic(broker.bootstrap, topic_name)
    commit(broker.bootstrap, {(topic_name, 0): 7})  # creates __consumer_offsets
    partitions = len(admin(broker.bootstrap).list_topics(OFFSETS_TOPIC, timeout=ADMIN_TIMEOUT_S)
                     .topics[OFFSETS_TOPIC].partitions)
    assert partitions > 0

    # The record that kept vltava from starting: key version 99, on every partition.
    for partition in range(partitions):
        error = produce_error(broker.bootstrap, OFFSETS_TOPIC, partition, b"\x00\x63junk", b"v")
        assert error is not None and error.code() == KafkaError.TOPIC_EXCEPTION, (partition, error)

    client = admin(broker.bootstrap)  # kept: its futures complete only while it lives
    deleted = client.delete_records([TopicPartition(OFFSETS_TOPIC, 0, 0)])
    with pytest.raises(Exception) as refused:
        deleted[TopicPartition(OFFSETS_TOPIC, 0, 0)].result(ADMIN_TIMEOUT_S)
    assert refused.value.args[0].code() == KafkaError.TOPIC_EXCEPTION

    broker.kill9()
    broker.restart()
    assert committed(broker.bootstrap, [(topic_name, 0)]) == {(topic_name, 0): 7}
