"""Zero-configuration networking (issue 17): a broker that binds every address and has no
advertised listener names itself, in Metadata, DescribeCluster and FindCoordinator, by the
address each client reached it at. The same broker then works from every network it is
reachable on (the host, a container, a compose network) without advertised.listeners.

Guards against: a wildcard broker that tells clients to go to 0.0.0.0 (or to one fixed
address), so that a client on another address bootstraps and then loses the broker; a
coordinator lookup that still names the bind address.

Two loopback addresses of one broker stand in for two networks. Kafka refuses a wildcard
without an advertised listener (it advertises the canonical host name), so this runs on
vltava only, on a broker of its own.
"""

import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from kafka.protocol.metadata.find_coordinator import FindCoordinatorRequest

import kafka_wire
from conftest import VltavaBroker

pytestmark = [pytest.mark.vltava_only,
              pytest.mark.single_node("starts its own broker bound to 0.0.0.0")]

TIMEOUT_S = 30.0
ADDRESSES = ("127.0.0.1", "127.0.0.2")


@pytest.fixture
def wildcard_broker(tmp_path):
    data_dir = tmp_path / "wildcard"
    data_dir.mkdir()
    broker = VltavaBroker(data_dir, auto_create_topics=True, num_partitions=1,
                          retention_check_interval_ms=None, host="0.0.0.0")
    yield broker
    broker.stop()


def consume_one_in_group(bootstrap: str, topic: str, group: str) -> bytes:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            if message.error() is not None:
                raise KafkaException(message.error())
            consumer.commit(message=message, asynchronous=False)
            return message.value()
        raise AssertionError(f"nothing consumed from {topic} at {bootstrap} in {TIMEOUT_S}s")
    finally:
        consumer.close()


def test_each_client_is_told_the_address_it_connected_to(wildcard_broker):
    port = wildcard_broker.port
    for address in ADDRESSES:
        bootstrap = f"{address}:{port}"
        admin = AdminClient({"bootstrap.servers": bootstrap})
        brokers = admin.list_topics(timeout=TIMEOUT_S).brokers.values()
        assert [(b.host, b.port) for b in brokers] == [(address, port)], bootstrap
        cluster = admin.describe_cluster(request_timeout=TIMEOUT_S).result(timeout=TIMEOUT_S)
        assert [(n.host, n.port) for n in cluster.nodes] == [(address, port)], bootstrap


def test_clients_on_two_addresses_produce_and_consume_in_groups(wildcard_broker):
    port = wildcard_broker.port
    topic = f"zero-config-{uuid.uuid4().hex[:8]}"
    for address in ADDRESSES:
        bootstrap = f"{address}:{port}"
        producer = Producer({"bootstrap.servers": bootstrap})
        producer.produce(topic, value=address.encode())
        assert producer.flush(TIMEOUT_S) == 0, f"undelivered through {bootstrap}"
    for address in ADDRESSES:
        bootstrap = f"{address}:{port}"
        group = f"zero-config-{address}"
        assert consume_one_in_group(bootstrap, topic, group) == ADDRESSES[0].encode()
        # librdkafka shows a coordinator by its Metadata address: ask FindCoordinator itself,
        # in the one-key (v3) and the batched (v4+) shape.
        with kafka_wire.Connection(bootstrap, client_id="zero-config") as conn:
            v3 = conn.send(FindCoordinatorRequest, 3, {"key": group, "key_type": 0})
            v4 = conn.send(FindCoordinatorRequest, 4, {"key_type": 0,
                                                       "coordinator_keys": [group]})
        assert (v3["error_code"], v3["host"], v3["port"]) == (0, address, port), v3
        [found] = v4["coordinators"]
        assert (found["error_code"], found["host"], found["port"]) == (0, address, port), v4
