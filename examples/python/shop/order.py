"""Order service: POST /orders produces an order event to "orders" and answers once it is acked."""
import json
import threading
import time
import uuid

from confluent_kafka import Producer

from .common import (BOOTSTRAP, ORDERS, Malformed, ensure_topics, log, parse_order, port,
                     serve_http, stop_event)

ACK_TIMEOUT_S = 30

producer = Producer({
    "bootstrap.servers": BOOTSTRAP,
    # Idempotent: a retried send is written once; implies acks=all, spelled out for the reader.
    "enable.idempotence": True,
    "acks": "all",
})
ready = threading.Event()


def produce(key, value):
    """Writes one event and waits for the broker's acknowledgement: (partition, offset)."""
    done = threading.Event()
    result = {}

    def on_delivery(err, msg):
        result["err"], result["msg"] = err, msg
        done.set()

    producer.produce(ORDERS, key=key, value=value, on_delivery=on_delivery)
    if not done.wait(ACK_TIMEOUT_S):
        raise TimeoutError("no acknowledgement from the broker")
    if result["err"] is not None:
        raise RuntimeError(str(result["err"]))
    return result["msg"].partition(), result["msg"].offset()


def post_order(path, query, body):
    try:
        order = json.loads(body)
        if isinstance(order, dict):
            order.setdefault("order_id", str(uuid.uuid4()))
        order = parse_order(json.dumps(order))
    except (ValueError, Malformed) as e:
        return 400, {"error": str(e)}
    event = {k: order[k] for k in ("order_id", "sku", "quantity", "customer")}
    event["created_at"] = int(time.time() * 1000)
    try:
        partition, offset = produce(order["order_id"].encode(), json.dumps(event).encode())
    except Exception as e:
        return 503, {"error": str(e)}
    return 202, {"order_id": order["order_id"], "partition": partition, "offset": offset}


def post_raw(path, query, body):
    try:
        partition, offset = produce(None, body)
    except Exception as e:
        return 503, {"error": str(e)}
    return 202, {"partition": partition, "offset": offset}


def health(path, query, body):
    return (200, {"status": "ok"}) if ready.is_set() else (503, {"status": "starting"})


def main():
    stop = stop_event()
    server = serve_http(port("ORDER_PORT", 8080), {
        ("POST", "/orders"): post_order, ("POST", "/raw"): post_raw, ("GET", "/health"): health})
    ensure_topics([ORDERS])
    ready.set()
    log("order service ready")
    # Delivery callbacks run inside poll(): this loop serves them for the request threads.
    while not stop.is_set():
        producer.poll(0.1)
    server.shutdown()
    producer.flush(10)
    log("order service stopped")


if __name__ == "__main__":
    main()
