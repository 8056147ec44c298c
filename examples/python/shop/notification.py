"""Notification service: "sends" each customer one message per order."""
import threading
from urllib.parse import parse_qs

from .common import log, port, serve_http
from .consumer import Processor, simulate_faults

lock = threading.Lock()  # the consumer thread writes, HTTP threads read
sent = {}  # customer -> messages, in the order sent
handled = set()  # order_ids already notified: a redelivered order sends nothing


def handle(order, attempt):
    if order["order_id"] in handled:
        return
    simulate_faults(order, attempt)
    text = f"Order {order['order_id']}: {order['quantity']} x {order['sku']} received"
    with lock:
        sent.setdefault(order["customer"], []).append(
            {"order_id": order["order_id"], "customer": order["customer"], "text": text})
        handled.add(order["order_id"])


def get_notifications(path, query, body):
    customer = parse_qs(query).get("customer", [""])[0]
    with lock:
        return 200, list(sent.get(customer, []))


if __name__ == "__main__":
    processor = Processor("notification", handle)
    serve_http(port("NOTIFICATION_PORT", 8082), {
        ("GET", "/notifications"): get_notifications, ("GET", "/dlq"): processor.dlq})
    log("notification service listening")
    processor.run()
