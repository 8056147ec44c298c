"""Replicated partitions on a 3-node cluster, with real clients (confluent_kafka), as Apache
Kafka documents them:

- an idempotent acks=all producer keeps writing while the partition's leader is killed with
  SIGKILL (replication factor 3, min.insync.replicas=2): every acknowledged record is in the log
  exactly once, in send order, at the offset its acknowledgement gave; a replica other than the
  killed node leads; the killed node, restarted, rejoins the ISR;
- min.insync.replicas=2 with replication factor 2: once the follower is killed and the ISR
  shrinks to the leader alone, an acks=all write is refused with NOT_ENOUGH_REPLICAS and not
  stored, an acks=1 write is taken; once the follower is back in the ISR, acks=all works again;
- the replicas hold the same records: read back (offset, key, value, headers, timestamp) from
  the first leader, then from the replica that leads after the first is killed, then from the
  one that leads after that one is killed too (the first restarted before, so the controller
  quorum keeps a majority). A consumer reads only from the leader (follower fetching needs a
  broker replica.selector.class), so the replica never elected is not read directly;
- describe_topics: every partition of a replication-factor-3 topic lists the 3 brokers as
  replicas and, once replication has caught up, as ISR, with its leader in the ISR; each node
  answers the same;
- creating a topic with replication factor 4 on 3 brokers fails with INVALID_REPLICATION_FACTOR
  and creates nothing;
- a consumer group goes on without a rebalance when its coordinator is killed: the broker that
  takes the group's `__consumer_offsets` partition over knows its generation and members (Kafka
  stores them there), so the member's heartbeats and commits are accepted there as they were.

Runs only with VLTAVA_TEST_BROKER=vltava-cluster or kafka-cluster (skipped at collection
otherwise, so it starts nothing), on the session's cluster (the `broker` fixture). Every test
restarts the nodes it killed, and the `cluster` fixture restarts any node a failed test left
dead, so the session cluster keeps its 3 nodes for the modules after this one.

Kafka removes a SIGKILLed broker from the ISR and elects another leader only once the broker's
session expires (broker.session.timeout.ms, 9 s); each kill costs about that, and each restart
the time a JVM needs to start and catch up: against Kafka 4.4.0 on the 2-core machine the module
takes about 2 min (105-118 s, 16-18 s of it starting the session cluster, 8 s stopping it);
against a vltava cluster about 25 s.
"""

import threading
import time

import pytest
from confluent_kafka import (Consumer, KafkaError, KafkaException, Producer, TopicCollection,
                             TopicPartition)
from confluent_kafka.admin import NewTopic

from conftest import BROKER_KIND, CLUSTER_NODES, IS_CLUSTER
from helpers import ADMIN_TIMEOUT_S, admin, create_topic, high_watermarks, read_partitions

if not IS_CLUSTER:
    pytest.skip(f"replication needs several brokers: runs only with VLTAVA_TEST_BROKER="
                f"vltava-cluster or kafka-cluster (this run: {BROKER_KIND})",
                allow_module_level=True)

# Kafka fences a SIGKILLed broker after broker.session.timeout.ms (9 s); a restarted node must
# start (a JVM for Kafka), register and catch up before it is back in the ISR.
FAILOVER_TIMEOUT_S = 60.0
ISR_TIMEOUT_S = 90.0
POLL_INTERVAL_S = 0.2            # describe_topics poll: an ISR change has no event a client awaits
DELIVERY_TIMEOUT_S = 30.0

FAILOVER_RECORDS = 2000
KILL_AFTER_ACKS = 200            # the leader dies once this many records were acknowledged
PRODUCE_TIMEOUT_S = 120.0        # the failover producer's message.timeout.ms and flush bound
SAME_RECORDS = 300
GROUP_RECORDS = 100              # per phase: before and after the coordinator's kill
GROUP_SESSION_TIMEOUT_MS = 30_000  # outlives Kafka's 9 s broker failover: no member expires


def live_bootstrap(cluster) -> str:
    return ",".join(node.bootstrap for node in cluster.nodes if node.alive())


def revive(cluster) -> None:
    """Restarts every node that does not run."""
    for node in cluster.nodes:
        if not node.alive():
            node.restart()


def await_brokers(cluster, timeout_s: float = ISR_TIMEOUT_S) -> None:
    """Until Metadata lists every node as broker N at 127.0.0.N's address (bounded)."""
    wanted = {n: node.bootstrap for n, node in enumerate(cluster.nodes, 1)}
    deadline = time.monotonic() + timeout_s
    listed = None
    while True:
        try:
            brokers = admin(cluster.bootstrap).list_topics(timeout=10).brokers
            listed = {b.id: f"{b.host}:{b.port}" for b in brokers.values()}
            if listed == wanted:
                return
        except KafkaException as error:  # a node that just restarted may not answer yet
            listed = error
        if time.monotonic() > deadline:
            raise AssertionError(f"brokers {listed} after {timeout_s}s, expected {wanted}")
        time.sleep(POLL_INTERVAL_S)


@pytest.fixture
def cluster(broker):
    """The session's cluster with its 3 nodes running and registered, before and after."""
    assert broker.kind in ("vltava-cluster", "kafka-cluster"), broker
    assert len(broker.nodes) == CLUSTER_NODES
    revive(broker)
    await_brokers(broker)
    yield broker
    revive(broker)
    await_brokers(broker)


def describe_partitions(bootstrap: str, topic: str) -> dict:
    """{partition: (leader id or -1, [replica ids], [isr ids])} from describe_topics."""
    client = admin(bootstrap)  # must outlive the future
    future = client.describe_topics(TopicCollection([topic]),
                                    request_timeout=10)[topic]
    description = future.result(timeout=ADMIN_TIMEOUT_S)
    return {p.id: (p.leader.id if p.leader is not None else -1,
                   [r.id for r in p.replicas], [r.id for r in p.isr])
            for p in description.partitions}


def await_partition(bootstrap: str, topic: str, what: str, accept, partition: int = 0,
                    timeout_s: float = ISR_TIMEOUT_S) -> tuple:
    """Polls describe_topics until accept(leader, replicas, isr) holds for the partition;
    returns (leader, replicas, isr). Errors while the cluster fails over count as not yet."""
    deadline = time.monotonic() + timeout_s
    last = None
    while True:
        try:
            last = describe_partitions(bootstrap, topic)[partition]
            if accept(*last):
                return last
        except KafkaException as error:
            last = error
        if time.monotonic() > deadline:
            raise AssertionError(f"{topic}[{partition}]: not {what} after {timeout_s}s; last "
                                 f"(leader, replicas, isr): {last}")
        time.sleep(POLL_INTERVAL_S)


def full_isr(leader, replicas, isr) -> bool:
    return leader in isr and sorted(isr) == sorted(replicas)


def send_one(bootstrap: str, topic: str, acks: str, value: bytes):
    """The delivery error of one record sent without retries (None when acknowledged)."""
    results = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks,
                         "enable.idempotence": False, "retries": 0,
                         "message.timeout.ms": int(DELIVERY_TIMEOUT_S * 1000)})
    producer.produce(topic, value=value, on_delivery=lambda err, msg: results.append(err))
    assert producer.flush(DELIVERY_TIMEOUT_S + 5) == 0
    assert len(results) == 1
    return results[0]


def read_all(bootstrap: str, topic: str) -> list:
    """Every record of partition 0, as (offset, key, value, headers, timestamp)."""
    end = high_watermarks(bootstrap, topic, 1)[0]
    got = read_partitions(bootstrap, topic, {0: end})[0]
    return [(m.offset(), m.key(), m.value(), m.headers(), m.timestamp()) for m in got]


def test_acked_writes_survive_the_leaders_kill_9(cluster, topic_name):
    create_topic(cluster.bootstrap, topic_name, replication_factor=3,
                 config={"min.insync.replicas": "2"})
    old_leader, replicas, _ = await_partition(cluster.bootstrap, topic_name, "fully replicated",
                                              full_isr)
    assert sorted(replicas) == [1, 2, 3]
    victim = cluster.nodes[old_leader - 1]

    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5,
                         "message.timeout.ms": int(PRODUCE_TIMEOUT_S * 1000)})
    acked = []   # (offset, value), in acknowledgement order
    failed = []  # (value, error)
    enough_acked = threading.Event()
    killed = threading.Event()
    sender_errors = []
    unflushed = []

    def on_delivery(error, message):
        if error is None:
            acked.append((message.offset(), message.value()))
            if len(acked) >= KILL_AFTER_ACKS:
                enough_acked.set()
        else:
            failed.append((message.value(), error))

    def await_kill():
        """Serves delivery reports (they run in poll()) until the test thread killed the leader."""
        deadline = time.monotonic() + FAILOVER_TIMEOUT_S
        while not killed.is_set():
            if time.monotonic() > deadline:
                raise AssertionError(f"the leader was not killed ({len(acked)} acks)")
            producer.poll(0.05)

    def send():
        try:
            for i in range(FAILOVER_RECORDS):
                # The second half goes to a partition whose leader is dead or newly elected.
                if i == FAILOVER_RECORDS // 2:
                    await_kill()
                producer.produce(topic_name, value=b"%06d" % i, on_delivery=on_delivery)
                # Pacing, not synchronisation: spreads the first half over about a second, so
                # that the kill lands while records are in flight.
                producer.poll(0.001)
            unflushed.append(producer.flush(PRODUCE_TIMEOUT_S))
        except BaseException as error:  # reported by the test thread
            sender_errors.append(error)

    sender = threading.Thread(target=send, name="failover-producer", daemon=True)
    sender.start()
    try:
        assert enough_acked.wait(FAILOVER_TIMEOUT_S), \
            f"only {len(acked)} acks in {FAILOVER_TIMEOUT_S}s; sender: {sender_errors}"
        acked_before_kill = len(acked)
        victim.kill9()
        acked_when_dead = len(acked)
        killed.set()
        new_leader, _, isr = await_partition(
            live_bootstrap(cluster), topic_name, "led by another node",
            lambda leader, replicas, isr: leader not in (-1, old_leader),
            timeout_s=FAILOVER_TIMEOUT_S)
        sender.join(PRODUCE_TIMEOUT_S + FAILOVER_TIMEOUT_S + 10)
        assert not sender.is_alive(), "the producer did not finish"
        assert not sender_errors, sender_errors
        assert unflushed == [0], f"{unflushed} records neither acknowledged nor failed"
        # Two replicas remain, min.insync.replicas=2: every record must eventually commit.
        assert not failed, f"{len(failed)} records failed, e.g. {failed[:3]}"
        print(f"leader {old_leader} killed after {acked_before_kill} acks (dead after "
              f"{acked_when_dead}); new leader {new_leader}, ISR {isr}")

        stored = read_all(live_bootstrap(cluster), topic_name)
        values = [value for _, _, value, _, _ in stored]
        duplicates = len(values) - len(set(values))
        assert duplicates == 0, f"{duplicates} duplicated records"
        assert values == sorted(values), "records out of send order"
        at_offset = {offset: value for offset, _, value, _, _ in stored}
        wrong = [(offset, value, at_offset.get(offset)) for offset, value in acked
                 if at_offset.get(offset) != value]
        assert not wrong, f"{len(wrong)} acked records missing or elsewhere, e.g. {wrong[:3]}"
        assert values == [b"%06d" % i for i in range(FAILOVER_RECORDS)]
        assert [offset for offset, _, _, _, _ in stored] == list(range(FAILOVER_RECORDS))

        victim.restart()
        await_partition(cluster.bootstrap, topic_name, f"back to 3 in sync with {old_leader}",
                        lambda leader, replicas, isr: sorted(isr) == [1, 2, 3])
    finally:
        killed.set()
        sender.join(PRODUCE_TIMEOUT_S + 10)
        if not victim.alive():
            victim.restart()


def test_not_enough_replicas_when_the_isr_is_below_min_insync(cluster, topic_name):
    # Replication factor 2 on 3 nodes: killing the follower leaves 2 of 3 controller voters.
    create_topic(cluster.bootstrap, topic_name, replication_factor=2,
                 config={"min.insync.replicas": "2"})
    leader, replicas, _ = await_partition(cluster.bootstrap, topic_name, "fully replicated",
                                          full_isr)
    assert len(replicas) == 2
    [follower_id] = [r for r in replicas if r != leader]
    follower = cluster.nodes[follower_id - 1]
    assert send_one(cluster.bootstrap, topic_name, "all", b"before") is None

    try:
        follower.kill9()
        live = live_bootstrap(cluster)
        await_partition(live, topic_name, f"shrunk to ISR [{leader}]",
                        lambda now_leader, replicas, isr: now_leader == leader and isr == [leader])

        refused = send_one(live, topic_name, "all", b"refused")
        assert refused is not None, "acks=all taken with 1 in sync, min.insync.replicas=2"
        assert refused.code() == KafkaError.NOT_ENOUGH_REPLICAS, refused
        assert send_one(live, topic_name, "1", b"acks-1") is None

        follower.restart()
        await_partition(cluster.bootstrap, topic_name, "back to 2 in sync", full_isr)
        assert send_one(cluster.bootstrap, topic_name, "all", b"after") is None
    finally:
        if not follower.alive():
            follower.restart()

    # The refused record was not appended; the acks=1 one was, and is replicated.
    assert [value for _, _, value, _, _ in read_all(cluster.bootstrap, topic_name)] == \
        [b"before", b"acks-1", b"after"]


def test_replicas_hold_the_same_records(cluster, topic_name):
    create_topic(cluster.bootstrap, topic_name, replication_factor=3,
                 config={"min.insync.replicas": "2"})
    first, _, _ = await_partition(cluster.bootstrap, topic_name, "fully replicated", full_isr)

    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5})
    for i in range(SAME_RECORDS):
        producer.produce(topic_name, key=b"k%d" % (i % 7), value=b"value-%d" % i,
                         headers=[("n", b"%d" % i)], timestamp=1_700_000_000_000 + i)
    assert producer.flush(DELIVERY_TIMEOUT_S) == 0
    # Each replica acknowledged them (acks=all with 3 in sync).
    await_partition(cluster.bootstrap, topic_name, "fully replicated", full_isr)

    baseline = read_all(cluster.bootstrap, topic_name)
    assert [value for _, _, value, _, _ in baseline] == \
        [b"value-%d" % i for i in range(SAME_RECORDS)]
    read_from = [first]

    first_node = cluster.nodes[first - 1]
    second_node = None
    try:
        first_node.kill9()
        second, _, _ = await_partition(
            live_bootstrap(cluster), topic_name, f"led by a node other than {first}",
            lambda leader, replicas, isr: leader not in (-1, first), timeout_s=FAILOVER_TIMEOUT_S)
        assert read_all(live_bootstrap(cluster), topic_name) == baseline, \
            f"leader {second} holds other records than {first}"
        read_from.append(second)

        first_node.restart()
        await_partition(cluster.bootstrap, topic_name, "fully replicated again", full_isr)
        second_node = cluster.nodes[second - 1]
        second_node.kill9()
        third, _, _ = await_partition(
            live_bootstrap(cluster), topic_name, f"led by a node other than {second}",
            lambda leader, replicas, isr: leader not in (-1, second), timeout_s=FAILOVER_TIMEOUT_S)
        assert read_all(live_bootstrap(cluster), topic_name) == baseline, \
            f"leader {third} holds other records than {first}"
        read_from.append(third)

        second_node.restart()
        await_partition(cluster.bootstrap, topic_name, "fully replicated again", full_isr)
    finally:
        for node in (first_node, second_node):
            if node is not None and not node.alive():
                node.restart()
    print(f"the same {SAME_RECORDS} records read from leaders {read_from}")


def test_describe_topics_shows_replicas_and_isr(cluster, topic_name):
    partitions = 3
    create_topic(cluster.bootstrap, topic_name, partitions=partitions, replication_factor=3)
    for partition in range(partitions):
        leader, replicas, isr = await_partition(cluster.bootstrap, topic_name, "fully replicated",
                                                full_isr, partition=partition)
        assert sorted(replicas) == [1, 2, 3]
        assert sorted(isr) == [1, 2, 3]
        assert leader in isr
    described = describe_partitions(cluster.bootstrap, topic_name)
    assert sorted(described) == list(range(partitions))
    for node in cluster.nodes:
        assert describe_partitions(node.bootstrap, topic_name) == described, \
            f"{node.bootstrap} describes the topic differently"


def test_replication_factor_above_the_broker_count_is_refused(cluster, topic_name):
    client = admin(cluster.bootstrap)
    future = client.create_topics(
        [NewTopic(topic_name, num_partitions=1, replication_factor=CLUSTER_NODES + 1)],
        operation_timeout=ADMIN_TIMEOUT_S, request_timeout=ADMIN_TIMEOUT_S)[topic_name]
    with pytest.raises(KafkaException) as refused:
        future.result(timeout=ADMIN_TIMEOUT_S)
    assert refused.value.args[0].code() == KafkaError.INVALID_REPLICATION_FACTOR, refused.value
    assert topic_name not in client.list_topics(timeout=ADMIN_TIMEOUT_S).topics


def coordinator_of(bootstrap: str, group: str) -> int:
    """The node id of the group's coordinator, as DescribeGroups reports it."""
    client = admin(bootstrap)  # must outlive the future: destroying it fails the future
    futures = client.describe_consumer_groups([group], request_timeout=ADMIN_TIMEOUT_S)
    return futures[group].result(ADMIN_TIMEOUT_S).coordinator.id


def produce_numbered(bootstrap: str, topic: str, numbers: range) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "message.timeout.ms": int(PRODUCE_TIMEOUT_S * 1000)})
    failed = []
    for i in numbers:
        producer.produce(topic, value=b"%06d" % i,
                         on_delivery=lambda error, _: error and failed.append(error))
    assert producer.flush(PRODUCE_TIMEOUT_S) == 0, "records neither acknowledged nor failed"
    assert not failed, failed[:3]


def consume_values(consumer, count: int) -> list:
    """The values of the next `count` records the consumer reads (bounded)."""
    values = []
    deadline = time.monotonic() + FAILOVER_TIMEOUT_S
    while len(values) < count:
        assert time.monotonic() < deadline, f"read {len(values)} of {count} records"
        message = consumer.poll(0.2)
        if message is not None and message.error() is None:
            values.append(message.value())
    return values


def commit_retrying(consumer) -> list:
    """A synchronous commit of the consumer's positions (those it has: the partitions it read
    from), retried while the coordinator moves; returns what was committed."""
    positions = [tp for tp in consumer.position(consumer.assignment()) if tp.offset >= 0]
    deadline = time.monotonic() + FAILOVER_TIMEOUT_S
    while True:
        try:
            return consumer.commit(offsets=positions, asynchronous=False)
        except KafkaException as error:
            # librdkafka's local "waiting for coordinator" is not flagged retriable.
            retriable = error.args[0].retriable() or error.args[0].code() == KafkaError._WAIT_COORD
            if not retriable or time.monotonic() > deadline:
                raise
            time.sleep(POLL_INTERVAL_S)  # retry backoff: the new coordinator is being elected


def test_a_group_goes_on_without_a_rebalance_when_its_coordinator_dies(cluster, topic_name):
    partitions = 3
    create_topic(cluster.bootstrap, topic_name, partitions=partitions, replication_factor=3,
                 config={"min.insync.replicas": "2"})
    group = f"{topic_name}-group"
    assignments = []
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group,
                         "session.timeout.ms": GROUP_SESSION_TIMEOUT_MS,
                         "heartbeat.interval.ms": 500, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe([topic_name], on_assign=lambda _, assigned: assignments.append(
        sorted(p.partition for p in assigned)))
    victim = None
    try:
        produce_numbered(cluster.bootstrap, topic_name, range(GROUP_RECORDS))
        values = consume_values(consumer, GROUP_RECORDS)
        commit_retrying(consumer)
        assert assignments == [list(range(partitions))], assignments
        coordinator = coordinator_of(cluster.bootstrap, group)
        victim = cluster.nodes[coordinator - 1]
        victim.kill9()

        produce_numbered(live_bootstrap(cluster), topic_name,
                         range(GROUP_RECORDS, 2 * GROUP_RECORDS))
        values += consume_values(consumer, GROUP_RECORDS)
        committed = commit_retrying(consumer)
        assert sorted(values) == [b"%06d" % i for i in range(2 * GROUP_RECORDS)]
        assert coordinator_of(live_bootstrap(cluster), group) != coordinator
        # One assignment only: the member was never told to rejoin.
        assert assignments == [list(range(partitions))], \
            f"rebalanced after the coordinator's death: {assignments}"
        ends = high_watermarks(live_bootstrap(cluster), topic_name, partitions)
        read = {p: end for p, end in ends.items() if end > 0}
        assert {tp.partition: tp.offset for tp in committed if tp.offset >= 0} == read
    finally:
        consumer.close()
        if victim is not None and not victim.alive():
            victim.restart()
