"""Transactions and exactly-once (issue 16) with librdkafka's transactional producer.

Guards against: a read_committed consumer seeing an aborted record or missing a committed one
(Jepsen's G1a aborted read and lost write); a zombie producer (an older instance with the same
transactional.id) getting a write through after it was fenced; and a consume-transform-produce
loop whose aborted batch leaves duplicates in its output or its group's offset short of the
input's end.
"""

import subprocess
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import (Consumer, IsolationLevel, KafkaError, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import OffsetSpec

from conftest import KAFKA_REFERENCE
from helpers import admin, consumer_config, create_topic, high_watermarks, read_partitions

TXN_TIMEOUT_S = 30.0
READ_TIMEOUT_S = 60.0
# librdkafka's transactional calls take a timeout each; generous, a coordinator may be loading.
CALL_TIMEOUT_S = 30.0


def transactional_producer(bootstrap: str, transactional_id: str,
                           timeout_s: float = TXN_TIMEOUT_S) -> Producer:
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "transactional.id": transactional_id,
        "transaction.timeout.ms": int(timeout_s * 1000),
        "linger.ms": 5,
    })
    producer.init_transactions(CALL_TIMEOUT_S)
    return producer


def transaction(producer: Producer, topic: str, values: list[str], commit: bool) -> None:
    producer.begin_transaction()
    for value in values:
        producer.produce(topic, value=value.encode(), partition=0)
    if commit:
        producer.commit_transaction(CALL_TIMEOUT_S)
    else:
        producer.flush(CALL_TIMEOUT_S)
        producer.abort_transaction(CALL_TIMEOUT_S)


def open_after_a_commit(bootstrap: str, topic: str, transactional_id: str, committed: str,
                        pending: str, timeout_s: float = TXN_TIMEOUT_S) -> Producer:
    """A producer that committed `committed` and has `pending` in its open transaction, in the
    log (flushed): offset 0, its marker at 1, `pending` at 2."""
    producer = transactional_producer(bootstrap, transactional_id, timeout_s)
    transaction(producer, topic, [committed], commit=True)
    producer.begin_transaction()
    producer.produce(topic, value=pending.encode(), partition=0)
    producer.flush(CALL_TIMEOUT_S)
    return producer


def read_values(bootstrap: str, topic: str, isolation_level: str, expected: int,
                partition: int = 0) -> list[str]:
    """Reads partition 0 from the start until `expected` values arrived (bounded), then checks
    that nothing more comes before the partition's end."""
    consumer = Consumer(consumer_config(bootstrap, **{"isolation.level": isolation_level}))
    try:
        consumer.assign([TopicPartition(topic, partition, 0)])
        values = []
        deadline = time.monotonic() + READ_TIMEOUT_S
        while len(values) < expected:
            if time.monotonic() > deadline:
                raise AssertionError(f"read {values}, expected {expected} values")
            for message in consumer.consume(num_messages=1000, timeout=1.0):
                if message.error() is not None:
                    if message.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(message.error())
                values.append(message.value().decode())
        # Anything beyond what was expected would already be in the fetched data: drain briefly.
        for message in consumer.consume(num_messages=1000, timeout=1.0):
            if message.error() is None:
                values.append(message.value().decode())
        return values
    finally:
        consumer.close()


def latest_offset(bootstrap: str, topic: str, isolation_level: IsolationLevel) -> int:
    """ListOffsets LATEST of partition 0 with the isolation level."""
    partition = TopicPartition(topic, 0)
    client = admin(bootstrap)  # must outlive the futures
    futures = client.list_offsets({partition: OffsetSpec.latest()},
                                  isolation_level=isolation_level, request_timeout=CALL_TIMEOUT_S)
    return futures[partition].result(timeout=CALL_TIMEOUT_S).offset


def test_read_committed_sees_only_committed_transactions_in_order(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    producer = transactional_producer(broker.bootstrap, f"txn-{uuid.uuid4()}")
    transaction(producer, topic_name, ["a1", "a2", "a3"], commit=True)
    transaction(producer, topic_name, ["b1", "b2"], commit=False)
    transaction(producer, topic_name, ["c1", "c2"], commit=True)

    committed = read_values(broker.bootstrap, topic_name, "read_committed", 5)
    assert committed == ["a1", "a2", "a3", "c1", "c2"]
    everything = read_values(broker.bootstrap, topic_name, "read_uncommitted", 7)
    assert everything == ["a1", "a2", "a3", "b1", "b2", "c1", "c2"]
    # Three control markers follow the seven records: the log end counts them.
    assert high_watermarks(broker.bootstrap, topic_name, 1) == {0: 10}


def test_an_open_transaction_holds_back_read_committed_consumers(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    producer = open_after_a_commit(broker.bootstrap, topic_name, f"txn-{uuid.uuid4()}", "before",
                                   "pending")

    # The uncommitted record is in the log, so read_uncommitted sees it...
    assert read_values(broker.bootstrap, topic_name, "read_uncommitted", 2) == ["before", "pending"]
    # ...while read_committed stops at the last stable offset, before it: Fetch and ListOffsets.
    assert read_values(broker.bootstrap, topic_name, "read_committed", 1) == ["before"]
    # "before" at 0 and its marker at 1: the open transaction starts at 2, the log ends at 3.
    assert latest_offset(broker.bootstrap, topic_name, IsolationLevel.READ_COMMITTED) == 2
    assert latest_offset(broker.bootstrap, topic_name, IsolationLevel.READ_UNCOMMITTED) == 3
    producer.commit_transaction(CALL_TIMEOUT_S)
    assert read_values(broker.bootstrap, topic_name, "read_committed", 2) == ["before", "pending"]
    assert latest_offset(broker.bootstrap, topic_name, IsolationLevel.READ_COMMITTED) == 4


def test_a_fenced_zombie_never_gets_a_write_through(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    transactional_id = f"zombie-{uuid.uuid4()}"
    zombie = open_after_a_commit(broker.bootstrap, topic_name, transactional_id,
                                 "old-committed", "zombie-pending")

    # A new instance with the same id fences the old one and aborts its open transaction.
    successor = transactional_producer(broker.bootstrap, transactional_id)
    with pytest.raises(KafkaException) as fenced:
        zombie.produce(topic_name, value=b"zombie-late", partition=0)
        zombie.commit_transaction(CALL_TIMEOUT_S)
    assert fenced.value.args[0].fatal() or not fenced.value.args[0].retriable()
    transaction(successor, topic_name, ["new-committed"], commit=True)

    assert read_values(broker.bootstrap, topic_name, "read_committed", 2) == [
        "old-committed", "new-committed"]


def test_consume_transform_produce_with_an_aborted_batch_is_exactly_once(broker, topic_name):
    source, sink, group = f"{topic_name}-in", f"{topic_name}-out", f"{topic_name}-group"
    create_topic(broker.bootstrap, source)
    create_topic(broker.bootstrap, sink)
    inputs = [f"event-{i}" for i in range(30)]
    plain = Producer({"bootstrap.servers": broker.bootstrap})
    for value in inputs:
        plain.produce(source, value=value.encode(), partition=0)
    assert plain.flush(CALL_TIMEOUT_S) == 0

    consumer = Consumer(consumer_config(broker.bootstrap, **{
        "group.id": group, "isolation.level": "read_committed"}))
    producer = transactional_producer(broker.bootstrap, f"ctp-{uuid.uuid4()}")
    try:
        consumer.assign([TopicPartition(source, 0, 0)])
        position, batches, aborted = 0, 0, False
        deadline = time.monotonic() + READ_TIMEOUT_S
        while position < len(inputs):
            assert time.monotonic() < deadline, f"processed up to {position} of {len(inputs)}"
            messages = [m for m in consumer.consume(num_messages=10, timeout=1.0)
                        if m.error() is None]
            if not messages:
                continue
            producer.begin_transaction()
            for message in messages:
                producer.produce(sink, value=message.value().decode().upper().encode(), partition=0)
            end = messages[-1].offset() + 1
            producer.send_offsets_to_transaction(
                [TopicPartition(source, 0, end)], consumer.consumer_group_metadata(), CALL_TIMEOUT_S)
            batches += 1
            if batches == 2 and not aborted:
                # The second batch fails mid-way: abort, rewind to the last commit, redo it.
                aborted = True
                producer.abort_transaction(CALL_TIMEOUT_S)
                consumer.seek(TopicPartition(source, 0, position))
                continue
            producer.commit_transaction(CALL_TIMEOUT_S)
            position = end
        assert aborted
    finally:
        consumer.close()

    output = read_values(broker.bootstrap, sink, "read_committed", len(inputs))
    assert output == [value.upper() for value in inputs]
    checker = Consumer(consumer_config(broker.bootstrap, **{"group.id": group}))
    try:
        [committed] = checker.committed([TopicPartition(source, 0)], timeout=CALL_TIMEOUT_S)
        assert committed.offset == len(inputs)
    finally:
        checker.close()


def test_offsets_of_an_open_transaction_are_unstable_for_read_committed(broker, topic_name):
    """OffsetFetch require_stable (KIP-447): librdkafka asks for it under read_committed and
    retries UNSTABLE_OFFSET_COMMIT until the transaction is decided."""
    create_topic(broker.bootstrap, topic_name)
    group = f"{topic_name}-group"
    producer = transactional_producer(broker.bootstrap, f"unstable-{uuid.uuid4()}")
    producer.begin_transaction()
    producer.produce(topic_name, value=b"out", partition=0)
    metadata = Consumer(consumer_config(broker.bootstrap, **{"group.id": group}))
    try:
        producer.send_offsets_to_transaction([TopicPartition(topic_name, 0, 7)],
                                             metadata.consumer_group_metadata(), CALL_TIMEOUT_S)
    finally:
        metadata.close()
    wanted = [TopicPartition(topic_name, 0)]
    uncommitted = Consumer(consumer_config(broker.bootstrap, **{
        "group.id": group, "isolation.level": "read_uncommitted"}))
    committed = Consumer(consumer_config(broker.bootstrap, **{
        "group.id": group, "isolation.level": "read_committed"}))
    try:
        # Not yet committed: nothing for either; read_committed is told to wait.
        assert uncommitted.committed(wanted, timeout=CALL_TIMEOUT_S)[0].offset < 0
        with pytest.raises(KafkaException):
            committed.committed(wanted, timeout=3)
        producer.commit_transaction(CALL_TIMEOUT_S)
        assert committed.committed(wanted, timeout=CALL_TIMEOUT_S)[0].offset == 7
    finally:
        uncommitted.close()
        committed.close()


# A short transaction timeout for the crash tests: the coordinator aborts an abandoned
# transaction after it (and its check interval, 10 s in Kafka and vltava).
CRASH_TXN_TIMEOUT_S = 5.0


def test_after_a_crash_the_next_instance_aborts_the_open_transaction(broker_factory, topic_name):
    """kill -9 with a transaction open: the coordinator's state comes back from
    __transaction_state, so the next instance of the transactional id fences the old one and
    aborts its transaction. Had the state been lost, the old transaction would never get a
    marker and read_committed consumers would stay stuck before it."""
    broker = broker_factory()
    create_topic(broker.bootstrap, topic_name)
    transactional_id = f"crash-{uuid.uuid4()}"
    before = open_after_a_commit(broker.bootstrap, topic_name, transactional_id, "kept", "lost")
    broker.kill9()
    broker.restart()
    # `before` stays open but idle: a zombie that sends nothing more.

    after = transactional_producer(broker.bootstrap, transactional_id)
    transaction(after, topic_name, ["after"], commit=True)
    assert read_values(broker.bootstrap, topic_name, "read_committed", 2) == ["kept", "after"]
    assert "lost" in read_values(broker.bootstrap, topic_name, "read_uncommitted", 3)


def test_an_abandoned_transaction_is_aborted_after_its_timeout(broker_factory, topic_name):
    """The producer crashes (is dropped) with a transaction open and no instance comes back:
    the coordinator aborts it once transaction.timeout.ms has passed, also across a broker
    restart, so the last stable offset moves on."""
    broker = broker_factory()
    create_topic(broker.bootstrap, topic_name)
    abandoned = open_after_a_commit(broker.bootstrap, topic_name, f"abandoned-{uuid.uuid4()}",
                                    "kept", "lost", timeout_s=CRASH_TXN_TIMEOUT_S)
    broker.kill9()
    broker.restart()
    # `abandoned` stays open but idle: destroying it could end its transaction.

    other = transactional_producer(broker.bootstrap, f"other-{uuid.uuid4()}")
    transaction(other, topic_name, ["after"], commit=True)
    # Bounded by read_values' timeout, well past the 5 s timeout and the 10 s check interval.
    assert read_values(broker.bootstrap, topic_name, "read_committed", 2) == ["kept", "after"]


TRANSACTIONS_TOOL = "org.apache.kafka.tools.TransactionsCommand"  # kafka-transactions
TOOL_TIMEOUT_S = 120.0
CLASSPATH_TIMEOUT_S = 900.0  # the first `kafka-reference classpath` downloads the jars
# A small heap and the C1 compiler only: the tool runs for a second or two.
JAVA_OPTS = ["-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]


def kafka_transactions(bootstrap: str, *args: str) -> str:
    """Kafka's kafka-transactions tool (the kafka-tools 4.4.0 jar); its stdout."""
    classpath = subprocess.run([str(KAFKA_REFERENCE), "classpath"], capture_output=True, text=True,
                               timeout=CLASSPATH_TIMEOUT_S, stdin=subprocess.DEVNULL, check=True)
    argv = ["java", *JAVA_OPTS, "-cp", classpath.stdout.strip().splitlines()[-1],
            TRANSACTIONS_TOOL, "--bootstrap-server", bootstrap, *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result.stdout


def rows(table: str) -> list[dict]:
    """The tool's whitespace-separated table as dicts keyed by its header."""
    lines = [line.split() for line in table.strip().splitlines()]
    return [dict(zip(lines[0], line)) for line in lines[1:]]


def test_admin_tools_describe_an_open_transaction(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    transactional_id = f"described-{uuid.uuid4()}"
    producer = open_after_a_commit(broker.bootstrap, topic_name, transactional_id, "first", "open")

    listed = {r["TransactionalId"]: r for r in rows(kafka_transactions(broker.bootstrap, "list"))}
    assert listed[transactional_id]["TransactionState"] == "Ongoing"
    [described] = rows(kafka_transactions(broker.bootstrap, "describe",
                                          "--transactional-id", transactional_id))
    assert described["TransactionState"] == "Ongoing"
    assert described["TopicPartitions"] == f"{topic_name}-0"
    [producer_row] = rows(kafka_transactions(broker.bootstrap, "describe-producers",
                                             "--topic", topic_name, "--partition", "0"))
    # "first" at 0, its marker at 1: the open transaction starts at 2.
    assert producer_row["CurrentTransactionStartOffset"] == "2"
    assert producer_row["ProducerId"] == described["ProducerId"]

    producer.commit_transaction(CALL_TIMEOUT_S)
    [producer_row] = rows(kafka_transactions(broker.bootstrap, "describe-producers",
                                             "--topic", topic_name, "--partition", "0"))
    assert producer_row["CurrentTransactionStartOffset"] == "None"


ID_EXPIRATION_MS = 8000
EXPIRY_TIMEOUT_S = 60.0


def listed_transactional_ids(bootstrap: str) -> set[str]:
    return {r["TransactionalId"] for r in rows(kafka_transactions(bootstrap, "list"))}


def state_records(bootstrap: str, transactional_id: str) -> list:
    """The values of the transactional id's records in __transaction_state, in log order (its
    key is a version and the id as a length-prefixed string: it ends with the id)."""
    topic = "__transaction_state"
    partitions = len(admin(bootstrap).list_topics(topic, timeout=CALL_TIMEOUT_S)
                     .topics[topic].partitions)
    logs = read_partitions(bootstrap, topic, high_watermarks(bootstrap, topic, partitions))
    key_end = transactional_id.encode()
    return [m.value() for messages in logs.values() for m in messages
            if m.key() is not None and m.key().endswith(key_end)]


def test_an_idle_transactional_id_expires_and_stays_forgotten_after_a_restart(broker_factory,
                                                                              topic_name):
    """transactional.id.expiration.ms: a transactional id with no transaction open for that
    long is forgotten, with a tombstone in __transaction_state, so the coordinator's memory
    does not grow with every id ever used and a restart does not load it back. The id can be
    used again afterwards."""
    broker = broker_factory(settings={
        "transactional.id.expiration.ms": ID_EXPIRATION_MS,
        "transaction.remove.expired.transaction.cleanup.interval.ms": 500})
    create_topic(broker.bootstrap, topic_name)
    transactional_id = f"expiring-{uuid.uuid4()}"
    first = transactional_producer(broker.bootstrap, transactional_id)
    transaction(first, topic_name, ["before"], commit=True)
    assert transactional_id in listed_transactional_ids(broker.bootstrap)

    deadline = time.monotonic() + EXPIRY_TIMEOUT_S
    while transactional_id in listed_transactional_ids(broker.bootstrap):
        assert time.monotonic() < deadline, f"{transactional_id} still listed"
        time.sleep(1.0)  # poll interval: an expiry has no event a client can await
    # The id's last record in __transaction_state is its tombstone: without it, a restart or
    # a new leader of the partition would load the id back.
    assert state_records(broker.bootstrap, transactional_id)[-1] is None
    broker.restart()
    assert transactional_id not in listed_transactional_ids(broker.bootstrap)

    again = transactional_producer(broker.bootstrap, transactional_id)
    transaction(again, topic_name, ["after"], commit=True)
    assert read_values(broker.bootstrap, topic_name, "read_committed", 2) == ["before", "after"]


# Kafka Streams exactly_once_v2 through a broker crash: the compat client's EosApp (the word
# count of compat/clients/kafka-streams) runs while the broker is killed with -9 and restarted.
STREAMS_CLIENT = Path(__file__).resolve().parents[2] / "compat" / "clients" / "kafka-streams"
STREAMS_JAR = STREAMS_CLIENT / "target" / "compat-kafka-streams.jar"
STREAMS_SETUP_TIMEOUT_S = 900.0  # a first build downloads Kafka Streams from Maven Central
STREAMS_RUNNING_TIMEOUT_S = 60.0
STREAMS_COUNTS_TIMEOUT_S = 120.0  # the crash's recovery: abort, fencing, task re-init
STREAMS_WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"]
STREAMS_LINES_PER_PHASE = 60


def streams_lines(phase: int) -> list[str]:
    return [f"{STREAMS_WORDS[i % 7]} {STREAMS_WORDS[(i * 3 + phase) % 7]} Common"
            for i in range(STREAMS_LINES_PER_PHASE)]


def word_counts(*phases: int) -> dict:
    counts: dict = {}
    for phase in phases:
        for line in streams_lines(phase):
            for word in line.lower().split():
                counts[word] = counts.get(word, 0) + 1
    return counts


def produce_lines(bootstrap: str, topic: str, lines: list[str]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for index, line in enumerate(lines):
        producer.produce(topic, key=f"line-{index}", value=line)
    assert producer.flush(CALL_TIMEOUT_S) == 0, "lines not delivered"


def committed_updates(bootstrap: str, topic: str, want: dict, timeout_s: float) -> dict:
    """Every count written per word (read_committed), read until the last ones equal `want` or
    the time is up."""
    consumer = Consumer(consumer_config(bootstrap, **{"isolation.level": "read_committed"}))
    updates: dict = {}
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if {w: c[-1] for w, c in updates.items()} == want:
                break
            for message in consumer.consume(num_messages=1000, timeout=0.5):
                if message.error() is None:
                    count = int.from_bytes(message.value(), "big", signed=True)
                    updates.setdefault(message.key().decode(), []).append(count)
    finally:
        consumer.close()
    return updates


@pytest.mark.single_node("kills the one broker under the Streams application")
def test_streams_exactly_once_counts_are_exact_through_a_broker_kill_9(broker_factory, topic_name,
                                                                       tmp_path):
    """exactly_once_v2 through kill -9 of the broker mid-stream: with the store's cache off
    Streams writes every count, so in the committed output each word's counts must be exactly
    1, 2, ..., n. A transaction lost or half-committed in the crash shows as a count missing, or
    written twice (input reprocessed without its earlier output being aborted)."""
    if not STREAMS_JAR.exists():
        subprocess.run([str(STREAMS_CLIENT / "setup")], check=True, timeout=STREAMS_SETUP_TIMEOUT_S,
                       stdin=subprocess.DEVNULL)
    broker = broker_factory()
    source, sink = f"{topic_name}-lines", f"{topic_name}-counts"
    create_topic(broker.bootstrap, source, partitions=2)
    create_topic(broker.bootstrap, sink)
    produce_lines(broker.bootstrap, source, streams_lines(0))
    app = subprocess.Popen(
        ["java", "-Xmx256m", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp",
         f"{STREAMS_JAR}:{STREAMS_CLIENT / 'target' / 'lib'}/*", "dev.vltava.compat.streams.EosApp",
         broker.bootstrap, f"{topic_name}-app", source, sink, str(tmp_path / "streams-state")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert app.stdout.readline().strip() == "RUNNING"
        warm = committed_updates(broker.bootstrap, sink, word_counts(0), STREAMS_RUNNING_TIMEOUT_S)
        assert {w: c[-1] for w, c in warm.items()} == word_counts(0), "the first lines' counts"
        produce_lines(broker.bootstrap, source, streams_lines(1))
        broker.kill9()  # mid-stream: Streams is processing the second lines
        broker.restart()
        produce_lines(broker.bootstrap, source, streams_lines(2))
        want = word_counts(0, 1, 2)
        updates = committed_updates(broker.bootstrap, sink, want, STREAMS_COUNTS_TIMEOUT_S)
    finally:
        app.stdin.close()
        try:
            app.wait(timeout=30)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()
    assert {w: c[-1] for w, c in updates.items()} == want
    for word, counts in updates.items():
        assert counts == list(range(1, want[word] + 1)), f"{word}: {counts}"
