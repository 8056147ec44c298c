"""Structured logs and the per-client request log (issue 17): `--log-format json` writes one
JSON object a line, and `--request-log-client-ids` logs every request of the clients it names,
and of no other.

Guards against: a JSON format that still writes some lines as text (a log collector then drops
or mangles them); a request log that misses requests of a followed client, or floods the log
with every other client's.

vltava only (Kafka logs through log4j, with kafka.request.logger for all clients or none);
one broker of its own.
"""

import json
import time

import pytest
from confluent_kafka import Producer

from conftest import VltavaBroker

pytestmark = [pytest.mark.vltava_only,
              pytest.mark.single_node("starts its own broker with logging flags")]

FOLLOWED = "followed-app"
OTHER = "other-app"
TIMEOUT_S = 30.0


def produce(bootstrap: str, client_id: str, topic: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "client.id": client_id})
    for i in range(count):
        producer.produce(topic, value=f"{client_id}-{i}".encode())
    assert producer.flush(TIMEOUT_S) == 0


def json_lines(broker: VltavaBroker) -> list[dict]:
    """The broker's stderr lines (its log file also holds the command and stdout's lines,
    which are not log lines and do not start with '{')."""
    lines = broker.log_path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_json_logs_and_the_request_log_of_one_client(tmp_path):
    data_dir = tmp_path / "logging"
    data_dir.mkdir()
    broker = VltavaBroker(data_dir, auto_create_topics=True, num_partitions=1,
                          retention_check_interval_ms=None,
                          settings={"log-format": "json", "request-log-client-ids": FOLLOWED})
    try:
        produce(broker.bootstrap, FOLLOWED, "logged", 3)
        produce(broker.bootstrap, OTHER, "logged", 3)
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            requests = [line["fields"] for line in json_lines(broker)
                        if line.get("target") == "vltava::request"]
            if any(r["api"] == "Produce" for r in requests):
                break
            assert time.monotonic() < deadline, f"no Produce in the request log: {requests}"
            time.sleep(0.1)  # poll interval: the log file has no event to await
    finally:
        broker.stop()
    lines = broker.log_path.read_text().splitlines()
    # Past the fixture's "$ command" line, only stdout's announcements are not JSON.
    text = [line for line in lines[1:] if not line.startswith("{")
            and "listening on" not in line]
    assert text == [], f"log lines that are not JSON: {text[:5]}"
    assert all("level" in line and "target" in line for line in json_lines(broker))
    assert {r["client_id"] for r in requests} == {FOLLOWED}
    apis = [r["api"] for r in requests]
    assert "Metadata" in apis and "Produce" in apis, apis
    assert all(r["elapsed_us"] >= 0 and r["correlation_id"] >= 0 for r in requests)
