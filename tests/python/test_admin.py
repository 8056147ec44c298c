"""AdminClient (confluent-kafka) topic lifecycle: create with a per-topic config, duplicate
and invalid names, validate_only, delete.

Guards against: per-topic configs dropped at creation, a re-create silently succeeding or
wiping data, invalid names accepted (a '/' would escape the log directory, a 250-char name
exceeds the file-name limit once the partition suffix is added), validate_only creating the
topic anyway, and a deleted topic still accepting writes.
"""

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import ConfigResource, NewTopic, ResourceType

from helpers import ADMIN_TIMEOUT_S, admin, create_topic

RETENTION_MS = "3600000"


def create_error(client, topic: NewTopic, **options) -> KafkaError | None:
    futures = client.create_topics([topic], operation_timeout=ADMIN_TIMEOUT_S,
                                   request_timeout=ADMIN_TIMEOUT_S, **options)
    try:
        futures[topic.topic].result(timeout=ADMIN_TIMEOUT_S)
        return None
    except KafkaException as error:
        return error.args[0]


def topic_exists(client, name: str) -> bool:
    return name in client.list_topics(timeout=10).topics


def test_create_topic_keeps_its_per_topic_config(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2, config={"retention.ms": RETENTION_MS})
    client = admin(broker.bootstrap)
    resource = ConfigResource(ResourceType.TOPIC, topic_name)
    configs = client.describe_configs([resource], request_timeout=ADMIN_TIMEOUT_S)[resource] \
        .result(timeout=ADMIN_TIMEOUT_S)
    assert configs["retention.ms"].value == RETENTION_MS
    assert len(client.list_topics(topic=topic_name, timeout=10).topics[topic_name].partitions) == 2


def test_recreating_an_existing_topic_fails_with_topic_already_exists(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    error = create_error(admin(broker.bootstrap), NewTopic(topic_name, 3, 1))
    assert error is not None and error.code() == KafkaError.TOPIC_ALREADY_EXISTS, error
    metadata = admin(broker.bootstrap).list_topics(topic=topic_name, timeout=10)
    assert len(metadata.topics[topic_name].partitions) == 1, "the re-create changed the topic"


@pytest.mark.parametrize("name", ["bad/name", "x" * 250, "..", "spaces are bad"],
                         ids=["slash", "250-chars", "dot-dot", "spaces"])
def test_invalid_topic_name_is_rejected_with_invalid_topic_exception(broker, name):
    client = admin(broker.bootstrap)
    error = create_error(client, NewTopic(name, 1, 1))
    assert error is not None and error.code() == KafkaError.TOPIC_EXCEPTION, error
    assert not topic_exists(client, name)


def test_validate_only_creates_nothing(broker, topic_name):
    client = admin(broker.bootstrap)
    assert create_error(client, NewTopic(topic_name, 2, 1), validate_only=True) is None
    assert not topic_exists(client, topic_name)
    error = create_error(client, NewTopic("bad/name", 1, 1), validate_only=True)
    assert error is not None and error.code() == KafkaError.TOPIC_EXCEPTION, error


def test_produce_to_deleted_topic_fails_with_unknown_topic_when_auto_create_is_off(broker_factory, topic_name):
    broker = broker_factory(auto_create_topics=False)
    create_topic(broker.bootstrap, topic_name)
    client = admin(broker.bootstrap)
    client.delete_topics([topic_name], operation_timeout=ADMIN_TIMEOUT_S)[topic_name] \
        .result(timeout=ADMIN_TIMEOUT_S)

    deadline = time.monotonic() + ADMIN_TIMEOUT_S
    while True:  # deletion propagates to the broker's metadata asynchronously in Kafka
        topic = client.list_topics(topic=topic_name, timeout=10).topics.get(topic_name)
        if topic is not None and topic.error is not None:
            break
        assert time.monotonic() < deadline, "deleted topic still in metadata"
        time.sleep(0.1)  # poll interval
    assert topic.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, topic.error

    errors = []
    producer = Producer({"bootstrap.servers": broker.bootstrap, "message.timeout.ms": 5000,
                         "topic.metadata.propagation.max.ms": 1000})
    producer.produce(topic_name, value=b"into the void", on_delivery=lambda e, m: errors.append(e))
    assert producer.flush(15) == 0
    assert len(errors) == 1 and errors[0] is not None
    # librdkafka reports the broker's UNKNOWN_TOPIC_OR_PARTITION as its local _UNKNOWN_TOPIC.
    assert errors[0].code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC), errors[0]
    assert not topic_exists(client, topic_name), "produce re-created the topic with auto-create off"
