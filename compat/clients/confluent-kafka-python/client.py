"""The compatibility scenarios with confluent-kafka (Python, librdkafka bundled in the wheel).
One function per scenario id of compat/scenarios.txt; each raises Fail/Skip or returns a detail.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lib"))

from compat_common import (  # noqa: E402
    INVALID_TOPIC_NAME, MURMUR2_PARTITIONS, TOPIC_MAX_MESSAGE_BYTES, VALUE_1MIB_BYTES, Fail, before,
    check, codec_expected, codec_topic, compare_codec_records, deadline, log, murmur2_expected,
    parse_args, run_scenarios, scenario_table, read_until, wait_topic_everywhere)
from confluent_kafka import (  # noqa: E402
    OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, Producer, TopicPartition)
from confluent_kafka.admin import (  # noqa: E402
    AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions, NewTopic)

ADMIN_TIMEOUT_S = 30.0
CONSUME_TIMEOUT_S = 40.0
POLL_S = 0.2


def admin(args) -> AdminClient:
    return AdminClient({"bootstrap.servers": args.bootstrap})


def wait_for_partitions(client, topic: str, partitions: int) -> None:
    """Waits until metadata shows the topic with this many partitions, all with a leader."""
    end = deadline(ADMIN_TIMEOUT_S)
    while before(end):
        meta = client.list_topics(topic, timeout=5).topics.get(topic)
        if meta is not None and meta.error is None and len(meta.partitions) == partitions \
                and all(p.leader >= 0 for p in meta.partitions.values()):
            return
        time.sleep(0.1)
    raise Fail(f"{topic}: {partitions} partitions with leaders not seen in {ADMIN_TIMEOUT_S} s")


def create_topic(args, topic: str, partitions: int = 1, config: dict | None = None) -> None:
    client = admin(args)
    futures = client.create_topics([NewTopic(topic, partitions, 1, config=config or {})],
                                   operation_timeout=ADMIN_TIMEOUT_S)
    futures[topic].result(ADMIN_TIMEOUT_S)
    wait_topic_everywhere(args.bootstrap, topic, partitions)


def producer(args, **config) -> Producer:
    return Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 5, **config})


def produce_all(prod: Producer, topic: str, records: list, **extra) -> list:
    """Produces (key, value) pairs and returns the delivered messages; any delivery error fails."""
    delivered, errors = [], []

    def report(error, message):
        (errors if error else delivered).append(error or message)

    for key, value in records:
        prod.produce(topic, key=key, value=value, on_delivery=report, **extra)
        prod.poll(0)
    remaining = prod.flush(CONSUME_TIMEOUT_S)
    check(remaining == 0, f"{remaining} records not delivered in {CONSUME_TIMEOUT_S} s")
    check(not errors, f"delivery errors: {errors[:3]}")
    return delivered


def consumer(args, group: str | None = None, **config) -> Consumer:
    settings = {"bootstrap.servers": args.bootstrap, "auto.offset.reset": "earliest",
                "enable.auto.commit": False, "group.id": group or f"{args.prefix}-unused",
                **config}
    return Consumer(settings)


def consume(cons: Consumer, count: int, timeout_s: float = CONSUME_TIMEOUT_S) -> list:
    messages = []
    end = deadline(timeout_s)
    while len(messages) < count and before(end):
        message = cons.poll(POLL_S)
        if message is None:
            continue
        if message.error():
            if message.error().code() == KafkaError._PARTITION_EOF:
                continue
            raise Fail(f"consume error: {message.error()}")
        messages.append(message)
    check(len(messages) == count, f"consumed {len(messages)} of {count} in {timeout_s:.0f} s")
    return messages


def read_topic(args, topic: str, partitions: int, count: int, **config) -> list:
    cons = consumer(args, **config)
    try:
        cons.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        return consume(cons, count)
    finally:
        cons.close()


def scenario_metadata(args):
    topic = f"{args.prefix}-metadata"
    create_topic(args, topic, 3)
    meta = admin(args).list_topics(timeout=10)
    check(len(meta.brokers) >= 1, "no brokers listed")
    check(topic in meta.topics, f"{topic} not in the topic list")
    check(len(meta.topics[topic].partitions) == 3,
          f"{topic} lists {len(meta.topics[topic].partitions)} partitions, want 3")
    return f"{len(meta.brokers)} broker(s), {topic} with 3 partitions"


def scenario_produce_consume(args):
    topic = f"{args.prefix}-produce-consume"
    create_topic(args, topic, 3)
    records = [(f"key-{i % 10}".encode(), f"{i}".encode()) for i in range(300)]
    delivered = produce_all(producer(args), topic, records)
    partition_of = {m.key(): m.partition() for m in delivered}
    messages = read_topic(args, topic, 3, len(records))
    check(sorted(int(m.value()) for m in messages) == list(range(300)), "records lost or duplicated")
    for message in messages:
        check(partition_of[message.key()] == message.partition(),
              f"{message.key()!r} read from partition {message.partition()}")
    for partition in range(3):
        sequence = [int(m.value()) for m in messages if m.partition() == partition]
        check(sequence == sorted(sequence), f"partition {partition} out of order")
    return "300 keyed records, order kept per partition"


def scenario_headers(args):
    topic = f"{args.prefix}-headers"
    create_topic(args, topic)
    headers = [("h", b"first"), ("h", b"second"), ("bin", bytes([0, 255, 1, 128])), ("empty", b"")]
    produce_all(producer(args), topic, [(b"k", b"v")], headers=headers)
    [message] = read_topic(args, topic, 1, 1)
    check(message.headers() == headers, f"headers {message.headers()}, want {headers}")
    return "repeated key, binary and empty values kept in order"


def scenario_null_and_empty_values(args):
    topic = f"{args.prefix}-null-empty"
    create_topic(args, topic)
    records = [(b"tombstone", None), (b"empty", b""), (b"", b"empty-key"), (None, b"null-key")]
    produce_all(producer(args), topic, records)
    seen = [(m.key(), m.value()) for m in read_topic(args, topic, 1, len(records))]
    check(seen == records, f"read {seen}, want {records}")
    return "null value, empty value, empty key, null key distinct"


def scenario_value_1mib(args):
    topic = f"{args.prefix}-value-1mib"
    create_topic(args, topic, config={"max.message.bytes": str(TOPIC_MAX_MESSAGE_BYTES)})
    value = bytes(range(256)) * (VALUE_1MIB_BYTES // 256)
    produce_all(producer(args, **{"message.max.bytes": 3 * VALUE_1MIB_BYTES}), topic, [(b"big", value)])
    [message] = read_topic(args, topic, 1, 1)
    check(message.value() == value, f"value of {len(message.value() or b'')} bytes differs")
    return "1 MiB value round-trips"


def codec_scenario(codec: str):
    def scenario(args):
        topic = codec_topic(args.prefix, codec)
        create_topic(args, topic)
        prod = producer(args, **{"compression.type": codec, "linger.ms": 50})
        produce_all(prod, topic, codec_expected())
        seen = [(m.key(), m.value()) for m in read_topic(args, topic, 1, 100)]
        compare_codec_records(seen, topic)
        if not args.previous_prefix:
            return f"100 {codec} records (no previous client)"
        previous = codec_topic(args.previous_prefix, codec)
        seen = [(m.key(), m.value()) for m in read_topic(args, previous, 1, 100)]
        compare_codec_records(seen, previous)
        return f"100 {codec} records, and {previous} read back"
    return scenario


def scenario_partitioner_murmur2(args):
    topic = f"{args.prefix}-murmur2"
    create_topic(args, topic, MURMUR2_PARTITIONS)
    expected = murmur2_expected()
    prod = producer(args, partitioner="murmur2_random")
    delivered = produce_all(prod, topic, [(key.encode(), b"x") for key in expected])
    landed = {m.key().decode(): m.partition() for m in delivered}
    wrong = {k: (landed.get(k), p) for k, p in expected.items() if landed.get(k) != p}
    check(not wrong, f"{len(wrong)} keys elsewhere (got, want): {dict(list(wrong.items())[:3])}")
    return "100 keys where Java puts them"


def poll_members(members: list, seen: list, rounds: int = 1) -> None:
    for _ in range(rounds):
        for member in members:
            message = member.poll(0.05)
            if message is not None and not message.error():
                seen.append((message.partition(), message.offset(), message.value()))


def wait_assigned(members: list, seen: list, partitions: int) -> None:
    """Polls every member until each owns some partitions and together all of them, once."""
    end = deadline(CONSUME_TIMEOUT_S)
    while before(end):
        poll_members(members, seen)
        owned = [tp.partition for member in members for tp in member.assignment()]
        if sorted(owned) == list(range(partitions)) and all(m.assignment() for m in members):
            return
    raise Fail(f"assignment {[[tp.partition for tp in m.assignment()] for m in members]}")


def scenario_consumer_group(args):
    topic, group = f"{args.prefix}-group", f"{args.prefix}-group"
    create_topic(args, topic, 6)
    members = [consumer(args, group) for _ in range(3)]
    try:
        for member in members:
            member.subscribe([topic])
        seen: list = []
        wait_assigned(members, seen, 6)
        produce_all(producer(args), topic, [(f"k{i}".encode(), f"{i}".encode()) for i in range(600)])
        end = deadline(CONSUME_TIMEOUT_S)
        while len(seen) < 600 and before(end):
            poll_members(members, seen)
        values = sorted(int(v) for _, _, v in seen)
        check(values == list(range(600)), f"{len(seen)} records read, {len(set(values))} distinct of 600")
        for member in members:
            member.commit(asynchronous=False)
        members.pop().close()
        seen.clear()
        wait_assigned(members, seen, 6)
        produce_all(producer(args), topic, [(f"k{i}".encode(), f"{i}".encode()) for i in range(600, 660)])
        end = deadline(CONSUME_TIMEOUT_S)
        while len(seen) < 60 and before(end):
            poll_members(members, seen)
        values = sorted(int(v) for _, _, v in seen)
        check(values == list(range(600, 660)), f"after leave: read {len(seen)} records: {values[:5]}...")
        return "600 once across 3; after a leave 2 members own 6 partitions and read 60 new"
    finally:
        for member in members:
            member.close()


def scenario_commit_and_resume(args):
    topic, group = f"{args.prefix}-resume", f"{args.prefix}-resume"
    create_topic(args, topic)
    produce_all(producer(args), topic, [(None, f"{i}".encode()) for i in range(20)])
    first = consumer(args, group)
    first.subscribe([topic])
    consume(first, 10)
    first.commit(offsets=[TopicPartition(topic, 0, 10)], asynchronous=False)
    first.close()
    second = consumer(args, group)
    try:
        [committed] = second.committed([TopicPartition(topic, 0)], timeout=10)
        check(committed.offset == 10, f"committed offset {committed.offset}, want 10")
        second.subscribe([topic])
        [message] = consume(second, 1)
        check(message.offset() == 10, f"resumed at {message.offset()}, want 10")
    finally:
        second.close()
    return "resumed at committed offset 10"


def scenario_seek(args):
    topic = f"{args.prefix}-seek"
    create_topic(args, topic)
    base_ms = int(time.time() * 1000) - 100_000
    prod = producer(args)
    for i in range(10):
        produce_all(prod, topic, [(None, f"v{i}".encode())], timestamp=base_ms + i * 1000)
    cons = consumer(args)
    try:
        cons.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        [message] = consume(cons, 1)
        check(message.offset() == 0, f"beginning at {message.offset()}")
        [by_time] = cons.offsets_for_times([TopicPartition(topic, 0, base_ms + 4500)], timeout=10)
        check(by_time.offset == 5, f"offsets_for_times gave {by_time.offset}, want 5")
        cons.seek(TopicPartition(topic, 0, by_time.offset))
        [message] = consume(cons, 1)
        check((message.offset(), message.value()) == (5, b"v5"), f"time seek read {message.offset()}")
        cons.seek(TopicPartition(topic, 0, OFFSET_BEGINNING))
        [message] = consume(cons, 1)
        check(message.offset() == 0, f"seek to beginning read {message.offset()}")
        cons.seek(TopicPartition(topic, 0, OFFSET_END))
        message = first_after_end(prod, cons, topic)
        check(message.value().startswith(b"late-"), f"seek to end read old record {message.offset()}")
        check(message.offset() == 10 + int(message.value()[5:]), f"seek to end read {message.offset()}")
    finally:
        cons.close()
    return "beginning 0, timestamp 5, end (first record after it)"


def first_after_end(prod: Producer, cons: Consumer, topic: str):
    """librdkafka resolves a seek to the end in the background and shows no position until a
    record arrives, so records late-0, late-1, ... are produced until one is read: whichever it
    is, no record from before the seek may come first."""
    for index in range(20):
        produce_all(prod, topic, [(None, f"late-{index}".encode())])
        end = deadline(1.0)
        while before(end):
            message = cons.poll(POLL_S)
            if message is not None and not message.error():
                return message
    raise Fail("nothing read after seeking to the end")


def scenario_idempotent_producer(args):
    topic = f"{args.prefix}-idempotent"
    create_topic(args, topic)
    prod = producer(args, **{"enable.idempotence": True, "max.in.flight.requests.per.connection": 5})
    produce_all(prod, topic, [(None, f"{i}".encode()) for i in range(1000)])
    values = [int(m.value()) for m in read_topic(args, topic, 1, 1000)]
    check(values == list(range(1000)), "records duplicated or out of order")
    return "1000 records once, in order"


def scenario_transactions(args):
    topic = f"{args.prefix}-transactions"
    create_topic(args, topic)
    prod = producer(args, **{"transactional.id": f"{args.prefix}-txn"})
    prod.init_transactions(ADMIN_TIMEOUT_S)
    for name, commit in (("a", True), ("b", False), ("c", True)):
        prod.begin_transaction()
        for i in range(3):
            prod.produce(topic, value=f"{name}{i}".encode(), partition=0)
        if commit:
            prod.commit_transaction(ADMIN_TIMEOUT_S)
        else:
            prod.flush(ADMIN_TIMEOUT_S)
            prod.abort_transaction(ADMIN_TIMEOUT_S)
    committed = [m.value().decode() for m in
                 read_topic(args, topic, 1, 6, **{"isolation.level": "read_committed"})]
    check(committed == ["a0", "a1", "a2", "c0", "c1", "c2"], f"read_committed read {committed}")
    everything = [m.value().decode() for m in
                  read_topic(args, topic, 1, 9, **{"isolation.level": "read_uncommitted"})]
    check(len(everything) == 9 and "b1" in everything, f"read_uncommitted read {everything}")
    return "commit, abort, commit: read_committed 6 records in order, read_uncommitted 9"


CTP_INPUT_RECORDS = 30
CTP_BATCH_RECORDS = 10


def scenario_consume_transform_produce(args):
    """Reads the input in batches and writes each transformed, with the consumer's offsets, in
    one transaction (send_offsets_to_transaction); the second batch is aborted once (its records
    flushed first, so they are in the log) and redone from the last committed offset."""
    source, sink, group = (f"{args.prefix}-ctp-in", f"{args.prefix}-ctp-out",
                           f"{args.prefix}-ctp-g")
    create_topic(args, source)
    create_topic(args, sink)
    produce_all(producer(args), source, [(None, f"in{i}".encode()) for i in range(CTP_INPUT_RECORDS)])
    prod = producer(args, **{"transactional.id": f"{args.prefix}-ctp-txn"})
    prod.init_transactions(ADMIN_TIMEOUT_S)
    cons = consumer(args, group, **{"isolation.level": "read_committed"})
    aborted, position, batch = 0, 0, 0
    try:
        cons.subscribe([source])
        end = deadline(CONSUME_TIMEOUT_S)
        while position < CTP_INPUT_RECORDS:
            check(before(end), f"consumed up to offset {position} in {CONSUME_TIMEOUT_S} s")
            messages = [m for m in cons.consume(CTP_BATCH_RECORDS, POLL_S) if not m.error()]
            if not messages:
                continue
            prod.begin_transaction()
            for message in messages:
                prod.produce(sink, value=b"out-" + message.value(), partition=0)
            following = messages[-1].offset() + 1
            prod.send_offsets_to_transaction([TopicPartition(source, 0, following)],
                                             cons.consumer_group_metadata(), ADMIN_TIMEOUT_S)
            batch += 1
            if batch == 2:
                prod.flush(ADMIN_TIMEOUT_S)
                prod.abort_transaction(ADMIN_TIMEOUT_S)
                aborted += len(messages)
                cons.seek(TopicPartition(source, 0, position))  # redo from the committed offset
            else:
                prod.commit_transaction(ADMIN_TIMEOUT_S)
                position = following
    finally:
        cons.close()
    want = [f"out-in{i}" for i in range(CTP_INPUT_RECORDS)]
    out = [m.value().decode() for m in read_topic(args, sink, 1, CTP_INPUT_RECORDS,
                                                   **{"isolation.level": "read_committed"})]
    check(out == want, f"read_committed output {out}")
    everything = read_topic(args, sink, 1, CTP_INPUT_RECORDS + aborted,
                            **{"isolation.level": "read_uncommitted"})
    check(aborted > 0 and len(everything) == CTP_INPUT_RECORDS + aborted,
          f"read_uncommitted output has {len(everything)} records, want {CTP_INPUT_RECORDS} + {aborted}")
    resumed = consumer(args, group)
    try:
        [committed] = resumed.committed([TopicPartition(source, 0)], ADMIN_TIMEOUT_S)
    finally:
        resumed.close()
    check(committed.offset == CTP_INPUT_RECORDS, f"group offset {committed.offset}, want {CTP_INPUT_RECORDS}")
    return (f"{CTP_INPUT_RECORDS} records in batches of up to {CTP_BATCH_RECORDS}, one batch ({aborted}) "
            f"aborted and redone: output exactly once in order, group offset {CTP_INPUT_RECORDS}")


def scenario_admin_topics(args):
    client, topic = admin(args), f"{args.prefix}-admin-topics"
    create_topic(args, topic, 2, {"retention.ms": "3600000"})
    check(topic in client.list_topics(timeout=10).topics, "created topic not listed")
    from confluent_kafka import TopicCollection
    described = client.describe_topics(TopicCollection([topic]))[topic].result(ADMIN_TIMEOUT_S)
    check(len(described.partitions) == 2, f"described {len(described.partitions)} partitions")
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = client.describe_configs([resource])[resource].result(ADMIN_TIMEOUT_S)
    check(configs["retention.ms"].value == "3600000", f"retention.ms {configs['retention.ms'].value}")
    client.create_partitions([NewPartitions(topic, 4)])[topic].result(ADMIN_TIMEOUT_S)
    wait_for_partitions(client, topic, 4)
    client.delete_topics([topic], operation_timeout=ADMIN_TIMEOUT_S)[topic].result(ADMIN_TIMEOUT_S)
    end = deadline(ADMIN_TIMEOUT_S)
    # The last answer decides: asked again, another node of a cluster may not have applied the
    # deletion yet.
    while (listed := topic in client.list_topics(timeout=10).topics) and before(end):
        time.sleep(0.1)
    check(not listed, "deleted topic still listed")
    return "create with config, describe, list, 2->4 partitions, delete"


def scenario_admin_configs(args):
    client, topic = admin(args), f"{args.prefix}-admin-configs"
    create_topic(args, topic)
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    before_alter = client.describe_configs([resource])[resource].result(ADMIN_TIMEOUT_S)
    check("retention.ms" in before_alter, "retention.ms not described")
    change = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "123456", incremental_operation=AlterConfigOpType.SET)])
    client.incremental_alter_configs([change])[change].result(ADMIN_TIMEOUT_S)
    after = read_until(lambda: client.describe_configs([resource])[resource].result(ADMIN_TIMEOUT_S)
                       ["retention.ms"].value, "123456")
    check(after == "123456", f"retention.ms {after}")
    return f"retention.ms {before_alter['retention.ms'].value} -> 123456 (incremental)"


def scenario_admin_groups(args):
    client = admin(args)
    topic, group = f"{args.prefix}-admin-groups", f"{args.prefix}-admin-groups"
    create_topic(args, topic)
    member = consumer(args, group)
    try:
        member.subscribe([topic])
        end = deadline(CONSUME_TIMEOUT_S)
        while not member.assignment() and before(end):
            member.poll(POLL_S)
        check(bool(member.assignment()), "member got no assignment")
        listed = client.list_consumer_groups().result(ADMIN_TIMEOUT_S)
        check(group in [g.group_id for g in listed.valid], f"{group} not listed")
        description = client.describe_consumer_groups([group])[group].result(ADMIN_TIMEOUT_S)
        check(len(description.members) == 1, f"{len(description.members)} members described")
        state = description.state.name
    finally:
        member.close()
    client.delete_consumer_groups([group])[group].result(ADMIN_TIMEOUT_S)
    listed = client.list_consumer_groups().result(ADMIN_TIMEOUT_S)
    check(group not in [g.group_id for g in listed.valid], f"{group} listed after delete")
    return f"listed, described ({state}, 1 member), deleted when empty"


def scenario_admin_delete_records(args):
    client, topic = admin(args), f"{args.prefix}-delete-records"
    create_topic(args, topic)
    produce_all(producer(args), topic, [(None, f"{i}".encode()) for i in range(10)])
    futures = client.delete_records([TopicPartition(topic, 0, 4)])
    [result] = [f.result(ADMIN_TIMEOUT_S) for f in futures.values()]
    check(result.low_watermark == 4, f"low watermark answered {result.low_watermark}, want 4")
    cons = consumer(args)
    try:
        low, high = cons.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        cons.close()
    check((low, high) == (4, 10), f"watermarks ({low}, {high}), want (4, 10)")
    return "low watermark 4 of 10"


def scenario_error_unknown_topic(args):
    topic = f"{args.prefix}-missing"
    meta = admin(args).list_topics(topic, timeout=10).topics.get(topic)
    check(meta is not None and meta.error is not None, f"metadata for {topic} has no error")
    check(meta.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, f"metadata error {meta.error}")
    prod = producer(args, **{"topic.metadata.propagation.max.ms": 1000, "message.timeout.ms": 10000})
    try:
        produce_all(prod, topic, [(None, b"x")])
    except Fail as failure:
        check("UNKNOWN_TOPIC" in str(failure), f"produce failed otherwise: {failure}")
        return "metadata UNKNOWN_TOPIC_OR_PART; produce fails with unknown topic"
    raise Fail(f"produce to missing {topic} succeeded")


def scenario_error_record_too_large(args):
    topic = f"{args.prefix}-too-large"
    create_topic(args, topic, config={"max.message.bytes": "10000"})
    prod = producer(args)
    try:
        produce_all(prod, topic, [(None, b"x" * 50_000)])
    except Fail as failure:
        check("MSG_SIZE_TOO_LARGE" in str(failure), f"failed otherwise: {failure}")
        return "MSG_SIZE_TOO_LARGE"
    raise Fail("a 50 kB record was accepted by a topic with max.message.bytes 10000")


def expect_create_error(args, topic: str, code: int, name: str) -> str:
    client = admin(args)  # kept referenced: a collected client fails its futures with _DESTROY
    futures = client.create_topics([NewTopic(topic, 1, 1)], operation_timeout=ADMIN_TIMEOUT_S)
    try:
        futures[topic].result(ADMIN_TIMEOUT_S)
    except KafkaException as error:
        check(error.args[0].code() == code, f"got {error.args[0]}, want {name}")
        return name
    raise Fail(f"creating {topic!r} succeeded")


def scenario_error_invalid_topic_name(args):
    return expect_create_error(args, INVALID_TOPIC_NAME, KafkaError.TOPIC_EXCEPTION, "TOPIC_EXCEPTION")


def scenario_error_topic_exists(args):
    topic = f"{args.prefix}-exists"
    create_topic(args, topic)
    return expect_create_error(args, topic, KafkaError.TOPIC_ALREADY_EXISTS, "TOPIC_ALREADY_EXISTS")


SCENARIOS = scenario_table(globals())

if __name__ == "__main__":
    log("confluent-kafka-python compat client")
    sys.exit(run_scenarios(SCENARIOS, parse_args(__doc__)))
