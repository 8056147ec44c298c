"""The admin HTTP listener (/metrics, /health, /ready) with librdkafka traffic, on one node or
every node of the cluster.

Guards against: BrokerTopicMetrics that miss records or count them twice (summed over the
nodes, a topic's messagesin is the number of records produced), consumer lag that is not the
high watermark minus the committed offset, more or fewer than one active controller, and
/health or /ready failing on a broker that serves. Kafka has no such endpoint: vltava only.
"""

import re
import time
import urllib.error
import urllib.request

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from helpers import create_topic

pytestmark = pytest.mark.vltava_only

HTTP_TIMEOUT_S = 10.0
SCRAPE_WAIT_S = 20.0
RECORDS = 40
COMMITTED = 15
SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def nodes(broker) -> list:
    return getattr(broker, "nodes", [broker])


def get(http: str, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{http}{path}", timeout=HTTP_TIMEOUT_S) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def scrape(http: str) -> dict:
    """Every sample of one /metrics answer: (name, labels text) → value."""
    status, body = get(http, "/metrics")
    assert status == 200, body
    assert body.rstrip().endswith("# EOF")
    samples = {}
    for line in body.splitlines():
        match = SAMPLE_RE.match(line)
        if match:
            samples[(match.group(1), match.group(2) or "")] = float(match.group(3))
    return samples


def total(scrapes: list, name: str, labels: str = "") -> float:
    return sum(s.get((name, labels), 0.0) for s in scrapes)


def test_health_and_ready(broker):
    for node in nodes(broker):
        assert get(node.http, "/health") == (200, "ok\n")
        status, body = get(node.http, "/ready")
        assert status == 200, body


def test_metrics_count_records_and_lag(broker, topic_name):
    replicas = len(nodes(broker))
    # Every node holds a replica, so the group's coordinator, wherever it is, has the
    # partition's high watermark to compute the lag from.
    create_topic(broker.bootstrap, topic_name, partitions=1, replication_factor=replicas)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    for i in range(RECORDS):
        producer.produce(topic_name, value=f"record {i}".encode(), partition=0)
    assert producer.flush(30) == 0

    group = f"{topic_name}-group"
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        consumer.assign([TopicPartition(topic_name, 0, 0)])
        got = 0
        deadline = time.monotonic() + 60
        while got < COMMITTED and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                got += 1
        assert got >= COMMITTED
        consumer.commit(offsets=[TopicPartition(topic_name, 0, COMMITTED)], asynchronous=False)
    finally:
        consumer.close()

    topic = f'{{topic="{topic_name}"}}'
    lag = f'{{consumergroup="{group}",topic="{topic_name}",partition="0"}}'
    deadline = time.monotonic() + SCRAPE_WAIT_S
    while True:
        scrapes = [scrape(node.http) for node in nodes(broker)]
        if total(scrapes, "kafka_consumergroup_lag", lag) > 0 or time.monotonic() > deadline:
            break
        time.sleep(0.1)  # poll interval: a commit has no event a scraper can await
    # The leader counts the records; followers' appends are replication, not produce.
    assert total(scrapes, "kafka_server_brokertopicmetrics_messagesin_total", topic) == RECORDS
    assert total(scrapes, "kafka_server_brokertopicmetrics_bytesin_total", topic) > 0
    assert total(scrapes, "kafka_server_brokertopicmetrics_bytesout_total", topic) > 0
    assert total(scrapes, "kafka_consumergroup_lag", lag) == RECORDS - COMMITTED
    assert total(scrapes, "kafka_controller_kafkacontroller_activecontrollercount") == 1
    leaders = total(scrapes, "kafka_server_replicamanager_leadercount")
    assert leaders >= 1
    assert total(scrapes, "kafka_server_replicamanager_partitioncount") >= leaders
