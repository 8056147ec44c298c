"""Client-side helpers shared by the tests: topic creation and bounded read-back."""

import time

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.protocol.metadata.metadata import MetadataRequest

import kafka_wire

ADMIN_TIMEOUT_S = 30.0
READ_TIMEOUT_S = 120.0


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topic(bootstrap: str, name: str, partitions: int = 1, config: dict | None = None,
                 replication_factor: int = 1) -> None:
    client = admin(bootstrap)  # must outlive the futures: destroying it fails them
    futures = client.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=replication_factor,
                  config=config or {})],
        operation_timeout=ADMIN_TIMEOUT_S, request_timeout=ADMIN_TIMEOUT_S)
    futures[name].result(timeout=ADMIN_TIMEOUT_S)
    wait_for_leaders(bootstrap, name, partitions)


def wait_for_leaders(bootstrap: str, name: str, partitions: int, timeout_s: float = ADMIN_TIMEOUT_S) -> None:
    """Poll metadata until every partition of the topic has a leader (bounded), as each node
    of the bootstrap list answers it itself: in a cluster a node applies a new topic a moment
    after the one that created it, and a client asking it first would not know the topic."""
    deadline = time.monotonic() + timeout_s
    for address in bootstrap.split(","):
        while True:
            with kafka_wire.Connection(address, client_id="helpers") as conn:
                answer = conn.send(MetadataRequest, 12, {"topics": [{"name": name}],
                                                         "allow_auto_topic_creation": False})
            (topic,) = answer["topics"]
            leaders = [p["leader_id"] for p in topic["partitions"]]
            if topic["error_code"] == 0 and len(leaders) == partitions and -1 not in leaders:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"topic {name}: no leader for every partition at {address}: "
                                     f"{topic}")
            time.sleep(0.1)  # poll interval: a metadata change has no event a client can await


def first_address(bootstrap: str) -> str:
    """The first HOST:PORT of a bootstrap list: one broker, for a raw socket to it."""
    return bootstrap.split(",")[0]


def first_node_id(bootstrap: str) -> int:
    """The node id of the broker at first_address(bootstrap)."""
    address = first_address(bootstrap)
    brokers = admin(bootstrap).list_topics(timeout=ADMIN_TIMEOUT_S).brokers.values()
    [node] = [b.id for b in brokers if f"{b.host}:{b.port}" == address]
    return node


def leader_address(bootstrap: str, topic: str, partition: int) -> str:
    """HOST:PORT of the partition's leader, where a raw Produce or Fetch must go."""
    metadata = admin(bootstrap).list_topics(topic=topic, timeout=ADMIN_TIMEOUT_S)
    leader = metadata.brokers[metadata.topics[topic].partitions[partition].leader]
    return f"{leader.host}:{leader.port}"


def consumer_config(bootstrap: str, **extra) -> dict:
    config = {
        "bootstrap.servers": bootstrap,
        # librdkafka requires a group.id even for assign(); no group APIs are used.
        "group.id": "vltava-tests-assign-only",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "fetch.max.bytes": 64 * 1024 * 1024,
        "max.partition.fetch.bytes": 4 * 1024 * 1024,
        "receive.message.max.bytes": 128 * 1024 * 1024,
    }
    config.update(extra)
    return config


def read_partitions(bootstrap: str, topic: str, end_offsets: dict, timeout_s: float = READ_TIMEOUT_S,
                    **consumer_extra) -> dict:
    """Read [0, end) of each partition with assign(); return {partition: [Message, ...]}."""
    consumer = Consumer(consumer_config(bootstrap, **consumer_extra))
    try:
        wanted = {p: end for p, end in end_offsets.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, 0) for p in wanted])
        got = {p: [] for p in end_offsets}
        deadline = time.monotonic() + timeout_s
        while any(len(got[p]) < wanted[p] for p in wanted):
            if time.monotonic() > deadline:
                counts = {p: len(got[p]) for p in got}
                raise AssertionError(f"read {counts}, expected {wanted} within {timeout_s}s")
            for message in consumer.consume(num_messages=10_000, timeout=1.0):
                if message.error() is not None:
                    raise KafkaException(message.error())
                got[message.partition()].append(message)
        return got
    finally:
        consumer.close()


def high_watermarks(bootstrap: str, topic: str, partitions: int) -> dict:
    consumer = Consumer(consumer_config(bootstrap))
    try:
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(partitions)}
    finally:
        consumer.close()
