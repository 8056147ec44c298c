"""Raw Kafka requests over a plain socket, for tests that must choose the exact bytes sent.

kafka-python carries Kafka's JSON message schemas; its message classes encode a request body and
decode a response body at a chosen version. The framing around them is written here so that
nothing but the schema sits between the test and the socket: a 4-byte size prefix, the request
header (v1, or v2 with an empty tagged-field section when the API version is flexible) and the
response header (v0, or v1 with tagged fields; ApiVersions always answers with v0, KIP-511).
"""

import itertools
import socket
import struct
import sys
import uuid

FRAME_BYTES_MAX = 64 * 1024 * 1024   # refuse to allocate for a size prefix beyond this
SOCKET_TIMEOUT_S = 30.0
VARINT_BYTES_MAX = 5                  # an unsigned varint32 takes at most 5 bytes
API_VERSIONS_KEY = 18


class WireError(Exception):
    """The peer closed the connection or sent a frame that cannot be a Kafka response."""


def read_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(VARINT_BYTES_MAX):
        if pos >= len(data):
            raise WireError("truncated varint in the response header")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * i)
        if byte & 0x80 == 0:
            return value, pos
    raise WireError("varint longer than 5 bytes in the response header")


def skip_tagged_fields(data: bytes, pos: int) -> int:
    count, pos = read_uvarint(data, pos)
    for _ in range(count):
        _tag, pos = read_uvarint(data, pos)
        size, pos = read_uvarint(data, pos)
        pos += size
    if pos > len(data):
        raise WireError("tagged fields run past the end of the response")
    return pos


def request_header(api_key: int, version: int, correlation_id: int, client_id: str,
                   flexible: bool) -> bytes:
    # The client id stays a classic (non-compact) nullable string even in header v2.
    client = client_id.encode()
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client)) + client
    return header + (b"\x00" if flexible else b"")


def build(data_class, fields: dict):
    """A kafka-python data object from plain dicts and lists (nested structs included)."""
    values = {}
    for name, value in fields.items():
        field = data_class._struct.fields[name]
        if field.is_struct_array() and value is not None:
            value = [build(field.data_class, item) for item in value]
        elif field.is_struct() and value is not None:
            value = build(field.data_class, value)
        values[name] = value
    return data_class(**values)


def response_class_for(request_class):
    module = sys.modules[request_class.__module__]
    return getattr(module, request_class.__name__.removesuffix("Request") + "Response")


def plain(value):
    """Decoded values as plain Python data: dicts, lists, ints, strings, hex for bytes."""
    if hasattr(value, "to_dict"):
        return plain(value.to_dict(json=False))
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return value


class Connection:
    """One socket to one broker; requests are sent one at a time and answered in order."""

    def __init__(self, bootstrap: str, client_id: str = "vltava-differential"):
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=SOCKET_TIMEOUT_S)
        self.client_id = client_id
        self.correlation_ids = itertools.count(1)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _read_exact(self, size: int) -> bytes:
        chunks, left = [], size
        while left > 0:
            chunk = self.sock.recv(min(left, 1 << 20))
            if not chunk:
                raise WireError(f"connection closed with {left} of {size} bytes unread")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def send(self, request_class, version: int, fields: dict) -> dict:
        """Send one request and return the decoded response body as plain data."""
        body = bytes(build(request_class, fields).encode(version=version))
        return self.send_body(request_class, version, body, version)

    def send_body(self, request_class, header_version: int, body: bytes,
                  response_version: int) -> dict:
        """Send `body` under a header naming `header_version` (which kafka-python may not know,
        e.g. an ApiVersions version from the future) and decode the answer at
        `response_version`."""
        correlation_id = self._send_frame(request_class, header_version, body)
        return self._read_answer(request_class, response_version, correlation_id)

    def pipeline(self, requests: list) -> list:
        """Send every `(request_class, version, fields)` before reading any answer, as clients
        pipeline, then read the answers in order."""
        sent = []
        for request_class, version, fields in requests:
            body = bytes(build(request_class, fields).encode(version=version))
            sent.append((request_class, version, self._send_frame(request_class, version, body)))
        return [self._read_answer(request_class, version, correlation_id)
                for request_class, version, correlation_id in sent]

    def _send_frame(self, request_class, header_version: int, body: bytes) -> int:
        flexible = request_class.flexible_version_q(min(header_version, request_class.max_version))
        correlation_id = next(self.correlation_ids)
        frame = request_header(request_class.API_KEY, header_version, correlation_id,
                               self.client_id, flexible) + body
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)
        return correlation_id

    def _read_answer(self, request_class, response_version: int, correlation_id: int) -> dict:
        api_key = request_class.API_KEY
        (size,) = struct.unpack(">i", self._read_exact(4))
        if not 4 <= size <= FRAME_BYTES_MAX:
            raise WireError(f"response size {size} outside 4..{FRAME_BYTES_MAX}")
        data = self._read_exact(size)
        (answered,) = struct.unpack_from(">i", data, 0)
        if answered != correlation_id:
            raise WireError(f"correlation id {answered} answers request {correlation_id}")
        pos = 4
        if request_class.flexible_version_q(response_version) and api_key != API_VERSIONS_KEY:
            pos = skip_tagged_fields(data, pos)
        response = response_class_for(request_class).decode(data[pos:], version=response_version)
        return plain(response)
