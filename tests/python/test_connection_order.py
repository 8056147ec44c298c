"""Requests on one connection take effect in order, as on Apache Kafka (one request per
connection at a time).

Guards against: a request answered from state older than an earlier request on the same
connection, because the earlier one (an asynchronous offset commit, an acks=all produce)
was still being handled when the later one ran. librdkafka's commit(asynchronous=True)
followed by committed() saw the previous offset; a pipelined acks=all produce followed by
ListOffsets(LATEST) saw the log end offset before the append.
"""

import time

from confluent_kafka import Consumer, TopicPartition
from kafka.protocol.consumer.offsets import ListOffsetsRequest
from kafka.protocol.producer.produce import ProduceRequest
from kafka.record.default_records import DefaultRecordBatchBuilder

from helpers import consumer_config, create_topic, leader_address
from kafka_wire import Connection

COMMITS = 30
PRODUCES = 30
RECORDS_PER_BATCH = 3
ACKS_ALL = -1
LATEST_TIMESTAMP = -1
REQUEST_TIMEOUT_MS = 10_000
PRODUCE_VERSION = 9
LIST_OFFSETS_VERSION = 7


def test_async_commit_then_committed_sees_the_commit(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    consumer = Consumer(consumer_config(broker.bootstrap, **{"group.id": topic_name}))
    try:
        partition = TopicPartition(topic_name, 0)
        consumer.assign([partition])
        # A synchronous first commit finds the group coordinator, so that the asynchronous
        # commits below and the committed() reads travel on the same connection to it.
        consumer.commit(offsets=[TopicPartition(topic_name, 0, 0)], asynchronous=False)
        for offset in range(1, COMMITS + 1):
            consumer.commit(offsets=[TopicPartition(topic_name, 0, offset)], asynchronous=True)
            [committed] = consumer.committed([partition], timeout=10)
            assert committed.error is None, committed.error
            assert committed.offset == offset, f"committed {offset}, then read {committed.offset}"
    finally:
        consumer.close()


def batch(count: int) -> bytes:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                        batch_size=1 << 20)
    now_ms = int(time.time() * 1000)
    for offset in range(count):
        builder.append(offset, timestamp=now_ms, key=None, value=b"v", headers=[])
    return bytes(builder.build())


def test_pipelined_produce_then_list_offsets_sees_the_append(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    produce = {"transactional_id": None, "acks": ACKS_ALL, "timeout_ms": REQUEST_TIMEOUT_MS,
               "topic_data": [{"name": topic_name, "partition_data": [
                   {"index": 0, "records": batch(RECORDS_PER_BATCH)}]}]}
    list_offsets = {"replica_id": -1, "isolation_level": 0, "topics": [
        {"name": topic_name, "partitions": [
            {"partition_index": 0, "current_leader_epoch": -1, "timestamp": LATEST_TIMESTAMP}]}]}
    with Connection(leader_address(broker.bootstrap, topic_name, 0)) as conn:
        for round_ in range(1, PRODUCES + 1):
            produced, listed = conn.pipeline([
                (ProduceRequest, PRODUCE_VERSION, produce),
                (ListOffsetsRequest, LIST_OFFSETS_VERSION, list_offsets)])
            [appended] = produced["responses"][0]["partition_responses"]
            assert appended["error_code"] == 0, appended
            [answer] = listed["topics"][0]["partitions"]
            assert answer["error_code"] == 0, answer
            assert answer["offset"] == round_ * RECORDS_PER_BATCH, (
                f"after {round_} acknowledged batches the log end offset read {answer['offset']}")
