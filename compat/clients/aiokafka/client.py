"""The compatibility scenarios with aiokafka (asyncio). One coroutine per scenario id of
compat/scenarios.txt, each run to completion on its own event loop; each raises Fail/Skip or
returns a detail.
"""

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lib"))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic, RecordsToDelete  # noqa: E402
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType  # noqa: E402
from aiokafka.errors import MessageSizeTooLargeError, UnknownTopicOrPartitionError  # noqa: E402
from aiokafka.structs import OffsetAndMetadata  # noqa: E402
from compat_common import (  # noqa: E402
    CONFIG_POLL_S, CONFIG_WAIT_S, INVALID_TOPIC_NAME, MURMUR2_PARTITIONS, SCENARIO_TIMEOUT_S,
    TOPIC_MAX_MESSAGE_BYTES, VALUE_1MIB_BYTES, Fail, Skip, before, check,
    codec_expected, codec_topic, compare_codec_records, deadline, log, murmur2_expected, parse_args,
    run_scenarios, scenario_table, wait_topic_everywhere)

ADMIN_TIMEOUT_MS = 30_000
CONSUME_TIMEOUT_S = 40.0
POLL_MS = 200
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_TOPIC_EXCEPTION = 17
TOPIC_ALREADY_EXISTS = 36


class Admin:
    """An admin client started and closed around a block."""

    def __init__(self, args):
        self.client = AIOKafkaAdminClient(bootstrap_servers=args.bootstrap,
                                          request_timeout_ms=ADMIN_TIMEOUT_MS)

    async def __aenter__(self) -> AIOKafkaAdminClient:
        await self.client.start()
        return self.client

    async def __aexit__(self, *_):
        await self.client.close()


def topic_error_codes(response) -> dict:
    """topic -> error code from a CreateTopics response of any version."""
    return {error[0]: error[1] for error in response.topic_errors}


async def wait_for_partitions(client, topic: str, partitions: int) -> None:
    end = deadline(30)
    while before(end):
        [described] = await client.describe_topics([topic])
        if described["error_code"] == 0 and len(described["partitions"]) == partitions \
                and all(p["leader"] >= 0 for p in described["partitions"]):
            return
        await asyncio.sleep(0.1)
    raise Fail(f"{topic}: {partitions} partitions with leaders not seen in 30 s")


async def create_topic(args, topic: str, partitions: int = 1, config: dict | None = None) -> None:
    async with Admin(args) as client:
        response = await client.create_topics([NewTopic(topic, partitions, 1, topic_configs=config or {})])
        code = topic_error_codes(response).get(topic)
        check(code == 0, f"create {topic}: error code {code}")
    await asyncio.to_thread(wait_topic_everywhere, args.bootstrap, topic, partitions)


async def produce_all(args, topic: str, records: list, config: dict | None = None, **extra) -> list:
    """Sends (key, value) pairs in order and returns each RecordMetadata."""
    # acks=all as the Java producer's default: on vltava an acks=1 answer may come before the
    # high watermark (durable data only) covers the record, and a seek to the end races it.
    settings = {"linger_ms": 5, "acks": "all", **(config or {})}
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, **settings)
    await producer.start()
    try:
        futures = [await producer.send(topic, key=key, value=value, **extra) for key, value in records]
        return list(await asyncio.gather(*futures))
    finally:
        await producer.stop()


def consumer(args, *topics, group: str | None = None, **config) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(*topics, bootstrap_servers=args.bootstrap, group_id=group,
                            auto_offset_reset="earliest", enable_auto_commit=False, **config)


async def consume(cons: AIOKafkaConsumer, count: int, timeout_s: float = CONSUME_TIMEOUT_S) -> list:
    records = []
    end = deadline(timeout_s)
    while len(records) < count and before(end):
        batches = await cons.getmany(timeout_ms=POLL_MS, max_records=count - len(records))
        for partition_records in batches.values():
            records.extend(partition_records)
    check(len(records) == count, f"consumed {len(records)} of {count} in {timeout_s:.0f} s")
    return records


async def read_topic(args, topic: str, partitions: int, count: int, **config) -> list:
    cons = consumer(args, **config)
    await cons.start()
    try:
        cons.assign([TopicPartition(topic, p) for p in range(partitions)])
        await cons.seek_to_beginning()
        return await consume(cons, count)
    finally:
        await cons.stop()


async def scenario_metadata(args):
    topic = f"{args.prefix}-metadata"
    await create_topic(args, topic, 3)
    async with Admin(args) as client:
        cluster = await client.describe_cluster()
        check(len(cluster["brokers"]) >= 1, "no brokers described")
        check(topic in await client.list_topics(), f"{topic} not listed")
        [described] = await client.describe_topics([topic])
    check(len(described["partitions"]) == 3, f"{len(described['partitions'])} partitions, want 3")
    return f"{len(cluster['brokers'])} broker(s), {topic} with 3 partitions"


async def scenario_produce_consume(args):
    topic = f"{args.prefix}-produce-consume"
    await create_topic(args, topic, 3)
    records = [(f"key-{i % 10}".encode(), f"{i}".encode()) for i in range(300)]
    delivered = await produce_all(args, topic, records)
    partition_of = {key: meta.partition for (key, _), meta in zip(records, delivered)}
    got = await read_topic(args, topic, 3, len(records))
    check(sorted(int(r.value) for r in got) == list(range(300)), "records lost or duplicated")
    for record in got:
        check(partition_of[record.key] == record.partition, f"{record.key!r} in partition {record.partition}")
    for partition in range(3):
        sequence = [int(r.value) for r in got if r.partition == partition]
        check(sequence == sorted(sequence), f"partition {partition} out of order")
    return "300 keyed records, order kept per partition"


async def scenario_headers(args):
    topic = f"{args.prefix}-headers"
    await create_topic(args, topic)
    headers = [("h", b"first"), ("h", b"second"), ("bin", bytes([0, 255, 1, 128])), ("empty", b"")]
    await produce_all(args, topic, [(b"k", b"v")], headers=headers)
    [record] = await read_topic(args, topic, 1, 1)
    check(list(record.headers) == headers, f"headers {record.headers}, want {headers}")
    return "repeated key, binary and empty values kept in order"


async def scenario_null_and_empty_values(args):
    topic = f"{args.prefix}-null-empty"
    await create_topic(args, topic)
    records = [(b"tombstone", None), (b"empty", b""), (b"", b"empty-key"), (None, b"null-key")]
    await produce_all(args, topic, records)
    seen = [(r.key, r.value) for r in await read_topic(args, topic, 1, len(records))]
    check(seen == records, f"read {seen}, want {records}")
    return "null value, empty value, empty key, null key distinct"


async def scenario_value_1mib(args):
    topic = f"{args.prefix}-value-1mib"
    await create_topic(args, topic, config={"max.message.bytes": str(TOPIC_MAX_MESSAGE_BYTES)})
    value = bytes(range(256)) * (VALUE_1MIB_BYTES // 256)
    await produce_all(args, topic, [(b"big", value)], {"max_request_size": 3 * VALUE_1MIB_BYTES})
    [record] = await read_topic(args, topic, 1, 1, max_partition_fetch_bytes=3 * VALUE_1MIB_BYTES)
    check(record.value == value, f"value of {len(record.value or b'')} bytes differs")
    return "1 MiB value round-trips"


def codec_scenario(codec: str):
    async def scenario(args):
        topic = codec_topic(args.prefix, codec)
        await create_topic(args, topic)
        await produce_all(args, topic, codec_expected(), {"compression_type": codec, "linger_ms": 50})
        compare_codec_records([(r.key, r.value) for r in await read_topic(args, topic, 1, 100)], topic)
        if not args.previous_prefix:
            return f"100 {codec} records (no previous client)"
        previous = codec_topic(args.previous_prefix, codec)
        seen = [(r.key, r.value) for r in await read_topic(args, previous, 1, 100)]
        compare_codec_records(seen, previous)
        return f"100 {codec} records, and {previous} read back"
    return scenario


async def scenario_partitioner_murmur2(args):
    topic = f"{args.prefix}-murmur2"
    await create_topic(args, topic, MURMUR2_PARTITIONS)
    expected = murmur2_expected()
    # aiokafka's default partitioner hashes keys with Java's murmur2.
    delivered = await produce_all(args, topic, [(key.encode(), b"x") for key in expected])
    landed = {key: meta.partition for key, meta in zip(expected, delivered)}
    wrong = {k: (landed[k], p) for k, p in expected.items() if landed[k] != p}
    check(not wrong, f"{len(wrong)} keys elsewhere (got, want): {dict(list(wrong.items())[:3])}")
    return "100 keys where Java puts them"


async def member_loop(member: AIOKafkaConsumer, seen: list, stop: asyncio.Event) -> None:
    while not stop.is_set():
        batches = await member.getmany(timeout_ms=POLL_MS)
        seen.extend(int(r.value) for records in batches.values() for r in records)


async def wait_for(condition, what: str) -> None:
    end = deadline(CONSUME_TIMEOUT_S)
    while not condition() and before(end):
        await asyncio.sleep(0.05)
    check(condition(), what)


async def scenario_consumer_group(args):
    topic, group = f"{args.prefix}-group", f"{args.prefix}-group"
    await create_topic(args, topic, 6)
    members = [consumer(args, topic, group=group) for _ in range(3)]
    stops = [asyncio.Event() for _ in members]
    seen: list = []
    for member in members:
        await member.start()
    loops = [asyncio.create_task(member_loop(m, seen, s)) for m, s in zip(members, stops)]

    def assignments():
        return [sorted(tp.partition for tp in m.assignment()) for m in members]

    def owned_by_all():
        return sorted(p for a in assignments() for p in a) == list(range(6)) and all(assignments())

    try:
        await wait_for(owned_by_all, f"assignment {assignments()}")
        await produce_all(args, topic, [(f"k{i}".encode(), f"{i}".encode()) for i in range(600)])
        await wait_for(lambda: len(seen) >= 600, f"{len(seen)} of 600 read")
        check(sorted(seen) == list(range(600)), f"{len(seen)} read, {len(set(seen))} distinct of 600")
        seen.clear()
        for member in members:
            await member.commit()
        stops.pop().set()
        await loops.pop()
        await members.pop().stop()
        await wait_for(owned_by_all, f"after leave: assignment {assignments()}")
        await produce_all(args, topic, [(f"k{i}".encode(), f"{i}".encode()) for i in range(600, 660)])
        await wait_for(lambda: len(seen) >= 60, f"after leave: {len(seen)} of 60 read")
        check(sorted(seen) == list(range(600, 660)), f"after leave: read {sorted(seen)[:5]}...")
        return "600 once across 3; after a leave 2 members own 6 partitions and read 60 new"
    finally:
        for stop in stops:
            stop.set()
        await asyncio.gather(*loops, return_exceptions=True)
        for member in members:
            await member.stop()


async def scenario_commit_and_resume(args):
    topic, group = f"{args.prefix}-resume", f"{args.prefix}-resume"
    await create_topic(args, topic)
    await produce_all(args, topic, [(None, f"{i}".encode()) for i in range(20)])
    partition = TopicPartition(topic, 0)
    first = consumer(args, topic, group=group)
    await first.start()
    try:
        await consume(first, 10)
        await first.commit({partition: OffsetAndMetadata(10, "")})
    finally:
        await first.stop()
    second = consumer(args, topic, group=group)
    await second.start()
    try:
        committed = await second.committed(partition)
        check(committed == 10, f"committed offset {committed}, want 10")
        [record] = await consume(second, 1)
        check(record.offset == 10, f"resumed at {record.offset}, want 10")
    finally:
        await second.stop()
    return "resumed at committed offset 10"


async def scenario_seek(args):
    topic = f"{args.prefix}-seek"
    await create_topic(args, topic)
    base_ms = int(time.time() * 1000) - 100_000
    for i in range(10):
        await produce_all(args, topic, [(None, f"v{i}".encode())], timestamp_ms=base_ms + i * 1000)
    partition = TopicPartition(topic, 0)
    cons = consumer(args)
    await cons.start()
    try:
        cons.assign([partition])
        await cons.seek_to_beginning(partition)
        check(await cons.position(partition) == 0, "seek to beginning is not at 0")
        [record] = await consume(cons, 1)
        check(record.offset == 0, f"beginning read {record.offset}")
        found = (await cons.offsets_for_times({partition: base_ms + 4500}))[partition]
        check(found is not None and found.offset == 5, f"offsets_for_times gave {found}, want 5")
        cons.seek(partition, found.offset)
        [record] = await consume(cons, 1)
        check((record.offset, record.value) == (5, b"v5"), f"time seek read {record.offset}")
        await cons.seek_to_end(partition)
        position = await cons.position(partition)
        check(position == 10, f"end at {position}, want 10")
        await produce_all(args, topic, [(None, b"late")])
        [record] = await consume(cons, 1)
        check((record.offset, record.value) == (10, b"late"), f"after end read {record.offset}")
    finally:
        await cons.stop()
    return "beginning 0, timestamp 5, end 10"


async def scenario_idempotent_producer(args):
    topic = f"{args.prefix}-idempotent"
    await create_topic(args, topic)
    await produce_all(args, topic, [(None, f"{i}".encode()) for i in range(1000)],
                      {"enable_idempotence": True, "acks": "all"})
    values = [int(r.value) for r in await read_topic(args, topic, 1, 1000)]
    check(values == list(range(1000)), "records duplicated or out of order")
    return "1000 records once, in order"


async def scenario_transactions(args):
    topic = f"{args.prefix}-transactions"
    await create_topic(args, topic)
    prod = AIOKafkaProducer(bootstrap_servers=args.bootstrap, transactional_id=f"{args.prefix}-txn")
    await prod.start()  # InitProducerId with the transactional id
    try:
        for name, commit in (("a", True), ("b", False), ("c", True)):
            await prod.begin_transaction()
            for i in range(3):
                await prod.send_and_wait(topic, value=f"{name}{i}".encode(), partition=0)
            if commit:
                await prod.commit_transaction()
            else:
                await prod.abort_transaction()
    finally:
        await prod.stop()
    committed = [r.value.decode() for r in
                 await read_topic(args, topic, 1, 6, isolation_level="read_committed")]
    check(committed == ["a0", "a1", "a2", "c0", "c1", "c2"], f"read_committed read {committed}")
    everything = [r.value.decode() for r in
                  await read_topic(args, topic, 1, 9, isolation_level="read_uncommitted")]
    check(everything == ["a0", "a1", "a2", "b0", "b1", "b2", "c0", "c1", "c2"],
          f"read_uncommitted read {everything}")
    return "commit, abort, commit: read_committed 6 records in order, read_uncommitted 9"


async def topic_config(client, topic: str, name: str) -> str:
    [response] = await client.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    for resource in response.resources:
        for entry in resource[4]:  # (error_code, message, type, name, config_entries)
            if entry[0] == name:
                return entry[1]
    raise Fail(f"{name} not described for {topic}")


async def scenario_admin_topics(args):
    topic = f"{args.prefix}-admin-topics"
    await create_topic(args, topic, 2, {"retention.ms": "3600000"})
    async with Admin(args) as client:
        check(topic in await client.list_topics(), "created topic not listed")
        [described] = await client.describe_topics([topic])
        check(len(described["partitions"]) == 2, f"described {len(described['partitions'])} partitions")
        retention = await topic_config(client, topic, "retention.ms")
        check(retention == "3600000", f"retention.ms {retention}")
        response = await client.create_partitions({topic: NewPartitions(4)})
        check(all(result[1] == 0 for result in response.topic_errors), f"create_partitions {response}")
        await wait_for_partitions(client, topic, 4)
        response = await client.delete_topics([topic])
        check(all(result[1] == 0 for result in response.topic_error_codes), f"delete_topics {response}")
        end = deadline(30)
        # The last answer decides: asked again, another node of a cluster may not have applied
        # the deletion yet.
        while (listed := topic in await client.list_topics()) and before(end):
            await asyncio.sleep(0.1)
        check(not listed, "deleted topic still listed")
    return "create with config, describe, list, 2->4 partitions, delete"


async def scenario_admin_configs(args):
    topic = f"{args.prefix}-admin-configs"
    await create_topic(args, topic)
    async with Admin(args) as client:
        before_alter = await topic_config(client, topic, "retention.ms")
        await client.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                                   configs={"retention.ms": "123456"})])
        after, end = await topic_config(client, topic, "retention.ms"), deadline(CONFIG_WAIT_S)
        while after != "123456" and before(end):  # compat_common.read_until, awaited
            await asyncio.sleep(CONFIG_POLL_S)
            after = await topic_config(client, topic, "retention.ms")
    check(after == "123456", f"retention.ms {after} after alter")
    return f"retention.ms {before_alter} -> 123456 (AlterConfigs)"


async def scenario_admin_groups(args):
    topic, group = f"{args.prefix}-admin-groups", f"{args.prefix}-admin-groups"
    await create_topic(args, topic)
    member = consumer(args, topic, group=group)
    await member.start()
    try:
        await wait_for(lambda: bool(member.assignment()), "member got no assignment")
        async with Admin(args) as client:
            listed = [entry[0] for entry in await client.list_consumer_groups()]
            check(group in listed, f"{group} not listed")
            [response] = await client.describe_consumer_groups([group])
            [described] = response.groups
            # (error_code, group_id, state, protocol_type, protocol, members, ...)
            check(len(described[5]) == 1, f"{len(described[5])} members described")
            state = described[2]
    finally:
        await member.stop()
    return f"listed, described ({state}, 1 member); aiokafka has no delete-groups API"


async def scenario_admin_delete_records(args):
    topic = f"{args.prefix}-delete-records"
    await create_topic(args, topic)
    await produce_all(args, topic, [(None, f"{i}".encode()) for i in range(10)])
    partition = TopicPartition(topic, 0)
    async with Admin(args) as client:
        result = await client.delete_records({partition: RecordsToDelete(4)})
    check(result[partition] == 4, f"low watermark answered {result[partition]}, want 4")
    cons = consumer(args)
    await cons.start()
    try:
        low = (await cons.beginning_offsets([partition]))[partition]
        high = (await cons.end_offsets([partition]))[partition]
    finally:
        await cons.stop()
    check((low, high) == (4, 10), f"watermarks {(low, high)}, want (4, 10)")
    return "low watermark 4 of 10"


async def scenario_error_unknown_topic(args):
    topic = f"{args.prefix}-missing"
    async with Admin(args) as client:
        [described] = await client.describe_topics([topic])
    code = described["error_code"]
    check(code == UNKNOWN_TOPIC_OR_PARTITION, f"describe_topics error code {code}, want 3")
    try:
        await produce_all(args, topic, [(None, b"x")], {"request_timeout_ms": 3000})
    except UnknownTopicOrPartitionError as error:
        return f"describe and send: {type(error).__name__}"
    raise Fail(f"produce to missing {topic} succeeded")


async def scenario_error_record_too_large(args):
    topic = f"{args.prefix}-too-large"
    await create_topic(args, topic, config={"max.message.bytes": "10000"})
    try:
        await produce_all(args, topic, [(None, b"x" * 50_000)])
    except MessageSizeTooLargeError as error:
        return f"{type(error).__name__}"
    raise Fail("a 50 kB record was accepted by a topic with max.message.bytes 10000")


async def expect_create_error(args, topic: str, code: int, name: str) -> str:
    async with Admin(args) as client:
        response = await client.create_topics([NewTopic(topic, 1, 1)])
    got = topic_error_codes(response).get(topic)
    check(got == code, f"create {topic!r}: error code {got}, want {code} {name}")
    return name


async def scenario_error_invalid_topic_name(args):
    return await expect_create_error(args, INVALID_TOPIC_NAME, INVALID_TOPIC_EXCEPTION, "INVALID_TOPIC_EXCEPTION")


async def scenario_error_topic_exists(args):
    topic = f"{args.prefix}-exists"
    await create_topic(args, topic)
    return await expect_create_error(args, topic, TOPIC_ALREADY_EXISTS, "TOPIC_ALREADY_EXISTS")


def synchronous(coroutine_function):
    """Runs a scenario coroutine on a fresh event loop, bounded just under the runner's limit."""
    def run(args):
        return asyncio.run(asyncio.wait_for(coroutine_function(args), SCENARIO_TIMEOUT_S - 2))
    return run


SCENARIOS = {name: synchronous(function) for name, function in scenario_table(globals()).items()}

if __name__ == "__main__":
    log("aiokafka compat client")
    sys.exit(run_scenarios(SCENARIOS, parse_args(__doc__)))
