"""KIP-848 consumer groups (`group.protocol=consumer`) with librdkafka 2.16 (confluent-kafka).

Guards against: the broker-side assignor handing a partition to two members at once (a member
must revoke before another gets it), records read twice or skipped while members join and
leave with incremental reconciliation, a leaving member's partitions never moving, and
ConsumerGroupDescribe / ListGroups not reporting the group as Kafka does.

Members are polled in turn from one thread, so callbacks run in a known order. Each member
commits the partitions it loses in its revoke callback, so the next owner resumes exactly
there: every record is read once in total.
"""

import time

from confluent_kafka import (Consumer, ConsumerGroupState, ConsumerGroupType, Producer,
                             TopicPartition)

from helpers import ADMIN_TIMEOUT_S, admin, create_topic

PARTITIONS = 6
POLL_S = 0.05
# Kafka's default group.consumer.heartbeat.interval.ms is 5 s; each reconciliation step may
# wait for one heartbeat, so the deadlines are generous. The suite's brokers use 500 ms.
SETTLE_TIMEOUT_S = 60.0
MAX_ROUNDS = 100_000  # a backstop: every loop also has a deadline


class Member:
    """A consumer that records what it read and commits what it loses."""

    def __init__(self, bootstrap: str, group: str, topic: str):
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "group.protocol": "consumer",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        })
        self.read: list[tuple[int, int]] = []
        self.next_offset: dict[int, int] = {}
        self.consumer.subscribe([topic], on_revoke=self._on_revoke)

    def _on_revoke(self, consumer, partitions):
        lost = [TopicPartition(p.topic, p.partition, self.next_offset[p.partition])
                for p in partitions if p.partition in self.next_offset]
        if lost:
            consumer.commit(offsets=lost, asynchronous=False)

    def poll(self) -> None:
        message = self.consumer.poll(POLL_S)
        if message is None:
            return
        assert message.error() is None, message.error()
        self.read.append((message.partition(), message.offset()))
        self.next_offset[message.partition()] = message.offset() + 1

    def owned(self) -> set[int]:
        return {tp.partition for tp in self.consumer.assignment()}

    def close(self) -> None:
        owned = self.owned()
        lost = [TopicPartition(tp.topic, tp.partition, self.next_offset[tp.partition])
                for tp in self.consumer.assignment() if tp.partition in self.next_offset]
        if lost and owned:
            self.consumer.commit(offsets=lost, asynchronous=False)
        self.consumer.close()


def poll_until(members: list[Member], done, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    for _ in range(MAX_ROUNDS):
        if done():
            return
        assert time.monotonic() < deadline, (
            f"not done within {timeout_s}s; owned {[sorted(m.owned()) for m in members]}, "
            f"read {[len(m.read) for m in members]}")
        for member in members:
            member.poll()
    raise AssertionError("poll rounds exhausted")


def balanced(members: list[Member]) -> bool:
    owned = [m.owned() for m in members]
    every = sorted(p for o in owned for p in o)
    sizes = {len(o) for o in owned}
    return every == list(range(PARTITIONS)) and max(sizes) - min(sizes) <= 1


def produce(bootstrap: str, topic: str, count: int, start: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(start, start + count):
        producer.produce(topic, key=str(i).encode(), value=f"v{i}".encode())
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0


def total_read(members: list[Member]) -> int:
    return sum(len(m.read) for m in members)


def test_kip848_members_join_and_leave_and_every_record_is_read_once(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=PARTITIONS)
    group = f"{topic_name}-848"
    first = Member(broker.bootstrap, group, topic_name)
    produce(broker.bootstrap, topic_name, 3000, 0)
    poll_until([first], lambda: len(first.read) >= 3000)
    assert first.owned() == set(range(PARTITIONS))

    # Two join: the first gives up partitions before they move (incremental reconciliation).
    second = Member(broker.bootstrap, group, topic_name)
    third = Member(broker.bootstrap, group, topic_name)
    members = [first, second, third]
    poll_until(members, lambda: balanced(members))
    produce(broker.bootstrap, topic_name, 3000, 3000)
    poll_until(members, lambda: total_read(members) >= 6000)

    # One leaves: the other two take its partitions over and resume at its commits.
    third.close()
    remaining = [first, second]
    poll_until(remaining, lambda: balanced(remaining))
    produce(broker.bootstrap, topic_name, 3000, 6000)
    poll_until(remaining, lambda: total_read(members) >= 9000)

    everything = [r for m in members for r in m.read]
    assert len(everything) == 9000, f"{len(everything)} reads, {len(set(everything))} distinct"
    assert len(set(everything)) == 9000
    for member in remaining:
        member.close()


def test_kip848_group_is_described_and_listed_as_a_consumer_group(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=PARTITIONS)
    group = f"{topic_name}-848"
    members = [Member(broker.bootstrap, group, topic_name) for _ in range(2)]
    poll_until(members, lambda: balanced(members))
    client = admin(broker.bootstrap)
    # The group is stable once both members reached the assignment epoch; poll for it.
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        for member in members:
            member.poll()
        described = client.describe_consumer_groups([group])[group].result(timeout=ADMIN_TIMEOUT_S)
        if described.state == ConsumerGroupState.STABLE or time.monotonic() > deadline:
            break
    assert described.state == ConsumerGroupState.STABLE
    assert described.type == ConsumerGroupType.CONSUMER
    assert len(described.members) == 2
    assigned = sorted(tp.partition for m in described.members
                      for tp in m.assignment.topic_partitions)
    assert assigned == list(range(PARTITIONS))
    listed = client.list_consumer_groups(
        types={ConsumerGroupType.CONSUMER}).result(timeout=ADMIN_TIMEOUT_S)
    assert group in {g.group_id for g in listed.valid}
    for member in members:
        member.close()
