"""What the three services share: configuration, topic creation, the order format and HTTP."""
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from confluent_kafka import KafkaError
from confluent_kafka.admin import AdminClient, NewTopic

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
ORDERS = "orders"
PARTITIONS = 3
MAX_ATTEMPTS = 3


def port(name, default):
    return int(os.environ.get(name, default))


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def ensure_topics(names):
    """Creates the topics that are missing (3 partitions, the broker's replication factor)."""
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    futures = admin.create_topics([NewTopic(n, PARTITIONS) for n in names], operation_timeout=10)
    for name, future in futures.items():
        try:
            future.result(timeout=30)
        except Exception as e:  # another service may have created it first: that is fine
            err = e.args[0] if e.args else None
            if not (isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS):
                raise


class Malformed(ValueError):
    """An event that no retry can fix: it goes straight to the dead-letter topic."""


def parse_order(raw):
    """The order in an event or a request body, or Malformed saying why not."""
    try:
        order = json.loads(raw)
    except (ValueError, TypeError):
        raise Malformed("not JSON")
    if not isinstance(order, dict):
        raise Malformed("not a JSON object")
    for field in ("order_id", "sku", "customer"):
        if not isinstance(order.get(field), str):
            raise Malformed(f"{field} is not a string")
    quantity = order.get("quantity")
    # bool is an int in Python, but true is not a quantity.
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
        raise Malformed("quantity is not a positive integer")
    return order


def stop_event():
    """An event set by SIGTERM or Ctrl-C, so the main loop can finish its work and close."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def serve_http(port_number, routes):
    """Serves GET/POST in a background thread; routes maps (method, first path segment) to
    handler(path, query, body) -> (status, json-able value)."""

    class Handler(BaseHTTPRequestHandler):
        def _dispatch(self, method):
            path, _, query = self.path.partition("?")
            first = "/" + path.strip("/").split("/")[0]
            handler = routes.get((method, first))
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                status, value = handler(path, query, body) if handler else (404, {"error": "not found"})
            except Exception as e:  # e.g. /stock without a sku: an answer, not a dropped connection
                status, value = 500, {"error": repr(e)}
            data = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._dispatch("GET")

        def do_POST(self):
            self._dispatch("POST")

        def log_message(self, *args):  # quiet: one line per request is noise in an example
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port_number), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
