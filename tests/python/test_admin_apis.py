"""Admin APIs with real clients: CreatePartitions, DeleteRecords, ElectLeaders (confluent-kafka
AdminClient), DescribeLogDirs and DescribeProducers (kafka-python, which confluent-kafka lacks).

Guards against: a topic that shrinks or answers a non-growth with the wrong error, new
partitions that cannot take records or vanish on restart, a growth that stalls or fails
produce to the existing partitions, validate_only changing anything, replica assignments
naming brokers that do not exist; DeleteRecords that moves the low watermark backwards or
past the high watermark, deleted records still readable (a fetch below the low watermark must
be OFFSET_OUT_OF_RANGE, so auto.offset.reset applies), a low watermark lost on restart, records
deleted from a compacted topic; ElectLeaders errors where Kafka says ELECTION_NOT_NEEDED;
partition sizes and producer state that do not match what was written.
"""

import threading
import time

import pytest
from confluent_kafka import (Consumer, ElectionType, KafkaError, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import NewPartitions
from kafka import KafkaAdminClient
from kafka import TopicPartition as KafkaTopicPartition

from helpers import (ADMIN_TIMEOUT_S, admin, consumer_config, create_topic, read_partitions,
                     wait_for_leaders)

RECORDS = 10
VALUE_BYTES = 100
CONSUME_TIMEOUT_S = 30.0


def produce(bootstrap: str, topic: str, partition: int, count: int) -> None:
    """`count` records of VALUE_BYTES each, not idempotent (librdkafka's default)."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(count):
        producer.produce(topic, value=f"{i:0{VALUE_BYTES}d}".encode(), partition=partition)
    assert producer.flush(30) == 0


def grow(bootstrap: str, topic: str, count: int, **options) -> KafkaError | None:
    client = admin(bootstrap)
    new = NewPartitions(topic, count, **{k: v for k, v in options.items() if k == "replica_assignment"})
    futures = client.create_partitions([new], validate_only=options.get("validate_only", False),
                                       operation_timeout=ADMIN_TIMEOUT_S, request_timeout=ADMIN_TIMEOUT_S)
    try:
        futures[topic].result(timeout=ADMIN_TIMEOUT_S)
        return None
    except KafkaException as error:
        return error.args[0]


def partition_count(bootstrap: str, topic: str) -> int:
    return len(admin(bootstrap).list_topics(topic=topic, timeout=10).topics[topic].partitions)


def delete_records(bootstrap: str, topic: str, partition: int, offset: int):
    """The low watermark DeleteRecords answers, or the KafkaError it failed with."""
    client = admin(bootstrap)
    futures = client.delete_records([TopicPartition(topic, partition, offset)],
                                    request_timeout=ADMIN_TIMEOUT_S, operation_timeout=ADMIN_TIMEOUT_S)
    [future] = futures.values()
    try:
        return future.result(timeout=ADMIN_TIMEOUT_S).low_watermark
    except KafkaException as error:
        return error.args[0]


def watermarks(bootstrap: str, topic: str, partition: int) -> tuple[int, int]:
    consumer = Consumer(consumer_config(bootstrap))
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    finally:
        consumer.close()


def kafka_python_admin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(ADMIN_TIMEOUT_S * 1000))


# CreatePartitions

def test_grown_topic_takes_records_in_its_new_partitions(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    produce(broker.bootstrap, topic_name, 0, RECORDS)
    assert grow(broker.bootstrap, topic_name, 4) is None
    wait_for_leaders(broker.bootstrap, topic_name, 4)
    for partition in (1, 2, 3):
        produce(broker.bootstrap, topic_name, partition, partition)
    got = read_partitions(broker.bootstrap, topic_name, {0: RECORDS, 1: 1, 2: 2, 3: 3})
    assert {p: len(messages) for p, messages in got.items()} == {0: RECORDS, 1: 1, 2: 2, 3: 3}
    assert [m.offset() for m in got[3]] == [0, 1, 2]


def test_produce_to_existing_partitions_goes_on_while_a_topic_grows(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=1)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 1})
    errors, delivered, stop = [], [], threading.Event()

    def on_delivery(error, message):
        (errors if error is not None else delivered).append(error or message.offset())

    def keep_producing():
        while not stop.is_set():
            producer.produce(topic_name, value=b"during growth", partition=0, on_delivery=on_delivery)
            producer.poll(0.001)

    writer = threading.Thread(target=keep_producing, name="producer-during-growth")
    writer.start()
    try:
        time.sleep(0.3)  # let records flow before the growth
        for count in (3, 6, 12):
            assert grow(broker.bootstrap, topic_name, count) is None
        time.sleep(0.3)  # and after it
    finally:
        stop.set()
        writer.join(timeout=30)
    assert producer.flush(30) == 0
    assert errors == [] and len(delivered) > 0
    assert sorted(delivered) == list(range(len(delivered))), "partition 0 lost or repeated records"
    wait_for_leaders(broker.bootstrap, topic_name, 12)


def test_create_partitions_refuses_a_count_that_does_not_grow(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    same = grow(broker.bootstrap, topic_name, 2)
    assert same is not None and same.code() == KafkaError.INVALID_PARTITIONS, same
    assert same.str() == "Topic already has 2 partition(s)."
    fewer = grow(broker.bootstrap, topic_name, 1)
    assert fewer is not None and fewer.code() == KafkaError.INVALID_PARTITIONS, fewer
    assert fewer.str() == f"The topic {topic_name} currently has 2 partition(s); 1 would not be an increase."
    assert partition_count(broker.bootstrap, topic_name) == 2


def test_create_partitions_with_validate_only_adds_nothing(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=1)
    assert grow(broker.bootstrap, topic_name, 3, validate_only=True) is None
    refused = grow(broker.bootstrap, topic_name, 1, validate_only=True)
    assert refused is not None and refused.code() == KafkaError.INVALID_PARTITIONS, refused
    time.sleep(1)  # Kafka would propagate a (wrong) growth by now
    assert partition_count(broker.bootstrap, topic_name) == 1


def test_create_partitions_of_an_unknown_topic_fails_with_unknown_topic(broker, topic_name):
    error = grow(broker.bootstrap, topic_name + "-missing", 3)
    assert error is not None and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, error


def test_replica_assignments_place_partitions_on_the_named_registered_brokers(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=1)
    brokers = sorted(admin(broker.bootstrap).list_topics(timeout=10).brokers)
    first, last = brokers[0], brokers[-1]
    refused = grow(broker.bootstrap, topic_name, 3, replica_assignment=[[first], [last + 100]])
    assert refused is not None and refused.code() == KafkaError.INVALID_REPLICA_ASSIGNMENT, refused
    assert refused.str() == (f"The manual partition assignment includes broker {last + 100}, "
                             "but no such broker is registered.")
    twice = grow(broker.bootstrap, topic_name, 2, replica_assignment=[[first, first]])
    assert twice is not None and twice.code() == KafkaError.INVALID_REPLICA_ASSIGNMENT, twice
    # Whichever broker the admin client asks, the new partitions go where the assignment says
    # (in a cluster: the last broker, then the first).
    assert grow(broker.bootstrap, topic_name, 3, replica_assignment=[[last], [first]]) is None
    wait_for_leaders(broker.bootstrap, topic_name, 3)
    partitions = admin(broker.bootstrap).list_topics(topic=topic_name, timeout=10) \
        .topics[topic_name].partitions
    assert (partitions[1].leader, partitions[2].leader) == (last, first)


def test_added_partitions_and_their_records_survive_a_restart(broker_factory, topic_name):
    broker = broker_factory()
    create_topic(broker.bootstrap, topic_name, partitions=1)
    assert grow(broker.bootstrap, topic_name, 3) is None
    wait_for_leaders(broker.bootstrap, topic_name, 3)
    produce(broker.bootstrap, topic_name, 2, RECORDS)
    broker.restart()
    wait_for_leaders(broker.bootstrap, topic_name, 3)
    got = read_partitions(broker.bootstrap, topic_name, {0: 0, 1: 0, 2: RECORDS})
    assert len(got[2]) == RECORDS


# DeleteRecords

def test_delete_records_moves_the_low_watermark_forward_only(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    produce(broker.bootstrap, topic_name, 0, RECORDS)
    assert delete_records(broker.bootstrap, topic_name, 0, 4) == 4
    assert watermarks(broker.bootstrap, topic_name, 0) == (4, RECORDS)
    assert delete_records(broker.bootstrap, topic_name, 0, 2) == 4, "the low watermark went back"
    got = read_partitions(broker.bootstrap, topic_name, {0: RECORDS - 4})
    assert [m.offset() for m in got[0]][:1] == [4]
    # -1 (librdkafka's OFFSET_END) deletes everything up to the high watermark.
    assert delete_records(broker.bootstrap, topic_name, 0, -1) == RECORDS
    assert watermarks(broker.bootstrap, topic_name, 0) == (RECORDS, RECORDS)


def test_fetch_below_the_low_watermark_is_offset_out_of_range(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    produce(broker.bootstrap, topic_name, 0, RECORDS)
    assert delete_records(broker.bootstrap, topic_name, 0, 6) == 6

    strict = Consumer(consumer_config(broker.bootstrap, **{"auto.offset.reset": "error"}))
    try:
        strict.assign([TopicPartition(topic_name, 0, 2)])
        deadline = time.monotonic() + CONSUME_TIMEOUT_S
        while True:
            message = strict.poll(1.0)
            if message is not None:
                break
            assert time.monotonic() < deadline, "no answer to a fetch below the low watermark"
        assert message.error() is not None, f"read deleted offset {message.offset()}"
        assert message.error().code() == KafkaError._AUTO_OFFSET_RESET, message.error()
        assert "Offset out of range" in message.error().str(), message.error()
    finally:
        strict.close()

    resetting = Consumer(consumer_config(broker.bootstrap, **{"auto.offset.reset": "earliest"}))
    try:
        resetting.assign([TopicPartition(topic_name, 0, 2)])
        message = None
        deadline = time.monotonic() + CONSUME_TIMEOUT_S
        while message is None:
            assert time.monotonic() < deadline, "no record after the reset to earliest"
            message = resetting.poll(1.0)
        assert message.error() is None, message.error()
        assert message.offset() == 6
    finally:
        resetting.close()


def test_delete_records_past_the_high_watermark_is_offset_out_of_range(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    produce(broker.bootstrap, topic_name, 0, RECORDS)
    for offset in (RECORDS + 1, -5):
        error = delete_records(broker.bootstrap, topic_name, 0, offset)
        assert isinstance(error, KafkaError) and error.code() == KafkaError.OFFSET_OUT_OF_RANGE, error
    assert watermarks(broker.bootstrap, topic_name, 0) == (0, RECORDS)


def test_delete_records_on_a_compacted_topic_is_a_policy_violation(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, config={"cleanup.policy": "compact"})
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    producer.produce(topic_name, key=b"k", value=b"v", partition=0)
    assert producer.flush(30) == 0
    error = delete_records(broker.bootstrap, topic_name, 0, 1)
    assert isinstance(error, KafkaError) and error.code() == KafkaError.POLICY_VIOLATION, error
    assert watermarks(broker.bootstrap, topic_name, 0) == (0, 1)


def test_low_watermark_survives_a_restart(broker_factory, topic_name):
    broker = broker_factory()
    create_topic(broker.bootstrap, topic_name)
    produce(broker.bootstrap, topic_name, 0, RECORDS)
    assert delete_records(broker.bootstrap, topic_name, 0, 7) == 7
    broker.restart()
    wait_for_leaders(broker.bootstrap, topic_name, 1)
    assert watermarks(broker.bootstrap, topic_name, 0) == (7, RECORDS)


# ElectLeaders

@pytest.mark.parametrize("election", [ElectionType.PREFERRED, ElectionType.UNCLEAN],
                         ids=["preferred", "unclean"])
def test_elect_leaders_is_not_needed_for_partitions_that_have_their_leader(broker, topic_name, election):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    client = admin(broker.bootstrap)
    asked = [TopicPartition(topic_name, 0), TopicPartition(topic_name, 1),
             TopicPartition(topic_name, 9), TopicPartition(topic_name + "-missing", 0)]
    # No timeout options: confluent-kafka 2.16.1 fails on any keyword argument to elect_leaders.
    results = client.elect_leaders(election, asked).result(timeout=ADMIN_TIMEOUT_S)
    codes = {(tp.topic, tp.partition): error.code() if error else None for tp, error in results.items()}
    assert codes == {
        (topic_name, 0): KafkaError.ELECTION_NOT_NEEDED,
        (topic_name, 1): KafkaError.ELECTION_NOT_NEEDED,
        (topic_name, 9): KafkaError.UNKNOWN_TOPIC_OR_PART,
        (topic_name + "-missing", 0): KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
    messages = {(tp.topic, tp.partition): error.str() for tp, error in results.items()}
    assert messages[(topic_name, 9)] == f"No such partition as {topic_name}-9"
    assert messages[(topic_name + "-missing", 0)] == f"No such topic as {topic_name}-missing"
    # Every partition: those that need no election are left out, so nothing is listed.
    everything = client.elect_leaders(election, None).result(timeout=ADMIN_TIMEOUT_S)
    assert everything == {}


# DescribeLogDirs

def test_describe_log_dirs_reports_each_partition_size(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    produce(broker.bootstrap, topic_name, 0, RECORDS)
    client = kafka_python_admin(broker.bootstrap)
    try:
        # One answer per broker, one log dir each; each partition is in its leader's.
        by_broker = client.describe_log_dirs()
        brokers = len(admin(broker.bootstrap).list_topics(timeout=10).brokers)
        assert len(by_broker) == brokers, by_broker
        partitions = []
        for answer in by_broker:
            [log_dir] = answer["log_dirs"]
            assert log_dir["error_code"] == 0 and log_dir["log_dir"].startswith("/"), log_dir
            # The volume of the data directory, as both brokers read it from the file system.
            assert log_dir["total_bytes"] > 0 and log_dir["total_bytes"] >= log_dir["usable_bytes"] >= 0
            partitions += [p for t in log_dir["topics"] if t["name"] == topic_name
                           for p in t["partitions"]]
        sizes = {p["partition_index"]: p["partition_size"] for p in partitions}
        assert len(partitions) == 2 and sizes[1] == 0, partitions
        assert RECORDS * VALUE_BYTES < sizes[0] < RECORDS * (VALUE_BYTES + 200), sizes
        assert all(p["offset_lag"] == 0 and p["is_future_key"] is False for p in partitions)

        filtered = [(t["name"], [p["partition_index"] for p in t["partitions"]])
                    for answer in client.describe_log_dirs({topic_name: [0, 7]})
                    for t in answer["log_dirs"][0]["topics"] if t["partitions"]]
        assert filtered == [(topic_name, [0])]
    finally:
        client.close()


# DescribeProducers

def test_describe_producers_lists_the_idempotent_producer_of_a_partition(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    timestamp_ms = int(time.time() * 1000) - 60_000
    idempotent = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True,
                           "linger.ms": 5})
    for i in range(RECORDS):
        idempotent.produce(topic_name, value=f"{i}".encode(), partition=1, timestamp=timestamp_ms)
    assert idempotent.flush(30) == 0
    produce(broker.bootstrap, topic_name, 0, RECORDS)  # not idempotent: no producer state

    client = kafka_python_admin(broker.bootstrap)
    try:
        states = client.describe_producers([KafkaTopicPartition(topic_name, 0),
                                            KafkaTopicPartition(topic_name, 1)])
    finally:
        client.close()
    assert states[KafkaTopicPartition(topic_name, 0)].active_producers == []
    [state] = states[KafkaTopicPartition(topic_name, 1)].active_producers
    assert state.producer_id >= 0 and state.producer_epoch == 0
    assert state.last_sequence == RECORDS - 1
    assert state.last_timestamp == timestamp_ms
    assert state.coordinator_epoch == -1 and state.current_transaction_start_offset == -1
