"""confluent-kafka (librdkafka) produces 100k varied records per compression codec and reads
them back with assign() + consume(), byte for byte and in per-partition order.

Guards against: batches mangled when offsets are assigned or stored (CRC, base offset,
record count), codecs the broker cannot store or serve, null vs empty keys/values/headers
confused, records reordered or lost within a partition, fetch responses cut at the wrong
boundary, and a near-limit (1 MiB) record rejected or truncated.
"""

import os
import time

import pytest
from confluent_kafka import Producer

from helpers import create_topic, read_partitions

RECORD_COUNT = 100_000
PARTITIONS = 3
# Kafka's default message.max.bytes (1048588) bounds the whole batch, so a value of exactly
# 1 MiB is rejected by Kafka itself (MSG_SIZE_TOO_LARGE); 1 MiB - 1 KiB leaves room for the
# batch and record headers.
BIG_VALUE_BYTES = 1024 * 1024 - 1024
BIG_RECORD_INDEX = 54_321
PRODUCE_TIMEOUT_S = 120.0


def record(i: int, big_value: bytes):
    """The i-th record: (key, value, headers). Deterministic, so the reader can recompute it."""
    key = None if i % 13 == 0 else (b"" if i % 17 == 0 else f"key-{i % 1000}".encode())
    if i == BIG_RECORD_INDEX:
        value = big_value
    elif i % 7 == 0:
        value = None
    elif i % 11 == 0:
        value = b""
    else:
        value = f"value-{i}-".encode() + b"abcdefgh" * (i % 20)
    if i % 5 == 0:
        headers = None
    else:
        headers = [("index", str(i).encode()), ("empty", b""), ("null", None), ("index", b"dup")]
    return key, value, headers


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_varied_records_round_trip_in_order_with_compression(broker, topic_name, codec):
    create_topic(broker.bootstrap, topic_name, partitions=PARTITIONS)
    big_value = os.urandom(BIG_VALUE_BYTES)
    producer = Producer({
        "bootstrap.servers": broker.bootstrap,
        "compression.type": codec,
        "acks": "all",
        "linger.ms": 5,
        "message.max.bytes": 2 * 1024 * 1024,
        "queue.buffering.max.messages": 200_000,
        "queue.buffering.max.kbytes": 256 * 1024,
    })
    delivered = {}  # index -> (partition, offset)
    errors = []

    def on_delivery(error, message, i):
        if error is not None:
            errors.append((i, error))
        else:
            delivered[i] = (message.partition(), message.offset())

    produced_order = {p: [] for p in range(PARTITIONS)}
    for i in range(RECORD_COUNT):
        key, value, headers = record(i, big_value)
        partition = i % PARTITIONS
        produced_order[partition].append(i)
        producer.produce(topic_name, key=key, value=value, headers=headers, partition=partition,
                         on_delivery=lambda e, m, i=i: on_delivery(e, m, i))
        producer.poll(0)

    remaining = producer.flush(PRODUCE_TIMEOUT_S)
    assert remaining == 0, f"{remaining} records not delivered within {PRODUCE_TIMEOUT_S}s"
    assert errors == []
    assert len(delivered) == RECORD_COUNT

    # The broker assigned offsets 0..n-1 per partition in produce order.
    for partition, indices in produced_order.items():
        offsets = [delivered[i][1] for i in indices]
        assert offsets == list(range(len(indices))), f"partition {partition} offsets out of order"

    started = time.monotonic()
    got = read_partitions(broker.bootstrap, topic_name,
                          {p: len(idx) for p, idx in produced_order.items()})
    for partition, messages in got.items():
        indices = produced_order[partition]
        assert [m.offset() for m in messages] == list(range(len(indices)))
        for message, i in zip(messages, indices):
            key, value, headers = record(i, big_value)
            assert message.key() == key, f"record {i}"
            assert message.value() == value, f"record {i}"
            assert message.headers() == headers, f"record {i}"
            assert message.topic() == topic_name
    print(f"{codec}: read back {RECORD_COUNT} records in {time.monotonic() - started:.1f}s")
