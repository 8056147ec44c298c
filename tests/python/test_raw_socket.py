"""Malformed input on one connection never harms the broker or other connections.

Guards against: allocating the size a frame claims before reading it (a 2 GB length prefix
as an out-of-memory attack), panics on undecodable bytes, and a connection task that hangs
or crashes the server when a peer closes mid-frame.
"""

import socket
import struct

from confluent_kafka import Producer

from helpers import create_topic, read_partitions

CLOSE_TIMEOUT_S = 10.0


def closed_by_broker(sock: socket.socket) -> bool:
    """True when the broker closes the connection (EOF or reset) within the timeout."""
    sock.settimeout(CLOSE_TIMEOUT_S)
    try:
        for _ in range(1000):  # bounded: a broker answering with endless bytes fails the test
            if sock.recv(65536) == b"":
                return True
        return False
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def connect(broker) -> socket.socket:
    return socket.create_connection(("127.0.0.1", broker.port), timeout=CLOSE_TIMEOUT_S)


def test_malformed_frames_are_refused_and_the_broker_keeps_serving(broker_factory, topic_name):
    broker = broker_factory()

    with connect(broker) as sock:  # not Kafka at all; the first 4 bytes read as ~1.2 GB
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert closed_by_broker(sock), "HTTP garbage: connection left open"

    with connect(broker) as sock:  # a well-sized frame full of noise: unknown API key 0x7f7f
        sock.sendall(struct.pack(">i", 32) + b"\x7f" * 32)
        assert closed_by_broker(sock), "garbage frame: connection left open"

    with connect(broker) as sock:  # claims 2 GB, must be refused before allocation
        sock.sendall(struct.pack(">i", 0x7FFF_FFFF) + b"\x00" * 64)
        assert closed_by_broker(sock), "2 GB length prefix: connection left open"

    with connect(broker) as sock:  # a truncated ApiVersions request, then the peer leaves
        sock.sendall(struct.pack(">i", 100) + struct.pack(">hhi", 18, 3, 1) + b"\x00\x04ab")
        sock.shutdown(socket.SHUT_WR)
        assert closed_by_broker(sock), "truncated frame then EOF: connection left open"

    assert broker.alive(), "broker died on malformed input"
    create_topic(broker.bootstrap, topic_name)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    for i in range(100):
        producer.produce(topic_name, value=f"after-garbage-{i}".encode(), partition=0)
    assert producer.flush(30) == 0
    got = read_partitions(broker.bootstrap, topic_name, {0: 100})
    assert [m.value() for m in got[0]] == [f"after-garbage-{i}".encode() for i in range(100)]
