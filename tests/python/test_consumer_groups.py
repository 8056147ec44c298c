"""Classic consumer groups (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
OffsetFetch, DescribeGroups, ListGroups, DeleteGroups) with librdkafka and kafka-python.

Guards against: partitions handed to two members at once or to nobody, records delivered twice
or lost across a rebalance (offsets committed during the rebalance not visible to the next
owner), LeaveGroup ignored (the group waits for a session timeout), a killed member never
expired (its partitions stuck) or expired too early, committed offsets kept only in memory
(lost on restart), a static member's restart treated as a new member (a needless rebalance),
a group left by every member hanging in a rebalance, commit metadata dropped, and admin
answers (describe, list with a state filter, offsets, delete) that do not match Kafka's.

librdkafka members are driven from the test thread, polled in turn (librdkafka joins and
heartbeats in its own threads), so rebalance callbacks run in a known order; kafka-python
members, whose poll() does the joining, each poll in a thread of their own.
"""

import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter

from confluent_kafka import (Consumer, ConsumerGroupState, ConsumerGroupTopicPartitions,
                             ConsumerGroupType, KafkaError, KafkaException, Producer,
                             TopicPartition)
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition
from kafka.structs import OffsetAndMetadata

from helpers import ADMIN_TIMEOUT_S, admin, create_topic, high_watermarks

SESSION_TIMEOUT_MS = 6000  # the broker's default group.min.session.timeout.ms
HEARTBEAT_INTERVAL_MS = 500
POLL_S = 0.1
BATCH = 1000
JOIN_TIMEOUT_S = 30.0
CONSUME_TIMEOUT_S = 90.0
MAX_POLL_ROUNDS = 100_000  # a backstop: every loop also has a deadline


def group_name(topic: str) -> str:
    return f"{topic}-group"


def group_config(bootstrap: str, group: str, **extra) -> dict:
    config = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    config.update(extra)
    return config


class Member:
    """A confluent-kafka group member that records what it was given and what it consumed."""

    def __init__(self, name: str, config: dict, topic: str, commit_each_batch: bool = False):
        self.name = name
        self.topic = topic
        self.commit_each_batch = commit_each_batch
        self.consumer = Consumer(config)
        self.assigned = []  # one frozenset of partitions per on_assign
        self.revoked = []
        self.messages = []  # (partition, offset, key)
        self.closed = False
        self.consumer.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke)

    def _on_assign(self, consumer, partitions):
        self.assigned.append(frozenset(p.partition for p in partitions))

    def _on_revoke(self, consumer, partitions):
        self.revoked.append(frozenset(p.partition for p in partitions))

    def owned(self) -> frozenset:
        return frozenset(tp.partition for tp in self.consumer.assignment())

    def poll(self) -> None:
        batch = self.consumer.consume(num_messages=BATCH, timeout=POLL_S)
        last = {}
        for message in batch:
            if message.error() is not None:
                raise KafkaException(message.error())
            self.messages.append((message.partition(), message.offset(), message.key()))
            last[message.partition()] = message.offset()
        if self.commit_each_batch and last:
            # Synchronous, before the next poll: a rebalance cannot start between the two.
            result = self.consumer.commit(
                offsets=[TopicPartition(self.topic, p, o + 1) for p, o in last.items()],
                asynchronous=False)
            errors = [tp for tp in result if tp.error is not None]
            assert not errors, f"{self.name}: commit failed: {errors}"

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.consumer.close()


def drive(members, done, timeout_s: float, what: str) -> float:
    """Poll every member in turn until done() holds; returns the seconds it took."""
    start = time.monotonic()
    deadline = start + timeout_s
    for _ in range(MAX_POLL_ROUNDS):
        for member in members:
            member.poll()
        if done():
            return time.monotonic() - start
        if time.monotonic() > deadline:
            break
    state = {m.name: (sorted(m.owned()), len(m.messages)) for m in members}
    raise AssertionError(f"{what}: not reached within {timeout_s}s; (owned, consumed): {state}")


def observe(members, seconds: float) -> None:
    """Keep every member polling for a while, so that a pending rebalance would show."""
    deadline = time.monotonic() + seconds
    for _ in range(MAX_POLL_ROUNDS):
        if time.monotonic() > deadline:
            return
        for member in members:
            member.poll()


def split_between(members, partitions: int) -> bool:
    """Every member owns something, nobody shares, and together they own every partition."""
    owned = [m.owned() for m in members]
    union = frozenset().union(*owned)
    return (all(owned) and sum(map(len, owned)) == len(union)
            and union == frozenset(range(partitions)))


def produce_keyed(bootstrap: str, topic: str, indices, partition: int | None = None) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for i in indices:
        extra = {} if partition is None else {"partition": partition}
        producer.produce(topic, key=f"key-{i}".encode(), value=f"value-{i}".encode(), **extra)
        producer.poll(0)
    assert producer.flush(60) == 0, "records not acknowledged within 60 s"


def expected_positions(start: dict, end: dict) -> set:
    return {(p, o) for p in end for o in range(start.get(p, 0), end[p])}


def consumed_positions(members, since: dict | None = None) -> Counter:
    """(partition, offset) -> times consumed, counting from message index `since[name]`."""
    seen = Counter()
    for m in members:
        for partition, offset, _ in m.messages[(since or {}).get(m.name, 0):]:
            seen[(partition, offset)] += 1
    return seen


def assert_exactly_once(seen: Counter, expected: set) -> None:
    duplicates = {k: n for k, n in seen.items() if n > 1}
    assert not duplicates, f"{len(duplicates)} records consumed more than once, e.g. " \
                           f"{sorted(duplicates.items())[:5]}"
    assert set(seen) == expected, f"missing {sorted(expected - set(seen))[:5]}, " \
                                  f"unexpected {sorted(set(seen) - expected)[:5]}"


def test_three_consumers_share_six_partitions_and_consume_each_record_once(broker, topic_name):
    partitions, records, more = 6, 30_000, 600
    session_timeout_ms = 10_000
    create_topic(broker.bootstrap, topic_name, partitions=partitions)
    produce_keyed(broker.bootstrap, topic_name, range(records))
    ends = high_watermarks(broker.bootstrap, topic_name, partitions)
    assert sum(ends.values()) == records
    # Auto commit: librdkafka commits what poll returned before it gives partitions up on a
    # revoke, so the next owner starts where this one stopped even mid-rebalance.
    config = group_config(broker.bootstrap, group_name(topic_name), **{
        "session.timeout.ms": session_timeout_ms, "enable.auto.commit": True,
        "auto.commit.interval.ms": 1000})
    members = [Member("a", config, topic_name)]
    try:
        # b and c join while a is consuming: rebalances happen mid-stream.
        drive(members, lambda: members[0].messages, JOIN_TIMEOUT_S, "a consumes")
        members += [Member("b", config, topic_name), Member("c", config, topic_name)]
        total = lambda: sum(len(m.messages) for m in members)  # noqa: E731
        drive(members, lambda: total() >= records and split_between(members, partitions),
              CONSUME_TIMEOUT_S, f"{records} records consumed by a group of three")
        assert_exactly_once(consumed_positions(members), expected_positions({}, ends))

        # Stable group of three: new records go to their partition's owner only.
        since = {m.name: len(m.messages) for m in members}
        owned = {m.name: m.owned() for m in members}
        assert all(len(o) == 2 for o in owned.values()), owned  # range assignor: 6 / 3
        produce_keyed(broker.bootstrap, topic_name, range(records, records + more))
        ends2 = high_watermarks(broker.bootstrap, topic_name, partitions)
        drive(members, lambda: sum(len(m.messages) - since[m.name] for m in members) >= more,
              CONSUME_TIMEOUT_S, f"{more} more records")
        assert_exactly_once(consumed_positions(members, since), expected_positions(ends, ends2))
        for m in members:
            new = {p for p, _, _ in m.messages[since[m.name]:]}
            assert new and new <= owned[m.name], f"{m.name} owns {owned[m.name]}, consumed {new}"
            assert m.owned() == owned[m.name], f"{m.name}: assignment changed without a member change"

        # c leaves (LeaveGroup on close): a and b take over at once, not after a session timeout.
        members[2].close()
        remaining = members[:2]
        took = drive(remaining, lambda: split_between(remaining, partitions), JOIN_TIMEOUT_S,
                     "a and b own all six partitions after c closed")
        assert took < session_timeout_ms / 1000, \
            f"reassignment took {took:.1f}s: LeaveGroup was not acted on, the session expired"
        since = {m.name: len(m.messages) for m in remaining}
        produce_keyed(broker.bootstrap, topic_name, range(records + more, records + 2 * more))
        ends3 = high_watermarks(broker.bootstrap, topic_name, partitions)
        drive(remaining, lambda: sum(len(m.messages) - since[m.name] for m in remaining) >= more,
              CONSUME_TIMEOUT_S, f"{more} records after c left")
        assert_exactly_once(consumed_positions(remaining, since), expected_positions(ends2, ends3))
        assert all(len(m.messages) > since[m.name] for m in remaining)
    finally:
        for m in members:
            m.close()


CHILD_MEMBER = r"""
import sys, time
from confluent_kafka import Consumer
bootstrap, group, topic, session_timeout_ms, heartbeat_ms = sys.argv[1:6]
def on_assign(consumer, partitions):
    print("assigned " + ",".join(str(p.partition) for p in partitions), flush=True)
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                     "session.timeout.ms": int(session_timeout_ms),
                     "heartbeat.interval.ms": int(heartbeat_ms), "enable.auto.commit": False})
consumer.subscribe([topic], on_assign=on_assign)
deadline = time.monotonic() + 120  # never outlives the test by long, even if never killed
while time.monotonic() < deadline:
    consumer.poll(0.2)
"""


def test_killed_consumer_partitions_move_after_session_timeout(broker, topic_name):
    partitions = 6
    create_topic(broker.bootstrap, topic_name, partitions=partitions)
    group = group_name(topic_name)
    survivor = Member("survivor", group_config(broker.bootstrap, group), topic_name)
    child = None
    try:
        drive([survivor], lambda: survivor.owned() == frozenset(range(partitions)),
              JOIN_TIMEOUT_S, "the first member owns everything")
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD_MEMBER, broker.bootstrap, group, topic_name,
             str(SESSION_TIMEOUT_MS), str(HEARTBEAT_INTERVAL_MS)],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in child.stdout],
                         daemon=True, name="child-stdout").start()
        child_owned = set()

        def shared() -> bool:
            while not lines.empty():
                line = lines.get_nowait().strip()
                if line.startswith("assigned"):
                    rest = line.removeprefix("assigned").strip()
                    child_owned.clear()
                    child_owned.update(int(p) for p in rest.split(",") if p)
            assert child.poll() is None, f"the child member exited with {child.returncode}"
            mine = survivor.owned()
            return (bool(child_owned) and bool(mine) and not (mine & child_owned)
                    and mine | child_owned == set(range(partitions)))

        drive([survivor], shared, JOIN_TIMEOUT_S, "the child member shares the partitions")
        child.send_signal(signal.SIGKILL)  # no LeaveGroup: only the session timeout frees it
        child.wait(timeout=10)
        took = drive([survivor], lambda: survivor.owned() == frozenset(range(partitions)),
                     SESSION_TIMEOUT_MS / 1000 + 24, "the survivor owns everything after the kill")
        # The session of the killed member expires SESSION_TIMEOUT_MS after its last
        # heartbeat; a live member sending heartbeats every 0.5 s must never be expired early.
        assert took >= SESSION_TIMEOUT_MS / 2000, f"the killed member was expired after {took:.1f}s"
        assert survivor.assigned[-1] == frozenset(range(partitions))
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        survivor.close()


def committed_offsets(consumer: Consumer, topic: str, partitions: int) -> dict:
    result = consumer.committed([TopicPartition(topic, p) for p in range(partitions)],
                                timeout=ADMIN_TIMEOUT_S)
    assert all(tp.error is None for tp in result), result
    return {tp.partition: tp.offset for tp in result}


def test_committed_offsets_survive_broker_restart(broker_factory, topic_name):
    broker = broker_factory()
    per_partition, commit_at = 1000, {0: 300, 1: 700}
    create_topic(broker.bootstrap, topic_name, partitions=2)
    for p in (0, 1):
        produce_keyed(broker.bootstrap, topic_name, range(per_partition), partition=p)
    group = group_name(topic_name)
    first = Member("first", group_config(broker.bootstrap, group), topic_name)
    try:
        reached = lambda: all(any(p == mp and o >= at - 1 for mp, o, _ in first.messages)  # noqa: E731
                              for p, at in commit_at.items())
        drive([first], reached, CONSUME_TIMEOUT_S, "the first member reaches the commit points")
        first.consumer.commit(offsets=[TopicPartition(topic_name, p, o) for p, o in commit_at.items()],
                              asynchronous=False)
        assert committed_offsets(first.consumer, topic_name, 2) == commit_at
    finally:
        first.close()  # no auto commit: what it read past the commit points is not committed

    broker.restart()

    second = Member("second", group_config(broker.bootstrap, group), topic_name)
    try:
        # Joining first: right after a restart Kafka answers NOT_COORDINATOR until it has
        # loaded the offsets, and librdkafka's committed() does not retry that.
        drive([second], lambda: second.owned() == {0, 1}, JOIN_TIMEOUT_S, "the second member joins")
        assert committed_offsets(second.consumer, topic_name, 2) == commit_at
        remaining = sum(per_partition - at for at in commit_at.values())
        drive([second], lambda: len(second.messages) >= remaining, CONSUME_TIMEOUT_S,
              "the second member reads from the committed offsets to the end")
        for p, at in commit_at.items():
            offsets = [o for mp, o, _ in second.messages if mp == p]
            assert offsets == list(range(at, per_partition)), \
                f"partition {p}: resumed at {offsets[:1]}, committed {at}"
    finally:
        second.close()


def test_static_member_restart_keeps_partitions_without_rebalance(broker, topic_name):
    partitions = 4
    session_timeout_ms = 10_000  # outlives the restart below
    create_topic(broker.bootstrap, topic_name, partitions=partitions)
    group = group_name(topic_name)

    def config(instance: str) -> dict:
        return group_config(broker.bootstrap, group, **{
            "session.timeout.ms": session_timeout_ms, "group.instance.id": f"{group}-{instance}"})

    # a joins first and so leads the group; b is the member that restarts.
    a = Member("a", config("a"), topic_name)
    b = Member("b", config("b"), topic_name)
    b2 = None
    try:
        drive([a, b], lambda: split_between([a, b], partitions), JOIN_TIMEOUT_S, "a and b share")
        a_owned, b_owned = a.owned(), b.owned()
        a_events = (len(a.assigned), len(a.revoked))
        b.close()  # librdkafka sends no LeaveGroup for a static member
        b2 = Member("b2", config("b"), topic_name)
        took = drive([a, b2], lambda: bool(b2.owned()), JOIN_TIMEOUT_S,
                     "the restarted static member gets its partitions back")
        assert took < session_timeout_ms / 1000, f"rejoin took {took:.1f}s"
        # A rebalance triggered by the rejoin would reach a within a heartbeat or two.
        observe([a, b2], 4 * HEARTBEAT_INTERVAL_MS / 1000)
        assert b2.owned() == b_owned
        assert b2.assigned == [b_owned], f"b2 was assigned {b2.assigned}"
        assert a.owned() == a_owned
        assert (len(a.assigned), len(a.revoked)) == a_events, \
            f"a saw a rebalance: assigned {a.assigned}, revoked {a.revoked}"
    finally:
        for m in (a, b, b2):
            if m is not None:
                m.close()


def test_two_members_leave_and_a_newcomer_owns_everything(broker, topic_name):
    partitions, rounds, per_round = 4, 5, 200
    create_topic(broker.bootstrap, topic_name, partitions=partitions)
    group = group_name(topic_name)
    committed = {p: 0 for p in range(partitions)}
    every = frozenset(range(partitions))
    for round_number in range(rounds):
        config = group_config(broker.bootstrap, group)
        one = Member(f"one-{round_number}", config, topic_name, commit_each_batch=True)
        two = Member(f"two-{round_number}", config, topic_name, commit_each_batch=True)
        newcomer = None
        try:
            drive([one, two], lambda: split_between([one, two], partitions), JOIN_TIMEOUT_S,
                  f"round {round_number}: two members share")
            produce_keyed(broker.bootstrap, topic_name, range(per_round))
            ends = high_watermarks(broker.bootstrap, topic_name, partitions)
            drive([one, two], lambda: len(consumed_positions([one, two])) >= per_round,
                  CONSUME_TIMEOUT_S, f"round {round_number}: the pair consumes")
            assert_exactly_once(consumed_positions([one, two]), expected_positions(committed, ends))
            one.close()
            two.close()

            produce_keyed(broker.bootstrap, topic_name, range(per_round))
            ends2 = high_watermarks(broker.bootstrap, topic_name, partitions)
            newcomer = Member(f"newcomer-{round_number}", config, topic_name, commit_each_batch=True)
            took = drive([newcomer], lambda: newcomer.owned() == every, JOIN_TIMEOUT_S,
                         f"round {round_number}: the newcomer owns everything")
            assert took < SESSION_TIMEOUT_MS / 1000, \
                f"round {round_number}: the newcomer waited {took:.1f}s, for a session timeout"
            assert newcomer.assigned == [every], \
                f"round {round_number}: more than one rebalance: {newcomer.assigned}"
            drive([newcomer], lambda: len(newcomer.messages) >= per_round, CONSUME_TIMEOUT_S,
                  f"round {round_number}: the newcomer consumes")
            assert_exactly_once(consumed_positions([newcomer]), expected_positions(ends, ends2))
            committed = ends2
        finally:
            for m in (one, two, newcomer):
                if m is not None:
                    m.close()


class KafkaPythonMember(threading.Thread):
    """A kafka-python group member polling in its own thread (its poll() may block in a
    JoinGroup until every member rejoins, so two members cannot share one thread); commits
    each poll's records before the next poll."""

    def __init__(self, name: str, bootstrap: str, group: str, topic: str, partitions: int):
        super().__init__(daemon=True, name=f"kafka-python-{name}")
        self.member_name = name
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                      client_id=f"kafka-python-{name}", auto_offset_reset="earliest",
                                      enable_auto_commit=False, session_timeout_ms=SESSION_TIMEOUT_MS,
                                      heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS)
        # Topic metadata before joining: a kafka-python 3.0.12 leader that assigns without it
        # rejoins when the metadata arrives, and if that rejoin outlasts one poll() it never
        # completes it (heartbeats stay off, the broker expels the member).
        assert self.consumer.partitions_for_topic(topic) == set(range(partitions))
        self.consumer.subscribe([topic])
        self.lock = threading.Lock()
        self.owned = frozenset()
        self.got = []  # (partition, offset)
        self.error = None
        self.stop_requested = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + JOIN_TIMEOUT_S + CONSUME_TIMEOUT_S
        try:
            for _ in range(MAX_POLL_ROUNDS):
                if self.stop_requested.is_set() or time.monotonic() > deadline:
                    return
                got, last = [], {}
                for tp, batch in self.consumer.poll(timeout_ms=500).items():
                    got.extend((tp.partition, r.offset) for r in batch)
                    last[tp] = batch[-1].offset
                if last:
                    self.consumer.commit({tp: OffsetAndMetadata(o + 1, "", -1) for tp, o in last.items()})
                owned = frozenset(tp.partition for tp in self.consumer.assignment())
                with self.lock:
                    self.got.extend(got)
                    self.owned = owned
        except Exception as error:  # reported by the test thread
            self.error = error

    def snapshot(self):
        assert self.error is None, f"{self.member_name}: {self.error!r}"
        with self.lock:
            return self.owned, list(self.got)

    def stop(self) -> None:
        self.stop_requested.set()
        self.join(timeout=30)
        assert not self.is_alive(), f"{self.member_name}: poll loop did not stop"


def wait_until(condition, timeout_s: float, what) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what() if callable(what) else what} within {timeout_s}s"
        time.sleep(0.05)  # poll interval: the members' threads do the work


def test_kafka_python_group_consumes_and_commits(broker, topic_name):
    partitions, records = 4, 2_000
    create_topic(broker.bootstrap, topic_name, partitions=partitions)
    group = group_name(topic_name)
    members = [KafkaPythonMember(name, broker.bootstrap, group, topic_name, partitions)
               for name in ("a", "b")]
    try:
        for m in members:
            m.start()

        def shared() -> bool:
            owned = [m.snapshot()[0] for m in members]
            return all(owned) and not owned[0] & owned[1] and owned[0] | owned[1] == set(range(partitions))

        # A stable group before any record exists: no commit races a rebalance.
        wait_until(shared, JOIN_TIMEOUT_S,
                   lambda: f"no shared assignment: {[m.snapshot()[0] for m in members]}")
        assignment = [m.snapshot()[0] for m in members]
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=5)
        for i in range(records):
            producer.send(topic_name, key=f"key-{i}".encode(), value=f"value-{i}".encode())
        producer.flush(timeout=60)
        producer.close(timeout=10)
        ends = high_watermarks(broker.bootstrap, topic_name, partitions)
        assert sum(ends.values()) == records

        consumed = lambda: sum(len(m.snapshot()[1]) for m in members)  # noqa: E731
        wait_until(lambda: consumed() >= records, CONSUME_TIMEOUT_S,
                   lambda: f"consumed {consumed()} of {records}")
        for m in members:
            m.stop()  # the last commit happened before the poll loop ended
        seen = Counter(pos for m in members for pos in m.snapshot()[1])
        assert_exactly_once(seen, expected_positions({}, ends))
        for m, owned in zip(members, assignment):
            now, got = m.snapshot()
            assert got, f"{m.member_name} consumed nothing"
            assert {p for p, _ in got} <= owned and now == owned
        # Any member reads the group's committed offsets, not only the owner.
        for m in members:
            assert {p: m.consumer.committed(KpTopicPartition(topic_name, p))
                    for p in range(partitions)} == ends
    finally:
        for m in members:
            if m.is_alive():
                m.stop_requested.set()
                m.join(timeout=30)
            m.consumer.close()


def wait_for_state(client, group: str, state, timeout_s: float = 15.0):
    deadline = time.monotonic() + timeout_s
    while True:
        description = client.describe_consumer_groups([group])[group].result(timeout=ADMIN_TIMEOUT_S)
        if description.state == state:
            return description
        assert time.monotonic() < deadline, f"{group} is {description.state}, not {state}"
        time.sleep(0.1)  # poll interval


def listed(client, states=None) -> dict:
    options = {"states": states} if states else {}
    result = client.list_consumer_groups(request_timeout=ADMIN_TIMEOUT_S, **options) \
        .result(timeout=ADMIN_TIMEOUT_S)
    assert not result.errors, result.errors
    return {g.group_id: g for g in result.valid}


def group_offsets(client, group: str) -> dict:
    result = client.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group] \
        .result(timeout=ADMIN_TIMEOUT_S)
    assert result.group_id == group
    return {(tp.topic, tp.partition): (tp.offset, tp.metadata) for tp in result.topic_partitions}


def delete_error(client, group: str) -> KafkaError | None:
    try:
        client.delete_consumer_groups([group], request_timeout=ADMIN_TIMEOUT_S)[group] \
            .result(timeout=ADMIN_TIMEOUT_S)
        return None
    except KafkaException as error:
        return error.args[0]


def test_admin_lists_describes_and_deletes_groups(broker, topic_name):
    partitions = 3
    create_topic(broker.bootstrap, topic_name, partitions=partitions)
    group = group_name(topic_name)
    members = [Member(name, group_config(broker.bootstrap, group, **{"client.id": f"admin-{name}"}),
                      topic_name) for name in ("a", "b")]
    client = admin(broker.bootstrap)
    try:
        # The members find the coordinator first: librdkafka 2.16's list_consumer_group_offsets
        # crashes the process if OffsetFetch answers COORDINATOR_LOAD_IN_PROGRESS/NOT_COORDINATOR.
        drive(members, lambda: split_between(members, partitions), JOIN_TIMEOUT_S, "a and b share")
        commits = {0: 3, 1: 5, 2: 7}
        members[0].consumer.commit(
            offsets=[TopicPartition(topic_name, p, o, metadata=f"meta-{p}") for p, o in commits.items()],
            asynchronous=False)

        description = wait_for_state(client, group, ConsumerGroupState.STABLE)
        assert description.group_id == group
        assert not description.is_simple_consumer_group  # protocol type "consumer"
        assert description.partition_assignor == "range"  # librdkafka's first choice
        assert (f"{description.coordinator.host}:{description.coordinator.port}"
                in broker.bootstrap.split(","))
        by_id = {m.member_id: m for m in description.members}
        assert set(by_id) == {m.consumer.memberid() for m in members}
        for m in members:
            described = by_id[m.consumer.memberid()]
            assert described.client_id == f"admin-{m.name}"
            assert described.host.lstrip("/") == "127.0.0.1"  # Kafka answers "/127.0.0.1"
            assert described.group_instance_id is None
            assert {(tp.topic, tp.partition) for tp in described.assignment.topic_partitions} == \
                {(topic_name, p) for p in m.owned()}

        stable = listed(client, {ConsumerGroupState.STABLE})
        assert group in stable and stable[group].state == ConsumerGroupState.STABLE
        assert not stable[group].is_simple_consumer_group
        # ListGroups v5 reports the type ("classic" from Kafka); an older version reports none.
        assert stable[group].type in (ConsumerGroupType.CLASSIC, ConsumerGroupType.UNKNOWN)
        assert group not in listed(client, {ConsumerGroupState.EMPTY})
        assert group in listed(client)

        expected_offsets = {(topic_name, p): (o, f"meta-{p}") for p, o in commits.items()}
        assert group_offsets(client, group) == expected_offsets

        error = delete_error(client, group)
        assert error is not None and error.code() == KafkaError.NON_EMPTY_GROUP, error

        for m in members:
            m.close()
        description = wait_for_state(client, group, ConsumerGroupState.EMPTY)
        assert description.members == []
        assert group in listed(client, {ConsumerGroupState.EMPTY})
        assert group not in listed(client, {ConsumerGroupState.STABLE})
        assert group_offsets(client, group) == expected_offsets  # an empty group keeps offsets

        assert delete_error(client, group) is None
        gone = client.describe_consumer_groups([group])[group].result(timeout=ADMIN_TIMEOUT_S)
        assert gone.state == ConsumerGroupState.DEAD and gone.members == []
        assert group not in listed(client)
        assert group_offsets(client, group) == {}  # deleting the group deleted its offsets
        error = delete_error(client, group)
        assert error is not None and error.code() == KafkaError.GROUP_ID_NOT_FOUND, error

        # A group nobody ever used is described as Dead with no members, not as an error.
        unknown = f"never-used-{uuid.uuid4()}"
        never = client.describe_consumer_groups([unknown])[unknown].result(timeout=ADMIN_TIMEOUT_S)
        assert never.group_id == unknown
        assert never.state == ConsumerGroupState.DEAD and never.members == []
        assert group_offsets(client, unknown) == {}
    finally:
        for m in members:
            m.close()
