"""min.insync.replicas on a single broker, as Apache Kafka 4.4.0 answers it: a topic with one
replica and min.insync.replicas=2 still takes acks=all writes, and they are stored (observed on
Kafka 4.4.0 on 2026-11-29; we expected NOT_ENOUGH_REPLICAS and have not traced which rule of
Kafka 4 lets the write through, likely KIP-966's handling of the min ISR). vltava does the same;
the test pins the behaviour against both brokers so that a change on either side is noticed.
"""

from confluent_kafka import Producer

from helpers import create_topic, high_watermarks

DELIVERY_TIMEOUT_S = 30


def send_one(bootstrap: str, topic: str, acks: str):
    """The delivery error of one record (None when acknowledged)."""
    results = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks,
                         "enable.idempotence": False, "message.timeout.ms": 5000,
                         "retries": 0})
    producer.produce(topic, value=b"v", on_delivery=lambda err, msg: results.append(err))
    assert producer.flush(DELIVERY_TIMEOUT_S) == 0
    assert len(results) == 1
    return results[0]


def test_acks_all_is_taken_when_min_insync_replicas_exceeds_one_replica(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=1,
                 config={"min.insync.replicas": "2"})
    # acks=1 first: vltava shows an acks=1 write once it is fsynced, and the acks=all write's
    # answer comes after the fsync that covers both.
    assert send_one(broker.bootstrap, topic_name, "1") is None
    assert send_one(broker.bootstrap, topic_name, "all") is None
    assert high_watermarks(broker.bootstrap, topic_name, 1) == {0: 2}
