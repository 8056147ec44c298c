"""Client quotas (KIP-546, issue 18): set, described and removed with Kafka's own kafka-configs,
and enforced on real clients: a librdkafka producer with `producer_byte_rate` and a consumer
with `consumer_byte_rate` are each held to their quota, and the broker tells them so
(`throttle_time_ms`, seen by librdkafka's throttle callback); connections from an address over
its `connection_creation_rate` are closed unserved (KIP-612).

Guards against: quotas that are accepted but not stored, stored but not enforced, values Kafka
refuses (fractional byte rates, unknown keys, nothing positive) being accepted, and a throttle
that lets a client run over its quota or holds it under. The same tests pass against Apache
Kafka 4.4.0, with a looser bound on the rate: Kafka's sampled rate lets a client send ten
seconds' worth at once each time its oldest one-second window leaves the sample (every eleven
seconds; seen: 1.24-1.35x the quota over the measured span), where vltava's token bucket holds
any span to the quota plus one second's worth (crates/vltava-broker/src/quotas.rs). Rates are
measured over the second half of each run, after a new client's first burst.
"""

import socket
import struct
import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer

from conftest import IS_VLTAVA
from helpers import create_topic
from kafka_tools import TOOL_TIMEOUT_S, kafka_classpath, kafka_configs  # noqa: F401 (a fixture)

RUN_S = 24.0
MEASURED_FROM_S = 12.0
# Within 10 % of the quota on vltava (the bound); Kafka's bursts need 50 %.
RATE_TOLERANCE = 0.10 if IS_VLTAVA else 0.50
RECORD_BYTES = 1000
PRODUCE_QUOTA = 200_000     # bytes/s
CONSUME_QUOTA = 250_000     # bytes/s
FLUSH_TIMEOUT_S = 30.0
BATCH_BYTES = 16384
CONNECTION_RATE = 2         # connections/s
CONNECTIONS = 40
ANSWER_TIMEOUT_S = 15.0
SERVED_AGAIN_TIMEOUT_S = 30.0


def configs_run(classpath: str, bootstrap: str, *args: str) -> subprocess.CompletedProcess:
    """kafka-configs, whatever its exit code."""
    return subprocess.run(
        ["java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", classpath,
         "org.apache.kafka.tools.ConfigCommand", "--bootstrap-server", bootstrap, *args],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, stdin=subprocess.DEVNULL)


def set_client_quota(classpath: str, bootstrap: str, client_id: str, quota: str) -> None:
    out = kafka_configs(classpath, bootstrap, "--alter", "--add-config", quota,
                        "--entity-type", "clients", "--entity-name", client_id)
    assert f"Completed updating config for client {client_id}." in out, out


def rate_over(events: list, start: float, end: float) -> float:
    """Bytes per second of the (instant, bytes) events within [start, end)."""
    return sum(n for at, n in events if start <= at < end) / (end - start)


def per_second(events: list) -> list:
    """Kilobytes in each second of the run, for a failure's message."""
    seconds = [0] * (int(RUN_S) + 1)
    for at, n in events:
        seconds[min(int(at), int(RUN_S))] += n
    return [round(b / 1000) for b in seconds]


def test_kafka_configs_sets_describes_and_removes_client_quotas(broker, kafka_classpath):
    bootstrap = broker.bootstrap
    client = f"quota-app-{uuid.uuid4().hex[:8]}"
    user = f"quota-user-{uuid.uuid4().hex[:8]}"
    clients = ["--entity-type", "clients", "--entity-name", client]
    both = ["--entity-type", "users", "--entity-name", user, *clients]

    set_client_quota(kafka_classpath, bootstrap, client,
                     "producer_byte_rate=1048576,consumer_byte_rate=2097152")
    out = kafka_configs(kafka_classpath, bootstrap, "--alter", "--add-config",
                        "producer_byte_rate=1024,request_percentage=50.5", *both)
    assert f"Completed updating config for user {user}" in out, out

    out = kafka_configs(kafka_classpath, bootstrap, "--describe", *clients)
    assert f"Quota configs for client-id '{client}' are " in out, out
    assert "producer_byte_rate=1048576.0" in out and "consumer_byte_rate=2097152.0" in out, out
    out = kafka_configs(kafka_classpath, bootstrap, "--describe", *both)
    assert "producer_byte_rate=1024.0" in out and "request_percentage=50.5" in out, out
    # Every client-id quota: ours is among them, the user's pair is not (it has a user).
    out = kafka_configs(kafka_classpath, bootstrap, "--describe", "--entity-type", "clients")
    assert f"client-id '{client}'" in out and user not in out, out

    # Refused as Kafka refuses them; nothing changes.
    for bad in ("producer_byte_rate=1.5", "no_such_quota=10", "consumer_byte_rate=0"):
        refused = configs_run(kafka_classpath, bootstrap, "--alter", "--add-config", bad, *clients)
        assert refused.returncode != 0, (bad, refused.stdout, refused.stderr)
    out = kafka_configs(kafka_classpath, bootstrap, "--describe", *clients)
    assert "producer_byte_rate=1048576.0" in out and "no_such_quota" not in out, out

    out = kafka_configs(kafka_classpath, bootstrap, "--alter", "--delete-config",
                        "producer_byte_rate", *clients)
    assert f"Completed updating config for client {client}." in out, out
    out = kafka_configs(kafka_classpath, bootstrap, "--describe", *clients)
    assert "producer_byte_rate" not in out and "consumer_byte_rate=2097152.0" in out, out
    kafka_configs(kafka_classpath, bootstrap, "--alter", "--delete-config",
                  "producer_byte_rate,request_percentage", *both)
    out = kafka_configs(kafka_classpath, bootstrap, "--describe", "--entity-type", "users")
    assert user not in out, out


def test_a_producer_is_held_to_its_producer_byte_rate(broker, kafka_classpath, topic_name):
    bootstrap = broker.bootstrap
    client = f"quota-producer-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic_name, partitions=1)
    set_client_quota(kafka_classpath, bootstrap, client, f"producer_byte_rate={PRODUCE_QUOTA}")
    throttles = []
    acked = []
    # Small batches: the rate is measured one request at a time.
    producer = Producer({"bootstrap.servers": bootstrap, "client.id": client, "acks": "1",
                         "linger.ms": 5, "batch.size": BATCH_BYTES,
                         "queue.buffering.max.messages": 20_000,
                         "throttle_cb": lambda event: throttles.append(event.throttle_time)})
    value = b"v" * RECORD_BYTES
    start = time.monotonic()

    def on_delivery(error, message):
        if error is None:
            acked.append((time.monotonic() - start, len(message.value())))

    while time.monotonic() - start < RUN_S:
        try:
            producer.produce(topic_name, value, on_delivery=on_delivery)
        except BufferError:  # the client's queue is full: the quota holds it back
            producer.poll(0.01)
        producer.poll(0)
    producer.purge()
    producer.flush(FLUSH_TIMEOUT_S)
    rate = rate_over(acked, MEASURED_FROM_S, RUN_S)
    assert abs(rate / PRODUCE_QUOTA - 1) <= RATE_TOLERANCE, \
        f"{rate:.0f} B/s acknowledged over the second half, quota {PRODUCE_QUOTA} B/s; " \
        f"kB per second: {per_second(acked)}"
    assert throttles and max(throttles) > 0, "no response said the client was throttled"


def test_a_consumer_is_held_to_its_consumer_byte_rate(broker, kafka_classpath, topic_name):
    bootstrap = broker.bootstrap
    client = f"quota-consumer-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic_name, partitions=1)
    # Enough for ten seconds' burst and the whole run at the quota, with room to spare.
    records = int(CONSUME_QUOTA * (RUN_S + 16) / RECORD_BYTES)
    # Small batches: a fetch returns at least one whole batch.
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                         "batch.size": BATCH_BYTES})
    for _ in range(records):
        while True:
            try:
                producer.produce(topic_name, b"c" * RECORD_BYTES)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(FLUSH_TIMEOUT_S) == 0
    set_client_quota(kafka_classpath, bootstrap, client, f"consumer_byte_rate={CONSUME_QUOTA}")
    throttles = []
    received = []
    consumer = Consumer({"bootstrap.servers": bootstrap, "client.id": client,
                         "group.id": f"quota-group-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         # Small fetches: the rate is measured one response at a time.
                         "fetch.max.bytes": 1048576, "message.max.bytes": 65536,
                         "max.partition.fetch.bytes": 65536,
                         "throttle_cb": lambda event: throttles.append(event.throttle_time)})
    consumer.subscribe([topic_name])
    start = time.monotonic()
    try:
        while time.monotonic() - start < RUN_S:
            message = consumer.poll(0.1)
            if message is not None and message.error() is None:
                received.append((time.monotonic() - start, len(message.value())))
    finally:
        consumer.close()
    assert len(received) < records, "the consumer read everything: the quota did not hold it"
    rate = rate_over(received, MEASURED_FROM_S, RUN_S)
    assert abs(rate / CONSUME_QUOTA - 1) <= RATE_TOLERANCE, \
        f"{rate:.0f} B/s consumed over the second half, quota {CONSUME_QUOTA} B/s; " \
        f"kB per second: {per_second(received)}"
    assert throttles and max(throttles) > 0, "no response said the client was throttled"


def api_versions_answered(sockets: list, deadline: float) -> list:
    """Sends ApiVersions v0 on every socket; which of them answered before the deadline (the
    others were closed, or said nothing)."""
    request = struct.pack(">hhih", 18, 0, 1, 5) + b"quota"
    for sock in sockets:
        try:
            sock.sendall(struct.pack(">i", len(request)) + request)
        except OSError:
            pass
    answered = []
    for sock in sockets:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            answered.append(len(sock.recv(4)) == 4)
        except OSError:
            answered.append(False)
    return answered


def connect(bootstrap: str) -> socket.socket:
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=ANSWER_TIMEOUT_S)


@pytest.mark.single_node("about one broker's accept loop; the single-node run covers it")
def test_connections_over_an_address_connection_creation_rate_are_closed_unserved(
        broker_factory, kafka_classpath):
    broker = broker_factory()
    out = kafka_configs(kafka_classpath, broker.bootstrap, "--alter", "--add-config",
                        f"connection_creation_rate={CONNECTION_RATE}",
                        "--entity-type", "ips", "--entity-name", "127.0.0.1")
    assert "Completed updating config for ip 127.0.0.1." in out, out
    # Many connections at once: Kafka lets about ten seconds' worth through (its sampled
    # rate), vltava one second's worth; the rest are held unread and closed.
    sockets = [connect(broker.bootstrap) for _ in range(CONNECTIONS)]
    try:
        answered = api_versions_answered(sockets, time.monotonic() + ANSWER_TIMEOUT_S)
    finally:
        for sock in sockets:
            sock.close()
    assert 0 < sum(answered) < CONNECTIONS, answered
    # Refused connections were not counted: once the address is back within its rate, a new
    # connection is served.
    deadline = time.monotonic() + SERVED_AGAIN_TIMEOUT_S
    while True:
        with connect(broker.bootstrap) as sock:
            if api_versions_answered([sock], time.monotonic() + ANSWER_TIMEOUT_S)[0]:
                break
        assert time.monotonic() < deadline, "no connection served again"
        time.sleep(1.0 / CONNECTION_RATE)
