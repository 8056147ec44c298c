"""Dynamic broker configs (KIP-226) through confluent-kafka's AdminClient, as Kafka answers them.

Guards against: a dynamic broker config that is stored but not described with its source
(DYNAMIC_BROKER_CONFIG / DYNAMIC_DEFAULT_BROKER_CONFIG), one that does not become the default
of topics without their own override, the wrong precedence between the per-broker value and the
cluster-wide default, a DELETE that does not bring the static value back, configs Kafka cannot
change at run time accepted (they must be INVALID_REQUEST with Kafka's message), and a wrong
broker id accepted.

Every test runs on a private broker: dynamic broker configs would leak into other tests.
Kafka applies them through its metadata log, so reads poll with a bound.
"""

import socket
import struct
import time

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, ConfigResource,
                                   ConfigSource, ResourceType)

from helpers import ADMIN_TIMEOUT_S, admin, create_topic, first_address, first_node_id

SETTLE_TIMEOUT_S = 15.0
KAFKA_DEFAULT_RETENTION_MS = "604800000"


def node_id(bootstrap: str) -> str:
    """The broker the raw requests here go to (the first of the bootstrap list)."""
    return str(first_node_id(bootstrap))


def alter_every_broker(client, *entries: ConfigEntry) -> None:
    """A per-broker change on every broker: a topic's described config and its logs follow
    the per-broker values of the broker that answers or hosts it, which may be any of them."""
    for broker_id in sorted(client.list_topics(timeout=ADMIN_TIMEOUT_S).brokers):
        alter_broker(client, str(broker_id), *entries)


def describe(client, resource_type, name: str) -> dict:
    resource = ConfigResource(resource_type, name)
    return client.describe_configs([resource])[resource].result(timeout=ADMIN_TIMEOUT_S)


def settled(client, resource_type, name: str, config: str, wanted):
    """The config entry once `wanted(entry)` holds, polling until SETTLE_TIMEOUT_S."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        entry = describe(client, resource_type, name).get(config)
        if (entry is not None and wanted(entry)) or time.monotonic() > deadline:
            return entry
        time.sleep(0.1)  # poll interval, bounded by the deadline


def alter_broker(client, broker_id: str, *entries: ConfigEntry, validate_only: bool = False):
    resource = ConfigResource(ResourceType.BROKER, broker_id, incremental_configs=list(entries))
    return client.incremental_alter_configs(
        [resource], validate_only=validate_only)[resource].result(timeout=ADMIN_TIMEOUT_S)


def set_op(name: str, value: str) -> ConfigEntry:
    return ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)


def delete_op(name: str) -> ConfigEntry:
    return ConfigEntry(name, None, incremental_operation=AlterConfigOpType.DELETE)


def refusal(call) -> KafkaError:
    with pytest.raises(KafkaException) as raised:
        call()
    return raised.value.args[0]


# confluent-kafka refuses a BROKER resource named "" (the cluster-wide default) before sending
# it, so that entity is altered and described with hand-encoded IncrementalAlterConfigs v0 and
# DescribeConfigs v1 over a socket.
API_DESCRIBE_CONFIGS = 32
API_INCREMENTAL_ALTER_CONFIGS = 44
RESOURCE_BROKER = 4
OP_SET, OP_DELETE = 0, 1


def _string(value: str | None) -> bytes:
    if value is None:
        return struct.pack(">h", -1)
    encoded = value.encode()
    return struct.pack(">h", len(encoded)) + encoded


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise AssertionError("the broker closed the connection")
        data += chunk
    return data


def _call(bootstrap: str, api_key: int, version: int, body: bytes) -> bytes:
    """One request (header v1) and its response after the correlation id."""
    request = struct.pack(">hhi", api_key, version, 1) + _string("raw") + body
    host, port = first_address(bootstrap).split(":")
    with socket.create_connection((host, int(port)), timeout=ADMIN_TIMEOUT_S) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        size = struct.unpack(">i", _read_exactly(sock, 4))[0]
        return _read_exactly(sock, size)[4:]


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.offset = data, 0

    def take(self, fmt: str):
        value = struct.unpack_from(fmt, self.data, self.offset)[0]
        self.offset += struct.calcsize(fmt)
        return value

    def string(self) -> str | None:
        length = self.take(">h")
        if length < 0:
            return None
        value = self.data[self.offset:self.offset + length].decode()
        self.offset += length
        return value


def raw_describe_broker_defaults(bootstrap: str) -> dict:
    """DescribeConfigs v1 (with synonyms) of BROKER "": {name: (value, source, synonyms)}."""
    body = struct.pack(">i", 1) + struct.pack(">b", RESOURCE_BROKER) + _string("")
    body += struct.pack(">i", -1) + struct.pack(">?", True)  # every key; synonyms
    reader = _Reader(_call(bootstrap, API_DESCRIBE_CONFIGS, 1, body))
    reader.take(">i")  # throttle time
    assert reader.take(">i") == 1
    code, message = reader.take(">h"), reader.string()
    assert code == 0, (code, message)
    reader.take(">b")
    reader.string()
    configs = {}
    for _ in range(reader.take(">i")):
        name, value = reader.string(), reader.string()
        reader.take(">?")  # read only
        source = reader.take(">b")
        reader.take(">?")  # sensitive
        synonyms = []
        for _ in range(reader.take(">i")):
            synonyms.append((reader.string(), reader.string(), reader.take(">b")))
        configs[name] = (value, source, synonyms)
    return configs


def raw_alter_broker(bootstrap: str, name: str, ops: list, validate_only: bool = False):
    """IncrementalAlterConfigs v0 on BROKER `name`; returns (error_code, error_message)."""
    body = struct.pack(">i", 1) + struct.pack(">b", RESOURCE_BROKER) + _string(name)
    body += struct.pack(">i", len(ops))
    for config, op, value in ops:
        body += _string(config) + struct.pack(">b", op) + _string(value)
    body += struct.pack(">?", validate_only)
    reader = _Reader(_call(bootstrap, API_INCREMENTAL_ALTER_CONFIGS, 0, body))
    reader.take(">i")  # throttle time
    assert reader.take(">i") == 1
    return reader.take(">h"), reader.string()


def test_dynamic_log_retention_ms_is_described_and_becomes_the_topic_default(broker_factory,
                                                                           topic_name):
    broker = broker_factory()
    client = admin(broker.bootstrap)
    broker_id = node_id(broker.bootstrap)
    create_topic(broker.bootstrap, topic_name, partitions=1)

    alter_every_broker(client, set_op("log.retention.ms", "3600000"))
    retention = settled(client, ResourceType.BROKER, broker_id, "log.retention.ms",
                        lambda e: e.value == "3600000")
    assert retention.value == "3600000"
    assert retention.source == ConfigSource.DYNAMIC_BROKER_CONFIG.value
    assert not retention.is_read_only
    assert "log.retention.ms" in retention.synonyms

    topic_retention = settled(client, ResourceType.TOPIC, topic_name, "retention.ms",
                              lambda e: e.value == "3600000")
    assert topic_retention.value == "3600000"
    assert topic_retention.source == ConfigSource.DYNAMIC_BROKER_CONFIG.value
    assert "log.retention.ms" in topic_retention.synonyms

    alter_every_broker(client, delete_op("log.retention.ms"))
    topic_retention = settled(client, ResourceType.TOPIC, topic_name, "retention.ms",
                              lambda e: e.value == KAFKA_DEFAULT_RETENTION_MS)
    assert topic_retention.value == KAFKA_DEFAULT_RETENTION_MS
    assert topic_retention.source == ConfigSource.DEFAULT_CONFIG.value
    retention = describe(client, ResourceType.BROKER, broker_id)["log.retention.ms"]
    assert retention.source != ConfigSource.DYNAMIC_BROKER_CONFIG.value


def test_per_broker_value_wins_over_the_cluster_default(broker_factory, topic_name):
    broker = broker_factory()
    client = admin(broker.bootstrap)
    broker_id = node_id(broker.bootstrap)
    create_topic(broker.bootstrap, topic_name, partitions=1)

    assert raw_alter_broker(broker.bootstrap, "", [("log.segment.bytes", OP_SET, "2000000")]) \
        == (0, None)
    segment = settled(client, ResourceType.TOPIC, topic_name, "segment.bytes",
                      lambda e: e.value == "2000000")
    assert segment.value == "2000000"
    assert segment.source == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value
    on_broker = describe(client, ResourceType.BROKER, broker_id)["log.segment.bytes"]
    assert on_broker.source == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value
    default_source = ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value
    # Kafka also lists what `kafka-storage format` set there (min.insync.replicas).
    assert raw_describe_broker_defaults(broker.bootstrap)["log.segment.bytes"] == (
        "2000000", default_source, [("log.segment.bytes", "2000000", default_source)])

    alter_every_broker(client, set_op("log.segment.bytes", "3000000"))
    segment = settled(client, ResourceType.TOPIC, topic_name, "segment.bytes",
                      lambda e: e.value == "3000000")
    assert segment.value == "3000000"
    assert segment.source == ConfigSource.DYNAMIC_BROKER_CONFIG.value

    alter_every_broker(client, delete_op("log.segment.bytes"))
    segment = settled(client, ResourceType.TOPIC, topic_name, "segment.bytes",
                      lambda e: e.value == "2000000")
    assert segment.source == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value

    assert raw_alter_broker(broker.bootstrap, "", [("log.segment.bytes", OP_DELETE, None)]) \
        == (0, None)
    segment = settled(client, ResourceType.TOPIC, topic_name, "segment.bytes",
                      lambda e: e.value == "1073741824")
    assert segment.source == ConfigSource.DEFAULT_CONFIG.value


def test_configs_kafka_cannot_change_at_run_time_are_refused(broker_factory):
    broker = broker_factory()
    client = admin(broker.bootstrap)
    broker_id = node_id(broker.bootstrap)
    for name, value in [("num.partitions", "3"), ("log.dirs", "/elsewhere"),
                        ("log.retention.hours", "1")]:
        error = refusal(lambda: alter_broker(client, broker_id, set_op(name, value)))
        assert error.code() == KafkaError.INVALID_REQUEST, (name, error)
        assert error.str() == f"Cannot update these configs dynamically: [{name}]"

    error = refusal(lambda: alter_broker(client, broker_id, set_op("log.retention.ms", "soon")))
    assert error.code() == KafkaError.INVALID_REQUEST
    assert error.str() == ("Invalid value soon for configuration log.retention.ms: "
                           "Not a number of type LONG")
    error = refusal(lambda: alter_broker(client, broker_id,
                                         ConfigEntry("log.retention.ms", "1",
                                                     incremental_operation=AlterConfigOpType.APPEND)))
    assert error.code() == KafkaError.INVALID_CONFIG

    # listeners may change per broker, not as the cluster-wide default.
    code, message = raw_alter_broker(broker.bootstrap, "",
                                     [("listeners", OP_SET, "PLAINTEXT://127.0.0.1:1")])
    assert code == KafkaError.INVALID_REQUEST
    assert message.startswith("Cannot update these configs at default cluster level")

    code, message = raw_alter_broker(broker.bootstrap, str(int(broker_id) + 1),
                                     [("log.retention.ms", OP_SET, "1")])
    assert code == KafkaError.INVALID_REQUEST
    assert message == f"Unexpected broker id, expected {broker_id}, but received {int(broker_id) + 1}"


def test_validate_only_changes_no_broker_config(broker_factory):
    broker = broker_factory()
    client = admin(broker.bootstrap)
    broker_id = node_id(broker.bootstrap)
    alter_broker(client, broker_id, set_op("log.retention.ms", "3600000"), validate_only=True)
    assert raw_alter_broker(broker.bootstrap, "", [("log.retention.ms", OP_SET, "7200000")],
                            validate_only=True) == (0, None)
    retention = describe(client, ResourceType.BROKER, broker_id)["log.retention.ms"]
    assert retention.source not in (ConfigSource.DYNAMIC_BROKER_CONFIG.value,
                                    ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)


def test_dynamic_broker_configs_survive_a_restart(broker_factory, topic_name):
    broker = broker_factory()
    client = admin(broker.bootstrap)
    create_topic(broker.bootstrap, topic_name, partitions=1)
    alter_every_broker(client, set_op("log.retention.ms", "3600000"))
    assert raw_alter_broker(broker.bootstrap, "", [("log.segment.bytes", OP_SET, "2000000")]) \
        == (0, None)
    settled(client, ResourceType.TOPIC, topic_name, "segment.bytes",
            lambda e: e.value == "2000000")

    broker.restart()
    client = admin(broker.bootstrap)
    retention = settled(client, ResourceType.TOPIC, topic_name, "retention.ms",
                        lambda e: e.value == "3600000")
    assert retention.value == "3600000"
    assert retention.source == ConfigSource.DYNAMIC_BROKER_CONFIG.value
    segment = describe(client, ResourceType.TOPIC, topic_name)["segment.bytes"]
    assert segment.value == "2000000"
    assert segment.source == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value
