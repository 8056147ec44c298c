"""Inventory service: reserves stock for each order, or rejects it when there is not enough."""
import os
import threading

from .common import log, port, serve_http
from .consumer import Processor, simulate_faults

INITIAL_STOCK = int(os.environ.get("INITIAL_STOCK", 10))

lock = threading.Lock()  # the consumer thread writes, HTTP threads read
stock = {}  # sku -> available
status = {}  # order_id -> "reserved" or "rejected": also the memory of handled orders


def handle(order, attempt):
    with lock:
        if order["order_id"] in status:
            return  # redelivered: it had its effect already
    simulate_faults(order, attempt)
    with lock:
        available = stock.get(order["sku"], INITIAL_STOCK)
        if order["quantity"] <= available:
            stock[order["sku"]] = available - order["quantity"]
            status[order["order_id"]] = "reserved"
        else:
            status[order["order_id"]] = "rejected"


def get_stock(path, query, body):
    sku = path.split("/", 2)[2]
    with lock:
        return 200, {"sku": sku, "available": stock.get(sku, INITIAL_STOCK)}


def get_order(path, query, body):
    order_id = path.split("/", 2)[2]
    with lock:
        if order_id not in status:
            return 404, {"error": "order not seen"}
        return 200, {"order_id": order_id, "status": status[order_id]}


if __name__ == "__main__":
    processor = Processor("inventory", handle)
    serve_http(port("INVENTORY_PORT", 8081), {
        ("GET", "/stock"): get_stock, ("GET", "/orders"): get_order, ("GET", "/dlq"): processor.dlq})
    log("inventory service listening")
    processor.run()
