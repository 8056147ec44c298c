"""Topic and broker configuration through confluent-kafka's AdminClient, as Kafka answers it.

Guards against: DescribeConfigs showing only a partial list or wrong sources, an incremental
DELETE that does not bring the default back, list APPEND/SUBTRACT that lose elements, invalid
names or values accepted (they must be INVALID_CONFIG), validate_only that changes something,
and a config change that is not persisted across a restart.
"""

import time

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, ConfigResource,
                                   ConfigSource, ResourceType)

from helpers import ADMIN_TIMEOUT_S, admin, create_topic

# Kafka 4.4.0's topic configs include these; DescribeConfigs must show every one.
SOME_TOPIC_CONFIGS = {"cleanup.policy", "compression.type", "delete.retention.ms",
                      "max.message.bytes", "message.timestamp.type", "min.insync.replicas",
                      "retention.bytes", "retention.ms", "segment.bytes", "segment.ms",
                      "unclean.leader.election.enable"}


def describe(client, topic: str) -> dict:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    return client.describe_configs([resource])[resource].result(timeout=ADMIN_TIMEOUT_S)


# Kafka applies config changes through its metadata log: a describe right after an alter may
# still show the old value for a moment.
SETTLE_TIMEOUT_S = 10.0


def settled(client, topic: str, name: str, wanted) -> object:
    """The config entry once `wanted(entry)` holds, polling until SETTLE_TIMEOUT_S."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        entry = describe(client, topic)[name]
        if wanted(entry) or time.monotonic() > deadline:
            return entry
        time.sleep(0.1)  # poll interval, bounded by the deadline


def alter(client, topic: str, *entries: ConfigEntry, validate_only: bool = False):
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=list(entries))
    return client.incremental_alter_configs(
        [resource], validate_only=validate_only)[resource].result(timeout=ADMIN_TIMEOUT_S)


def test_describe_configs_lists_every_topic_config_with_its_source(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=1, config={"retention.ms": "123456"})
    configs = describe(admin(broker.bootstrap), topic_name)
    assert SOME_TOPIC_CONFIGS <= set(configs), SOME_TOPIC_CONFIGS - set(configs)
    assert len(configs) >= 35
    assert configs["retention.ms"].value == "123456"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["cleanup.policy"].value == "delete"
    assert configs["cleanup.policy"].source == ConfigSource.DEFAULT_CONFIG.value
    assert configs["message.timestamp.type"].value == "CreateTime"


def test_incremental_set_delete_append_and_subtract(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=1)
    client = admin(broker.bootstrap)
    alter(client, topic_name, ConfigEntry("retention.ms", "60000",
                                          incremental_operation=AlterConfigOpType.SET))
    retention = settled(client, topic_name, "retention.ms", lambda e: e.value == "60000")
    assert retention.value == "60000"
    assert retention.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value

    alter(client, topic_name, ConfigEntry("retention.ms", None,
                                          incremental_operation=AlterConfigOpType.DELETE))
    retention = settled(client, topic_name, "retention.ms", lambda e: e.value == "604800000")
    assert retention.value == "604800000"
    assert retention.source in (ConfigSource.DEFAULT_CONFIG.value,
                                ConfigSource.STATIC_BROKER_CONFIG.value)

    alter(client, topic_name, ConfigEntry("cleanup.policy", "compact",
                                          incremental_operation=AlterConfigOpType.APPEND))
    policy = settled(client, topic_name, "cleanup.policy", lambda e: "compact" in e.value)
    assert set(policy.value.split(",")) == {"delete", "compact"}
    alter(client, topic_name, ConfigEntry("cleanup.policy", "delete",
                                          incremental_operation=AlterConfigOpType.SUBTRACT))
    policy = settled(client, topic_name, "cleanup.policy", lambda e: e.value == "compact")
    assert policy.value == "compact"


@pytest.mark.parametrize("name,value", [("retention.msx", "1"), ("retention.ms", "-5"),
                                        ("cleanup.policy", "shred"), ("segment.bytes", "1024")])
def test_invalid_configs_are_refused_with_invalid_config(broker, topic_name, name, value):
    create_topic(broker.bootstrap, topic_name, partitions=1)
    client = admin(broker.bootstrap)
    with pytest.raises(KafkaException) as refused:
        alter(client, topic_name, ConfigEntry(name, value,
                                              incremental_operation=AlterConfigOpType.SET))
    assert refused.value.args[0].name() == "INVALID_CONFIG", refused.value


def test_validate_only_changes_nothing(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=1)
    client = admin(broker.bootstrap)
    alter(client, topic_name, ConfigEntry("retention.ms", "60000",
                                          incremental_operation=AlterConfigOpType.SET),
          validate_only=True)
    assert describe(client, topic_name)["retention.ms"].value == "604800000"


def test_altered_configs_survive_a_restart(broker_factory, topic_name):
    broker = broker_factory()
    create_topic(broker.bootstrap, topic_name, partitions=1)
    alter(admin(broker.bootstrap), topic_name,
          ConfigEntry("max.message.bytes", "65536", incremental_operation=AlterConfigOpType.SET))
    settled(admin(broker.bootstrap), topic_name, "max.message.bytes", lambda e: e.value == "65536")
    broker.restart()
    assert describe(admin(broker.bootstrap), topic_name)["max.message.bytes"].value == "65536"


def test_broker_configs_are_described(broker):
    client = admin(broker.bootstrap)
    metadata = client.list_topics(timeout=ADMIN_TIMEOUT_S)
    broker_id = next(iter(metadata.brokers))
    resource = ConfigResource(ResourceType.BROKER, str(broker_id))
    configs = client.describe_configs([resource])[resource].result(timeout=ADMIN_TIMEOUT_S)
    assert len(configs) >= 200
    assert "log.retention.ms" in configs and "num.partitions" in configs
    assert configs["log.retention.ms"].value is not None or configs["log.retention.hours"].value == "168"
