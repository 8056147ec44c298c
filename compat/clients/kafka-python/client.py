"""The compatibility scenarios with kafka-python (pure Python). One function per scenario id of
compat/scenarios.txt; each raises Fail/Skip or returns a detail.
"""

import logging
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lib"))

from compat_common import (  # noqa: E402
    INVALID_TOPIC_NAME, MURMUR2_PARTITIONS, TOPIC_MAX_MESSAGE_BYTES,
    VALUE_1MIB_BYTES, Fail, Skip, before, check, codec_expected, codec_topic,
    compare_codec_records, deadline, log, murmur2_expected, parse_args, run_scenarios, scenario_table,
    read_until, wait_topic_everywhere)
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka import errors as Errors  # noqa: E402
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient  # noqa: E402
from kafka.structs import OffsetAndMetadata  # noqa: E402

ADMIN_TIMEOUT_MS = 30_000
CONSUME_TIMEOUT_S = 40.0
SEND_TIMEOUT_S = 30.0
POLL_MS = 200


def admin(args) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=args.bootstrap, request_timeout_ms=ADMIN_TIMEOUT_MS)


def create_topic(args, topic: str, partitions: int = 1, config: dict | None = None) -> None:
    client = admin(args)
    try:
        client.create_topics({topic: {"num_partitions": partitions, "replication_factor": 1,
                                      "configs": config or {}}},
                             timeout_ms=ADMIN_TIMEOUT_MS, wait_for_metadata=True)
    finally:
        client.close()
    wait_topic_everywhere(args.bootstrap, topic, partitions)


def producer(args, **config) -> KafkaProducer:
    # acks=all as the Java producer's default: on vltava an acks=1 answer may come before the
    # high watermark (durable data only) covers the record, and a seek to the end races it.
    return KafkaProducer(bootstrap_servers=args.bootstrap, **{"linger_ms": 5, "acks": "all", **config})


def produce_all(prod: KafkaProducer, topic: str, records: list, **extra) -> list:
    """Sends (key, value) pairs, waits for each acknowledgement, returns the RecordMetadata."""
    futures = [prod.send(topic, key=key, value=value, **extra) for key, value in records]
    prod.flush(SEND_TIMEOUT_S)
    return [future.get(SEND_TIMEOUT_S) for future in futures]


def consumer(args, group: str | None = None, **config) -> KafkaConsumer:
    return KafkaConsumer(bootstrap_servers=args.bootstrap, group_id=group,
                         auto_offset_reset="earliest", enable_auto_commit=False, **config)


def consume(cons: KafkaConsumer, count: int, timeout_s: float = CONSUME_TIMEOUT_S) -> list:
    records = []
    end = deadline(timeout_s)
    while len(records) < count and before(end):
        batch = cons.poll(timeout_ms=POLL_MS, max_records=count - len(records))
        for partition_records in batch.values():
            records.extend(partition_records)
    check(len(records) == count, f"consumed {len(records)} of {count} in {timeout_s:.0f} s")
    return records


def read_topic(args, topic: str, partitions: int, count: int, **config) -> list:
    cons = consumer(args, **config)
    try:
        cons.assign([TopicPartition(topic, p) for p in range(partitions)])
        cons.seek_to_beginning()
        return consume(cons, count)
    finally:
        cons.close()


def scenario_metadata(args):
    topic = f"{args.prefix}-metadata"
    create_topic(args, topic, 3)
    client = admin(args)
    try:
        cluster = client.describe_cluster()
        check(len(cluster["brokers"]) >= 1, "no brokers described")
        check(topic in client.list_topics(), f"{topic} not listed")
        [described] = client.describe_topics([topic])
        check(len(described["partitions"]) == 3, f"{len(described['partitions'])} partitions, want 3")
    finally:
        client.close()
    return f"{len(cluster['brokers'])} broker(s), {topic} with 3 partitions"


def scenario_produce_consume(args):
    topic = f"{args.prefix}-produce-consume"
    create_topic(args, topic, 3)
    records = [(f"key-{i % 10}".encode(), f"{i}".encode()) for i in range(300)]
    prod = producer(args)
    delivered = produce_all(prod, topic, records)
    prod.close()
    partition_of = {key: meta.partition for (key, _), meta in zip(records, delivered)}
    got = read_topic(args, topic, 3, len(records))
    check(sorted(int(r.value) for r in got) == list(range(300)), "records lost or duplicated")
    for record in got:
        check(partition_of[record.key] == record.partition, f"{record.key!r} in partition {record.partition}")
    for partition in range(3):
        sequence = [int(r.value) for r in got if r.partition == partition]
        check(sequence == sorted(sequence), f"partition {partition} out of order")
    return "300 keyed records, order kept per partition"


def scenario_headers(args):
    topic = f"{args.prefix}-headers"
    create_topic(args, topic)
    headers = [("h", b"first"), ("h", b"second"), ("bin", bytes([0, 255, 1, 128])), ("empty", b"")]
    prod = producer(args)
    produce_all(prod, topic, [(b"k", b"v")], headers=headers)
    prod.close()
    [record] = read_topic(args, topic, 1, 1)
    check(list(record.headers) == headers, f"headers {record.headers}, want {headers}")
    return "repeated key, binary and empty values kept in order"


def scenario_null_and_empty_values(args):
    topic = f"{args.prefix}-null-empty"
    create_topic(args, topic)
    records = [(b"tombstone", None), (b"empty", b""), (b"", b"empty-key"), (None, b"null-key")]
    prod = producer(args)
    produce_all(prod, topic, records)
    prod.close()
    seen = [(r.key, r.value) for r in read_topic(args, topic, 1, len(records))]
    check(seen == records, f"read {seen}, want {records}")
    return "null value, empty value, empty key, null key distinct"


def scenario_value_1mib(args):
    topic = f"{args.prefix}-value-1mib"
    create_topic(args, topic, config={"max.message.bytes": str(TOPIC_MAX_MESSAGE_BYTES)})
    value = bytes(range(256)) * (VALUE_1MIB_BYTES // 256)
    prod = producer(args, max_request_size=3 * VALUE_1MIB_BYTES)
    produce_all(prod, topic, [(b"big", value)])
    prod.close()
    [record] = read_topic(args, topic, 1, 1, max_partition_fetch_bytes=3 * VALUE_1MIB_BYTES)
    check(record.value == value, f"value of {len(record.value or b'')} bytes differs")
    return "1 MiB value round-trips"


def codec_scenario(codec: str):
    def scenario(args):
        topic = codec_topic(args.prefix, codec)
        create_topic(args, topic)
        prod = producer(args, compression_type=codec, linger_ms=50)
        produce_all(prod, topic, codec_expected())
        prod.close()
        compare_codec_records([(r.key, r.value) for r in read_topic(args, topic, 1, 100)], topic)
        if not args.previous_prefix:
            return f"100 {codec} records (no previous client)"
        previous = codec_topic(args.previous_prefix, codec)
        compare_codec_records([(r.key, r.value) for r in read_topic(args, previous, 1, 100)], previous)
        return f"100 {codec} records, and {previous} read back"
    return scenario


def scenario_partitioner_murmur2(args):
    topic = f"{args.prefix}-murmur2"
    create_topic(args, topic, MURMUR2_PARTITIONS)
    expected = murmur2_expected()
    prod = producer(args)  # the default partitioner hashes keys with Java's murmur2
    delivered = produce_all(prod, topic, [(key.encode(), b"x") for key in expected])
    prod.close()
    landed = {key: meta.partition for key, meta in zip(expected, delivered)}
    wrong = {k: (landed[k], p) for k, p in expected.items() if landed[k] != p}
    check(not wrong, f"{len(wrong)} keys elsewhere (got, want): {dict(list(wrong.items())[:3])}")
    return "100 keys where Java puts them"


class Member:
    """A group member polling in its own thread: kafka-python blocks in poll() while its
    JoinGroup waits for the other members, so members polled in turn by one thread would keep
    each other from rejoining."""

    def __init__(self, args, group: str, topic: str, seen: list, lock: threading.Lock):
        self.consumer = consumer(args, group)
        self.consumer.subscribe([topic])
        self.seen, self.lock = seen, lock
        self.stop = threading.Event()
        self.commit_wanted, self.committed = threading.Event(), threading.Event()
        self.assigned: list = []
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self) -> None:
        while not self.stop.is_set():
            batches = self.consumer.poll(timeout_ms=POLL_MS)
            with self.lock:
                self.seen.extend(int(r.value) for records in batches.values() for r in records)
            self.assigned = sorted(tp.partition for tp in self.consumer.assignment())
            if self.commit_wanted.is_set():
                self.consumer.commit()
                self.commit_wanted.clear()
                self.committed.set()
        self.consumer.close()

    def commit(self) -> None:
        """Commits what was read, from the member's own thread (the consumer is not thread-safe)."""
        self.commit_wanted.set()
        check(self.committed.wait(CONSUME_TIMEOUT_S), "commit not done")

    def leave(self) -> None:
        self.stop.set()
        self.thread.join(CONSUME_TIMEOUT_S)


def wait_for(condition, what: str) -> None:
    end = deadline(CONSUME_TIMEOUT_S)
    while not condition() and before(end):
        time.sleep(0.05)
    check(condition(), what)


def scenario_consumer_group(args):
    topic, group = f"{args.prefix}-group", f"{args.prefix}-group"
    create_topic(args, topic, 6)
    seen: list = []
    lock = threading.Lock()
    members = [Member(args, group, topic, seen, lock) for _ in range(3)]

    def owned_by_all():
        owned = [p for m in members for p in m.assigned]
        return sorted(owned) == list(range(6)) and all(m.assigned for m in members)

    try:
        wait_for(owned_by_all, f"assignment {[m.assigned for m in members]}")
        log(f"three members assigned {[m.assigned for m in members]}")
        prod = producer(args)
        produce_all(prod, topic, [(f"k{i}".encode(), f"{i}".encode()) for i in range(600)])
        wait_for(lambda: len(seen) >= 600, f"{len(seen)} of 600 read")
        with lock:
            check(sorted(seen) == list(range(600)), f"{len(seen)} read, {len(set(seen))} distinct of 600")
            seen.clear()
        for member in members:
            member.commit()
        members.pop().leave()
        log("one member left")
        wait_for(owned_by_all, f"after leave: assignment {[m.assigned for m in members]}")
        produce_all(prod, topic, [(f"k{i}".encode(), f"{i}".encode()) for i in range(600, 660)])
        prod.close()
        wait_for(lambda: len(seen) >= 60, f"after leave: {len(seen)} of 60 read")
        with lock:
            check(sorted(seen) == list(range(600, 660)), f"after leave: read {sorted(seen)[:5]}...")
        return "600 once across 3; after a leave 2 members own 6 partitions and read 60 new"
    finally:
        for member in members:
            member.leave()


def scenario_commit_and_resume(args):
    topic, group = f"{args.prefix}-resume", f"{args.prefix}-resume"
    create_topic(args, topic)
    prod = producer(args)
    produce_all(prod, topic, [(None, f"{i}".encode()) for i in range(20)])
    prod.close()
    first = consumer(args, group)
    first.subscribe([topic])
    consume(first, 10)
    partition = TopicPartition(topic, 0)
    first.commit({partition: OffsetAndMetadata(10, "", -1)})
    first.close()
    second = consumer(args, group)
    try:
        committed = second.committed(partition)
        check(committed == 10, f"committed offset {committed}, want 10")
        second.subscribe([topic])
        [record] = consume(second, 1)
        check(record.offset == 10, f"resumed at {record.offset}, want 10")
    finally:
        second.close()
    return "resumed at committed offset 10"


def scenario_seek(args):
    topic = f"{args.prefix}-seek"
    create_topic(args, topic)
    base_ms = int(time.time() * 1000) - 100_000
    prod = producer(args)
    for i in range(10):
        produce_all(prod, topic, [(None, f"v{i}".encode())], timestamp_ms=base_ms + i * 1000)
    partition = TopicPartition(topic, 0)
    cons = consumer(args)
    try:
        cons.assign([partition])
        cons.seek_to_beginning(partition)
        check(cons.position(partition) == 0, f"beginning at {cons.position(partition)}")
        [record] = consume(cons, 1)
        check(record.offset == 0, f"beginning read {record.offset}")
        found = cons.offsets_for_times({partition: base_ms + 4500})[partition]
        check(found is not None and found.offset == 5, f"offsets_for_times gave {found}, want 5")
        cons.seek(partition, found.offset)
        [record] = consume(cons, 1)
        check((record.offset, record.value) == (5, b"v5"), f"time seek read {record.offset}")
        cons.seek_to_end(partition)
        check(cons.position(partition) == 10, f"end at {cons.position(partition)}, want 10")
        produce_all(prod, topic, [(None, b"late")])
        [record] = consume(cons, 1)
        check((record.offset, record.value) == (10, b"late"), f"after end read {record.offset}")
    finally:
        cons.close()
        prod.close()
    return "beginning 0, timestamp 5, end 10"


def scenario_idempotent_producer(args):
    topic = f"{args.prefix}-idempotent"
    create_topic(args, topic)
    prod = producer(args, enable_idempotence=True, acks="all")
    produce_all(prod, topic, [(None, f"{i}".encode()) for i in range(1000)])
    prod.close()
    values = [int(r.value) for r in read_topic(args, topic, 1, 1000)]
    check(values == list(range(1000)), "records duplicated or out of order")
    return "1000 records once, in order"


def scenario_transactions(args):
    topic = f"{args.prefix}-transactions"
    create_topic(args, topic)
    prod = producer(args, transactional_id=f"{args.prefix}-txn")
    try:
        prod.init_transactions()
        for name, commit in (("a", True), ("b", False), ("c", True)):
            prod.begin_transaction()
            for i in range(3):
                prod.send(topic, value=f"{name}{i}".encode(), partition=0)
            if commit:
                prod.commit_transaction()
            else:
                prod.flush(SEND_TIMEOUT_S)  # the aborted records reach the log
                prod.abort_transaction()
    finally:
        prod.close()
    committed = [m.value.decode() for m in
                 read_topic(args, topic, 1, 6, isolation_level="read_committed")]
    check(committed == ["a0", "a1", "a2", "c0", "c1", "c2"], f"read_committed read {committed}")
    everything = [m.value.decode() for m in
                  read_topic(args, topic, 1, 9, isolation_level="read_uncommitted")]
    check(everything == ["a0", "a1", "a2", "b0", "b1", "b2", "c0", "c1", "c2"],
          f"read_uncommitted read {everything}")
    return "commit, abort, commit: read_committed 6 records in order, read_uncommitted 9"


def topic_config(client: KafkaAdminClient, topic: str, name: str):
    resource = ConfigResource(ConfigResourceType.TOPIC, topic)
    described = client.describe_configs([resource], config_filter="all")
    entries = described["TOPIC"][topic] if "TOPIC" in described else next(iter(described.values()))[topic]
    entry = entries[name]
    return entry["value"] if isinstance(entry, dict) else entry


def scenario_admin_topics(args):
    topic = f"{args.prefix}-admin-topics"
    create_topic(args, topic, 2, {"retention.ms": "3600000"})
    client = admin(args)
    try:
        check(topic in client.list_topics(), "created topic not listed")
        [described] = client.describe_topics([topic])
        check(len(described["partitions"]) == 2, f"described {len(described['partitions'])} partitions")
        retention = topic_config(client, topic, "retention.ms")
        check(retention == "3600000", f"retention.ms {retention}")
        client.create_partitions({topic: 4}, timeout_ms=ADMIN_TIMEOUT_MS)
        end = deadline(30)
        while len(client.describe_topics([topic])[0]["partitions"]) != 4 and before(end):
            time.sleep(0.1)
        check(len(client.describe_topics([topic])[0]["partitions"]) == 4, "not grown to 4 partitions")
        client.delete_topics([topic], timeout_ms=ADMIN_TIMEOUT_MS)
        end = deadline(30)
        # The last answer decides: asked again, another node of a cluster may not have applied
        # the deletion yet.
        while (listed := topic in client.list_topics()) and before(end):
            time.sleep(0.1)
        check(not listed, "deleted topic still listed")
    finally:
        client.close()
    return "create with config, describe, list, 2->4 partitions, delete"


def scenario_admin_configs(args):
    topic = f"{args.prefix}-admin-configs"
    create_topic(args, topic)
    client = admin(args)
    try:
        before_alter = topic_config(client, topic, "retention.ms")
        change = ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "123456"})
        client.alter_configs([change])
        after = read_until(lambda: topic_config(client, topic, "retention.ms"), "123456")
        check(after == "123456", f"retention.ms {after} after alter")
    finally:
        client.close()
    return f"retention.ms {before_alter} -> 123456"


def scenario_admin_groups(args):
    topic, group = f"{args.prefix}-admin-groups", f"{args.prefix}-admin-groups"
    create_topic(args, topic)
    client = admin(args)
    member = consumer(args, group)
    try:
        member.subscribe([topic])
        end = deadline(CONSUME_TIMEOUT_S)
        while not member.assignment() and before(end):
            member.poll(timeout_ms=POLL_MS)
        check(bool(member.assignment()), "member got no assignment")
        listed = [g["group_id"] for g in client.list_groups()]
        check(group in listed, f"{group} not listed")
        described = client.describe_groups([group])[group]
        check(len(described["members"]) == 1, f"{len(described['members'])} members described")
        state = described.get("group_state")
        member.close()
        results = client.delete_groups([group])
        check(results.get(group) == "OK", f"delete_groups: {results}")
        listed = [g["group_id"] for g in client.list_groups()]
        check(group not in listed, f"{group} listed after delete")
    finally:
        member.close()
        client.close()
    return f"listed, described ({state}, 1 member), deleted when empty"


def scenario_admin_delete_records(args):
    topic = f"{args.prefix}-delete-records"
    create_topic(args, topic)
    prod = producer(args)
    produce_all(prod, topic, [(None, f"{i}".encode()) for i in range(10)])
    prod.close()
    partition = TopicPartition(topic, 0)
    client = admin(args)
    try:
        result = client.delete_records({partition: 4}, timeout_ms=ADMIN_TIMEOUT_MS)
    finally:
        client.close()
    low = result[partition]["low_watermark"]
    check(low == 4, f"low watermark answered {low}, want 4")
    cons = consumer(args)
    try:
        watermarks = (cons.beginning_offsets([partition])[partition], cons.end_offsets([partition])[partition])
    finally:
        cons.close()
    check(watermarks == (4, 10), f"watermarks {watermarks}, want (4, 10)")
    return "low watermark 4 of 10"


def scenario_error_unknown_topic(args):
    topic = f"{args.prefix}-missing"
    client = admin(args)
    try:
        [described] = client.describe_topics([topic])
    finally:
        client.close()
    code = described["error_code"]
    check(code == Errors.UnknownTopicOrPartitionError.errno, f"describe_topics error code {code}, want 3")
    prod = producer(args, max_block_ms=3000)
    try:
        produce_all(prod, topic, [(None, b"x")])
    except Errors.KafkaTimeoutError as error:
        # kafka-python waits for the topic to appear in metadata; it never does.
        return f"describe: UNKNOWN_TOPIC_OR_PARTITION; send: {error}"
    finally:
        prod.close(timeout=5)
    raise Fail(f"produce to missing {topic} succeeded")


def scenario_error_record_too_large(args):
    topic = f"{args.prefix}-too-large"
    create_topic(args, topic, config={"max.message.bytes": "10000"})
    prod = producer(args, retries=0)
    try:
        produce_all(prod, topic, [(None, b"x" * 50_000)])
    except Errors.MessageSizeTooLargeError as error:
        return f"MessageSizeTooLargeError: {error}"
    finally:
        prod.close(timeout=5)
    raise Fail("a 50 kB record was accepted by a topic with max.message.bytes 10000")


def expect_create_error(args, topic: str, error_type) -> str:
    client = admin(args)
    try:
        client.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}})
    except error_type as error:
        return f"{error_type.__name__}"
    finally:
        client.close()
    raise Fail(f"creating {topic!r} succeeded")


def scenario_error_invalid_topic_name(args):
    return expect_create_error(args, INVALID_TOPIC_NAME, Errors.InvalidTopicError)


def scenario_error_topic_exists(args):
    topic = f"{args.prefix}-exists"
    create_topic(args, topic)
    return expect_create_error(args, topic, Errors.TopicAlreadyExistsError)


SCENARIOS = scenario_table(globals())

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO if os.environ.get("COMPAT_DEBUG") else logging.WARNING,
                        stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log("kafka-python compat client")
    sys.exit(run_scenarios(SCENARIOS, parse_args(__doc__)))
