"""Client checks for tests/container/test, with confluent-kafka from the host.

    kafka_check.py roundtrip BOOTSTRAP TOPIC COUNT [--at-least N] [--expect-broker HOST:PORT]
    kafka_check.py order HOST PORTS STOCK

roundtrip: produces COUNT records (idempotent, acks=all) and fails on any delivery error; then
reads the topic from the beginning in a fresh group and fails unless all of them come back, and
at least N records in all (--at-least: those of earlier runs are still there).
--expect-broker: Metadata must name exactly that broker (how the zero-config address is
checked).

order: one order through the example shop (examples/README.md) whose services serve on HOST at
PORTS (order,inventory,notification): POST /orders for 2 apples, then the inventory must show
STOCK apples left and the notification service the message for that order.

Every wait is bounded; a failure says what was missing."""

import argparse
import json
import sys
import time
import urllib.request
import uuid

from confluent_kafka import Consumer, Producer

TIMEOUT_S = 60
# librdkafka's own log at critical only: after a node is stopped on purpose it would log each
# refused reconnection as an error; real failures still come back as delivery or poll errors.
QUIET = {"log_level": 2}


def produce(bootstrap: str, topic: str, count: int, run: str) -> None:
    errors = []
    producer = Producer({**QUIET, "bootstrap.servers": bootstrap, "enable.idempotence": True,
                         "acks": "all", "message.timeout.ms": TIMEOUT_S * 1000})
    for n in range(count):
        producer.produce(topic, key=f"{run}-{n}", value=f"{run}-{n}",
                         on_delivery=lambda err, _msg: err and errors.append(err))
    left = producer.flush(TIMEOUT_S)
    if errors or left:
        sys.exit(f"produce to {topic} via {bootstrap}: {left} undelivered, errors {errors[:3]}")


def consume_all(bootstrap: str, topic: str, run: str, count: int, at_least: int) -> int:
    """Reads until this run's COUNT records and AT_LEAST in all are in; returns how many."""
    consumer = Consumer({**QUIET, "bootstrap.servers": bootstrap,
                         "group.id": f"check-{uuid.uuid4()}", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe([topic])
    wanted = {f"{run}-{n}" for n in range(count)}
    seen = 0
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while (wanted or seen < at_least) and time.monotonic() < deadline:
            message = consumer.poll(1)
            if message is None:
                continue
            if message.error():
                sys.exit(f"consume {topic} via {bootstrap}: {message.error()}")
            seen += 1
            wanted.discard(message.value().decode())
    finally:
        consumer.close()
    if wanted or seen < at_least:
        sys.exit(f"consume {topic} via {bootstrap}: {len(wanted)} of {count} records missing, "
                 f"{seen} read of at least {at_least}, after {TIMEOUT_S}s")
    return seen


def http_json(url: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as answer:
        return json.load(answer)


def until(what: str, probe) -> None:
    """Polls probe() until it is true (errors count as not yet), for TIMEOUT_S at most."""
    deadline = time.monotonic() + TIMEOUT_S
    last = None
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except Exception as error:  # noqa: BLE001 (a service not up yet answers with anything)
            last = error
        time.sleep(0.2)  # poll interval: the services have no event to wait on from outside
    sys.exit(f"{what}: not after {TIMEOUT_S}s (last error: {last})")


def order(host: str, ports: str, stock: int) -> None:
    order_port, inventory_port, notification_port = ports.split(",")
    until("order service healthy", lambda: http_json(f"http://{host}:{order_port}/health"))
    customer = f"ada-{uuid.uuid4().hex[:8]}"
    placed = http_json(f"http://{host}:{order_port}/orders",
                       {"sku": "apple", "quantity": 2, "customer": customer})
    until(f"{stock} apples left", lambda: http_json(
        f"http://{host}:{inventory_port}/stock/apple")["available"] == stock)
    until(f"a notification for {placed['order_id']}", lambda: any(
        n["order_id"] == placed["order_id"] for n in http_json(
            f"http://{host}:{notification_port}/notifications?customer={customer}")))
    print(f"order {placed['order_id']}: stock {stock}, customer notified")


def roundtrip(args: argparse.Namespace) -> None:
    if args.expect_broker:
        metadata = Producer({"bootstrap.servers": args.bootstrap}).list_topics(timeout=TIMEOUT_S)
        brokers = sorted(f"{b.host}:{b.port}" for b in metadata.brokers.values())
        if brokers != [args.expect_broker]:
            sys.exit(f"Metadata via {args.bootstrap} names {brokers}, not {args.expect_broker}")
    run = uuid.uuid4().hex[:8]
    produce(args.bootstrap, args.topic, args.count, run)
    total = consume_all(args.bootstrap, args.topic, run, args.count, args.at_least)
    print(f"{args.count} records produced (acks=all) and consumed via {args.bootstrap}"
          f" ({total} in {args.topic})")


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(required=True)
    command = commands.add_parser("roundtrip")
    command.add_argument("bootstrap")
    command.add_argument("topic")
    command.add_argument("count", type=int)
    command.add_argument("--at-least", type=int, default=0)
    command.add_argument("--expect-broker")
    command.set_defaults(run=roundtrip)
    command = commands.add_parser("order")
    command.add_argument("host")
    command.add_argument("ports")
    command.add_argument("stock", type=int)
    command.set_defaults(run=lambda args: order(args.host, args.ports, args.stock))
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
