"""Internal topics: only the broker writes them, and a record it cannot read there never
stops it from starting.

Guards against: a client appending to `__consumer_offsets` (one acks=all Produce of a record
with an unknown key version, then kill -9, and vltava refused to start with "malformed
__consumer_offsets record: unknown key version": a denial of service from one request), and a
loader that fails the whole start on one record it cannot parse instead of skipping it, as
Kafka skips unknown record types since KIP-915.

What Apache Kafka 4.4.0 answered for `__consumer_offsets` (scripts/kafka-reference, probed
with confluent-kafka): Produce INVALID_TOPIC_EXCEPTION, except from client id
`__admin_client`, which it lets append (vltava does not copy that: any client can send the
id); DeleteRecords INVALID_TOPIC_EXCEPTION; CreatePartitions, AlterConfigs,
IncrementalAlterConfigs and DeleteTopics succeed (vltava refuses CreatePartitions with
POLICY_VIOLATION, see docs/compatibility.md).
"""

import re
import struct
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from kafka.record.default_records import DefaultRecordBatchBuilder

from helpers import ADMIN_TIMEOUT_S, admin, create_topic

OFFSETS_TOPIC = "__consumer_offsets"
GROUP = "internal-topics-group"
DELIVERY_TIMEOUT_S = 30.0
COORDINATOR_WAIT_S = 60.0
COORDINATOR_RETRY_S = 0.5
COORDINATOR_NOT_READY = (KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                         KafkaError.COORDINATOR_NOT_AVAILABLE)
# Kafka's offset commit record: key version 1 (group, topic, partition), value version 3.
OFFSET_KEY_VERSION = 1
OFFSET_VALUE_VERSION = 3
# A value version newer than any Kafka writes today: KIP-915 makes versions from 4 on
# flexible and lets them grow only by tagged fields, so it is read as the newest known one.
FUTURE_VALUE_VERSION = 9
# Record batch v2 header: base offset i64, then lastOffsetDelta i32 at byte 23.
BATCH_LENGTH_AT = 8
LAST_OFFSET_DELTA_AT = 23
BATCH_LOG_OVERHEAD = 12
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


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


def kafka_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">h", len(raw)) + raw


def offset_key(topic: str, partition: int, version: int = OFFSET_KEY_VERSION) -> bytes:
    return (struct.pack(">h", version) + kafka_string(GROUP) + kafka_string(topic)
            + struct.pack(">i", partition))


def offset_value(offset: int) -> bytes:
    return (struct.pack(">hqi", OFFSET_VALUE_VERSION, offset, -1) + kafka_string("")
            + struct.pack(">q", 0))


def future_offset_value(offset: int) -> bytes:
    """A flexible (v4+) value: compact string metadata, then tagged fields (here one unknown
    tag, which a reader must skip)."""
    metadata = b"m"
    tagged = bytes([1, 42, 2]) + b"xx"  # one field: tag 42, 2 bytes
    return (struct.pack(">hqi", FUTURE_VALUE_VERSION, offset, -1) + bytes([len(metadata) + 1])
            + metadata + struct.pack(">q", 0) + tagged)


def batch(base_offset: int, records: list) -> bytes:
    """A valid record batch v2 (CRC-32C over what follows it) at `base_offset`."""
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                        batch_size=1 << 20)
    for delta, (key, value) in enumerate(records):
        assert builder.append(delta, timestamp=1_700_000_000_000, key=key, value=value,
                              headers=[]) is not None
    data = bytearray(builder.build())
    data[0:8] = struct.pack(">q", base_offset)  # not covered by the CRC
    return bytes(data)


def log_end_offset(segment: bytes) -> int:
    """The offset after the last batch of a segment, walking the batch headers."""
    at, end = 0, 0
    while at + BATCH_LOG_OVERHEAD <= len(segment):
        base = struct.unpack_from(">q", segment, at)[0]
        length = struct.unpack_from(">i", segment, at + BATCH_LENGTH_AT)[0]
        if length <= 0 or at + BATCH_LOG_OVERHEAD + length > len(segment):
            break
        end = base + struct.unpack_from(">i", segment, at + LAST_OFFSET_DELTA_AT)[0] + 1
        at += BATCH_LOG_OVERHEAD + length
    return end


@pytest.mark.vltava_only
def test_unreadable_consumer_offsets_records_are_skipped_on_start(broker_factory, topic_name):
    broker = broker_factory()
    create_topic(broker.bootstrap, topic_name, partitions=3)
    commit(broker.bootstrap, {(topic_name, 0): 5, (topic_name, 2): 8})
    broker.kill9()

    # In a cluster's data dir, each node's is a subdirectory, and every replica of the group's
    # partition has a copy (byte for byte the same: followers store the leader's batches).
    segments = [s for s in sorted(broker.data_dir.glob(f"**/{OFFSETS_TOPIC}-*/*.log"))
                if s.stat().st_size > 0]
    assert len({s.parent.name for s in segments}) == 1, segments  # the group's one partition
    end = log_end_offset(segments[0].read_bytes())
    assert end >= 1
    assert all(log_end_offset(s.read_bytes()) == end for s in segments), segments
    bad = [
        (offset_key(topic_name, 1, version=99), offset_value(66)),  # unknown key version
        (b"\xff", b"\x01\x02"),  # garbage key and value
        (offset_key(topic_name, 2), b"\x00\x03\x00"),  # known key, truncated value
        (offset_key(topic_name, 2), b"\xff\xfe" + bytes(30)),  # negative value version
        (None, b"no key"),
    ]
    good = [
        (offset_key(topic_name, 0), offset_value(9)),
        (offset_key(topic_name, 1), future_offset_value(11)),
    ]
    for segment in segments:
        with open(segment, "ab") as log:
            log.write(batch(end, bad))
            log.write(batch(end + len(bad), good))

    broker.restart()

    partitions = [(topic_name, p) for p in range(3)]
    assert committed(broker.bootstrap, partitions) == {
        (topic_name, 0): 9, (topic_name, 1): 11, (topic_name, 2): 8}
    # Serving, and committing on top of the skipped records, still works.
    commit(broker.bootstrap, {(topic_name, 0): 10})
    assert committed(broker.bootstrap, [(topic_name, 0)]) == {(topic_name, 0): 10}
    # The node that leads the partition loaded it (a node's log sits beside its data dir);
    # in a cluster that is one of the replicas.
    partition = int(segments[0].parent.name.rsplit("-", 1)[1])
    loaders = []
    for segment in segments:
        node_dir = segment.parent.parent
        log_path = node_dir.parent / f"{node_dir.name}.log"
        log = ANSI_ESCAPE.sub("", log_path.read_text(errors="replace"))
        skipped = [line for line in log.splitlines() if "skipped an unreadable" in line]
        if len(skipped) == len(bad):
            loaders.append((log, skipped))
    assert loaders, "no node logged the unreadable records once"
    log, skipped = loaders[0]
    for offset, line in zip(range(end, end + len(bad)), skipped):
        assert f"partition={partition}" in line and f"offset={offset}" in line, line
    assert re.search(r"loaded committed offsets.*skipped=5", log), log[-2000:]
