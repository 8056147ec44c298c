"""The consume loop both consumers share: parse, handle, retry or dead-letter, then commit.

Offsets are stored only after an event's effect is applied, or after its retry/dlq copy is
acknowledged, and librdkafka commits stored offsets (periodically, and on close): an event is
handled at least once, and the services' idempotent handling makes that exactly one effect.
"""
import threading

from confluent_kafka import Consumer, Producer

from .common import (BOOTSTRAP, MAX_ATTEMPTS, ORDERS, Malformed, ensure_topics, log, parse_order,
                     stop_event)

SEND_TIMEOUT_S = 30


class Transient(Exception):
    """A failure worth retrying, such as a timeout of a service this one depends on."""


def simulate_faults(order, attempt):
    """The demo's faults: "flaky-" skus fail on the first attempt, "broken-" ones always."""
    if order["sku"].startswith("broken-") or (order["sku"].startswith("flaky-") and attempt == 1):
        raise Transient(f"simulated failure of {order['sku']} on attempt {attempt}")


class Processor:
    def __init__(self, service, handle):
        self.service, self.handle = service, handle
        self.retry_topic, self.dlq_topic = f"orders.{service}.retry", f"orders.{service}.dlq"
        self.dlq_sent = []  # what this process sent to its dlq, for GET /dlq
        self.lock = threading.Lock()
        self.producer = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True,
                                  "acks": "all"})

    def send(self, topic, msg, attempts, error):
        """Copies msg to the retry or dlq topic and waits until the broker acknowledged it."""
        failures = []
        self.producer.produce(topic, key=msg.key(), value=msg.value(),
                              headers=[("attempts", str(attempts)), ("error", error)],
                              on_delivery=lambda err, _: err and failures.append(err))
        if self.producer.flush(SEND_TIMEOUT_S) > 0 or failures:
            # Not acknowledged: stop without committing, so the event is consumed again.
            raise SystemExit(f"could not write to {topic}: {failures or 'timeout'}")

    def process(self, msg):
        attempt = 1 + int(dict(msg.headers() or []).get("attempts", b"0"))
        try:
            order = parse_order(msg.value())
        except Malformed as e:
            self.send(self.dlq_topic, msg, 1, str(e))
            with self.lock:
                self.dlq_sent.append({"order_id": None, "error": str(e), "attempts": 1})
            return
        try:
            self.handle(order, attempt)
        except Transient as e:
            if attempt < MAX_ATTEMPTS:
                self.send(self.retry_topic, msg, attempt, str(e))
            else:
                self.send(self.dlq_topic, msg, attempt, str(e))
                with self.lock:
                    self.dlq_sent.append(
                        {"order_id": order["order_id"], "error": str(e), "attempts": attempt})

    def dlq(self, path, query, body):
        with self.lock:
            return 200, list(self.dlq_sent)

    def run(self):
        stop = stop_event()
        ensure_topics([ORDERS, self.retry_topic, self.dlq_topic])
        consumer = Consumer({
            "bootstrap.servers": BOOTSTRAP,
            "group.id": self.service,
            "auto.offset.reset": "earliest",  # a new group handles the orders made before it
            "enable.auto.offset.store": False,  # we store an offset once its event is handled
        })
        # The retry topic is consumed by the same loop: a retried event is just another event.
        consumer.subscribe([ORDERS, self.retry_topic])
        log(f"{self.service} service consuming")
        try:
            while not stop.is_set():
                msg = consumer.poll(0.5)
                if msg is None:
                    continue
                if msg.error():
                    log(f"{self.service}: {msg.error()}")
                    continue
                self.process(msg)
                consumer.store_offsets(msg)
        finally:
            consumer.close()  # commits the stored offsets and leaves the group at once
            log(f"{self.service} service stopped")
