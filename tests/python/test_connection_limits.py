"""Connection limits: `connections.max.idle.ms` closes connections that complete no request;
`max.connections.per.ip` closes a connection beyond it right after accept.

Guards against: idle connections held forever (each one costs a task, a socket and buffers),
and a slow-loris client that sends half a frame, a byte now and then, keeping its connection
and its partial buffer alive because the broker only counted time between reads; and the
opposite bug, a busy connection closed because the timer did not restart on each request;
one address opening connections without bound, or the per-address limit breaking the
connections it admitted.
"""

import socket
import struct
import time

import pytest
from kafka.protocol.metadata.api_versions import ApiVersionsRequest

from helpers import first_address
from kafka_wire import Connection

IDLE_MS = 1000
CLOSE_BOUND_S = 10.0
TRICKLE_INTERVAL_S = 0.2
BUSY_FOR_S = 2.5
BUSY_INTERVAL_S = 0.3
API_VERSIONS_VERSION = 3
PER_IP_LIMIT = 2

pytestmark = pytest.mark.vltava_only


@pytest.fixture
def idle_broker(broker_factory, monkeypatch):
    monkeypatch.setenv("VLTAVA_CONNECTIONS_MAX_IDLE_MS", str(IDLE_MS))
    return broker_factory()


def api_versions(conn: Connection) -> None:
    answer = conn.send(ApiVersionsRequest, API_VERSIONS_VERSION,
                       {"client_software_name": "t", "client_software_version": "1"})
    assert answer["error_code"] == 0


def closed_within(sock: socket.socket, bound_s: float, trickle: bool) -> float:
    """Seconds until the broker closes `sock` (EOF or reset), sending a byte every
    TRICKLE_INTERVAL_S if `trickle`; fails if it stays open for `bound_s`."""
    start = time.monotonic()
    sock.settimeout(TRICKLE_INTERVAL_S)
    while time.monotonic() - start < bound_s:
        try:
            if trickle:
                sock.sendall(b"x")
            if sock.recv(1) == b"":
                return time.monotonic() - start
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - start
    pytest.fail(f"connection still open after {bound_s} s")


def test_an_idle_connection_is_closed_after_the_idle_time(idle_broker):
    with Connection(first_address(idle_broker.bootstrap)) as conn:
        api_versions(conn)
        waited = closed_within(conn.sock, CLOSE_BOUND_S, trickle=False)
        assert waited >= IDLE_MS / 1000 * 0.9, f"closed after {waited:.2f} s, before the idle time"


def test_a_slow_loris_half_frame_is_closed(idle_broker):
    host, port = first_address(idle_broker.bootstrap).rsplit(":", 1)
    with socket.create_connection((host, int(port))) as sock:
        # A frame announcing 100 bytes, of which a few arrive, then one byte at a time.
        sock.sendall(struct.pack(">i", 100) + b"\x00\x12\x00")
        closed_within(sock, CLOSE_BOUND_S, trickle=True)


def test_a_busy_connection_outlives_the_idle_time(idle_broker):
    with Connection(first_address(idle_broker.bootstrap)) as conn:
        deadline = time.monotonic() + BUSY_FOR_S
        while time.monotonic() < deadline:
            api_versions(conn)
            time.sleep(BUSY_INTERVAL_S)  # the gap between requests under test, not a sync
        api_versions(conn)


def test_a_connection_beyond_the_per_ip_limit_is_closed_while_others_keep_working(
        broker_factory, monkeypatch):
    monkeypatch.setenv("VLTAVA_MAX_CONNECTIONS_PER_IP", str(PER_IP_LIMIT))
    broker = broker_factory()
    admitted = [Connection(first_address(broker.bootstrap)) for _ in range(PER_IP_LIMIT)]
    try:
        for conn in admitted:
            api_versions(conn)
        with Connection(first_address(broker.bootstrap)) as extra:
            closed_within(extra.sock, CLOSE_BOUND_S, trickle=False)
        for conn in admitted:
            api_versions(conn)
    finally:
        for conn in admitted:
            conn.close()
