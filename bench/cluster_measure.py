#!/usr/bin/env python3
"""The measurements of bench/run-cluster, against any 3-node Kafka-protocol cluster.

Each subcommand prints one JSON object. Only the standard library: requests go to one chosen
node on its own connection (a client library would route them wherever it liked). Framing
comes from scripts/kafka-probe.

    cluster_measure.py formed --nodes H:P,H:P,H:P --since EPOCH_S [--timeout S]
        spawn (EPOCH_S) -> every node's Metadata lists all the nodes as brokers
    cluster_measure.py rss --pids PID,PID,PID
        VmRSS of each process, KiB
    cluster_measure.py propagate --nodes H:P,... [--topics 20] [--partitions 3] [--poll-ms 5]
        CreateTopics acknowledged (sent to the nodes in turn) -> every node's Metadata lists
        the topic with a leader for every partition
    cluster_measure.py failover --via H:P --kill PID [--retry-ms 20] [--timeout S]
        kill -9 PID -> the first successful CreateTopics sent through H:P
"""

import argparse
import importlib.machinery
import importlib.util
import json
import os
import signal
import socket
import statistics
import struct
import sys
import time
import uuid
from pathlib import Path

PROBE_PATH = Path(__file__).resolve().parent.parent / "scripts" / "kafka-probe"
_loader = importlib.machinery.SourceFileLoader("kafka_probe", str(PROBE_PATH))
_spec = importlib.util.spec_from_loader("kafka_probe", _loader)
probe = importlib.util.module_from_spec(_spec)
_loader.exec_module(probe)

METADATA = 3
CREATE_TOPICS = 19
METADATA_VERSION = 4  # the first with allow_auto_topic_creation: polling must not create
METADATA_EPOCHS_VERSION = 7  # the first with each partition's leader epoch
CREATE_TOPICS_VERSION = 2  # the oldest Kafka 4 still serves; not flexible
TOPIC_ALREADY_EXISTS = 36
REQUEST_TIMEOUT_S = 5.0
CREATE_TIMEOUT_MS = 5000


def string(value: str) -> bytes:
    raw = value.encode()
    return struct.pack(">h", len(raw)) + raw


class Node:
    """One connection to one node; reconnects after any error."""

    def __init__(self, address: str):
        host, _, port = address.rpartition(":")
        self.address = (host, int(port))
        self.sock = None
        self.correlation_id = 0

    def call(self, api_key: int, version: int, body: bytes) -> bytes:
        try:
            if self.sock is None:
                self.sock = socket.create_connection(self.address, timeout=REQUEST_TIMEOUT_S)
                self.sock.settimeout(REQUEST_TIMEOUT_S)
            self.correlation_id += 1
            self.sock.sendall(probe.request(api_key, version, self.correlation_id, body))
            return probe.read_response(self.sock, self.correlation_id)
        except (OSError, ValueError):
            self.close()
            raise

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def metadata(self, topics: list) -> tuple:
        """(broker ids, {topic: [leader per partition] or None when the topic has an error})."""
        brokers, found = self.metadata_partitions(topics, METADATA_VERSION)
        return brokers, {
            name: None if error_code else [leader for _, _, leader, _ in partitions]
            for name, (error_code, partitions) in found.items()
        }

    def metadata_partitions(self, topics, version: int = METADATA_EPOCHS_VERSION) -> tuple:
        """(broker ids, {topic: (error code, [(index, error code, leader, leader epoch)])}) from
        Metadata VERSION (4..8: not flexible); TOPICS None asks for every topic. The leader
        epoch is -1 before version 7."""
        assert METADATA_VERSION <= version <= METADATA_EPOCHS_VERSION + 1, version
        if topics is None:
            wanted = struct.pack(">i", -1)
        else:
            wanted = struct.pack(">i", len(topics)) + b"".join(string(t) for t in topics)
        data = self.call(METADATA, version, wanted + b"\x00")  # allow_auto_topic_creation
        pos = 4  # throttle_time_ms
        (count,) = struct.unpack_from(">i", data, pos)
        pos += 4
        brokers = []
        for _ in range(count):
            node_id, host_len = struct.unpack_from(">ih", data, pos)
            pos += 6 + host_len + 4
            (rack_len,) = struct.unpack_from(">h", data, pos)
            pos += 2 + max(rack_len, 0)
            brokers.append(node_id)
        (cluster_id_len,) = struct.unpack_from(">h", data, pos)
        pos += 2 + max(cluster_id_len, 0) + 4  # cluster_id, controller_id
        (count,) = struct.unpack_from(">i", data, pos)
        pos += 4
        found = {}
        for _ in range(count):
            error_code, name_len = struct.unpack_from(">hh", data, pos)
            pos += 4
            name = data[pos : pos + name_len].decode()
            pos += name_len + 1  # is_internal
            (count_partitions,) = struct.unpack_from(">i", data, pos)
            pos += 4
            partitions = []
            for _ in range(max(count_partitions, 0)):
                partition_error, index, leader = struct.unpack_from(">hii", data, pos)
                pos += 10
                epoch = -1
                if version >= 7:
                    (epoch,) = struct.unpack_from(">i", data, pos)
                    pos += 4
                for _ in range(3 if version >= 5 else 2):  # replicas, isr, offline replicas
                    (n,) = struct.unpack_from(">i", data, pos)
                    pos += 4 + 4 * max(n, 0)
                partitions.append((index, partition_error, leader, epoch))
            if version >= 8:
                pos += 4  # topic_authorized_operations
            found[name] = (error_code, partitions)
        return brokers, found

    def create_topic(self, name: str, partitions: int) -> int:
        """The topic's error code."""
        body = (struct.pack(">i", 1) + string(name) + struct.pack(">ihii", partitions, 1, 0, 0)
                + struct.pack(">i", CREATE_TIMEOUT_MS) + b"\x00")
        data = self.call(CREATE_TOPICS, CREATE_TOPICS_VERSION, body)
        pos = 4 + 4  # throttle_time_ms, topic count (1)
        (name_len,) = struct.unpack_from(">h", data, pos)
        (error_code,) = struct.unpack_from(">h", data, pos + 2 + name_len)
        return error_code


def quantile(values: list, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def formed(args) -> dict:
    nodes = [Node(a) for a in args.nodes.split(",")]
    deadline = time.monotonic() + args.timeout
    pending = set(range(len(nodes)))
    last_error = "no attempt"
    while pending and time.monotonic() < deadline:
        for i in sorted(pending):
            try:
                brokers, _ = nodes[i].metadata([])
                if len(set(brokers)) >= len(nodes):
                    pending.discard(i)
                else:
                    last_error = f"node {i + 1} lists brokers {sorted(brokers)}"
            except (OSError, ValueError, struct.error) as error:
                last_error = f"node {i + 1}: {type(error).__name__}: {error}"
        if pending:
            time.sleep(args.poll_ms / 1000)
    if pending:
        raise SystemExit(f"cluster not formed within {args.timeout}s ({last_error})")
    return {"formed_ms": round((time.time() - args.since) * 1000, 1)}


def rss(args) -> dict:
    kib = []
    for pid in args.pids.split(","):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                kib.append(int(line.split()[1]))
    return {"rss_kib": kib}


def wait_visible(nodes: list, topic: str, partitions: int, poll_s: float, deadline: float) -> list:
    """Seconds after the call until each node lists TOPIC with a leader for every partition."""
    start = time.monotonic()
    seen = [None] * len(nodes)
    while None in seen and time.monotonic() < deadline:
        for i, node in enumerate(nodes):
            if seen[i] is not None:
                continue
            try:
                leaders = node.metadata([topic])[1].get(topic)
            except (OSError, ValueError, struct.error):
                continue
            if leaders and len(leaders) == partitions and min(leaders) >= 0:
                seen[i] = time.monotonic() - start
        if None in seen:
            time.sleep(poll_s)
    if None in seen:
        raise SystemExit(f"{topic} not visible on every node in time: {seen}")
    return seen


def propagate(args) -> dict:
    nodes = [Node(a) for a in args.nodes.split(",")]
    prefix = f"prop-{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + args.timeout
    all_ms, create_ms = [], []
    for i in range(args.topics):
        topic = f"{prefix}-{i}"
        sent = time.monotonic()
        error_code = nodes[i % len(nodes)].create_topic(topic, args.partitions)
        if error_code != 0:
            raise SystemExit(f"CreateTopics {topic}: error code {error_code}")
        create_ms.append((time.monotonic() - sent) * 1000)
        seen = wait_visible(nodes, topic, args.partitions, args.poll_ms / 1000, deadline)
        all_ms.append(max(seen) * 1000)
    return {
        "propagation_ms": [round(v, 1) for v in all_ms],
        "propagation_p50_ms": round(statistics.median(all_ms), 1),
        "propagation_p99_ms": round(quantile(all_ms, 0.99), 1),
        "create_p50_ms": round(statistics.median(create_ms), 1),
    }


def failover(args) -> dict:
    via = Node(args.via)
    topic = f"failover-{uuid.uuid4().hex[:8]}"
    attempts, last = 0, "no attempt"
    os.kill(args.kill, signal.SIGKILL)
    killed = time.monotonic()
    deadline = killed + args.timeout
    while time.monotonic() < deadline:
        attempts += 1
        try:
            error_code = via.create_topic(topic, 1)
            # An earlier attempt that timed out here but was committed later counts too.
            if error_code in (0, TOPIC_ALREADY_EXISTS):
                return {"failover_ms": round((time.monotonic() - killed) * 1000, 1),
                        "failover_attempts": attempts, "failover_error_code": error_code}
            last = f"error code {error_code}"
        except (OSError, ValueError, struct.error) as error:
            last = f"{type(error).__name__}: {error}"
        time.sleep(args.retry_ms / 1000)
    raise SystemExit(f"no successful CreateTopics within {args.timeout}s after the kill ({last}, {attempts} attempts)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("formed")
    p.add_argument("--nodes", required=True)
    p.add_argument("--since", type=float, required=True, help="spawn time, seconds since the epoch")
    p.add_argument("--timeout", type=float, default=180.0)
    p.add_argument("--poll-ms", type=float, default=10.0)
    p = sub.add_parser("rss")
    p.add_argument("--pids", required=True)
    p = sub.add_parser("propagate")
    p.add_argument("--nodes", required=True)
    p.add_argument("--topics", type=int, default=20)
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument("--poll-ms", type=float, default=5.0)
    p.add_argument("--timeout", type=float, default=300.0)
    p = sub.add_parser("failover")
    p.add_argument("--via", required=True)
    p.add_argument("--kill", type=int, required=True)
    p.add_argument("--retry-ms", type=float, default=20.0)
    p.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    result = {"formed": formed, "rss": rss, "propagate": propagate, "failover": failover}[args.command](args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
