"""The web console (issue 17) in a real headless Chromium, against the real binary, on one
node or every node of a cluster (the console of node 1 must see the whole cluster).

Guards against: a page that throws or loads something that fails (every page is opened and
the browser's console log must stay free of errors), a live tail that misses records produced
after it opened, a group's lag on the page that differs from `vltava group describe`, a record
produced from the page that a Kafka consumer does not read back as written, a config edit that
DescribeConfigs does not see, an offset reset that is not refused while the group has members,
API input that gets anything but a 4xx JSON error, a search cancelled from the page that reads
on at the server, an export that differs from the records found, a reset dry run that commits
(or an execute that does not), and a KIP-848 group shown without its member or with another
lag than `vltava group describe`.

Chromium and chromedriver are Debian's (`apt-get install chromium chromium-driver`; scripts/test
installs them): the module is skipped when they cannot be found. Kafka has no console: vltava
only. With VLTAVA_CONSOLE_SCREENSHOTS=DIR the page test saves a PNG of each page there (how
docs/console/ is made).
"""

import csv
import io
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import ConfigResource

from conftest import VLTAVA_BIN
from helpers import admin, create_topic
from test_metrics import scrape, total

pytestmark = pytest.mark.vltava_only

HTTP_TIMEOUT_S = 15.0
PAGE_WAIT_S = 20.0          # a page's data to arrive (the API asks the cluster)
TAIL_WAIT_S = 20.0          # a produced record to reach the live tail
CONSUME_WAIT_S = 30.0
RECORDS = 30
COMMITTED = 12
WINDOW = (1200, 860)
TAILS_MAX = 8               # the console's TAILS_MAX (crates/vltava-admin/src/console/mod.rs)
STREAM_FREED_S = 20.0       # a closed stream's slot to be free again (keep-alive every 2 s)
BIG_RECORDS = 8000          # a topic a search takes long to read: 8000 records ...
BIG_VALUE_BYTES = 4000      # ... of 4 kB, 32 MB in all
SEARCH_BUSY_MS = 3000       # the page busy, so that the search's stream backs up to the server
SEARCH_SETTLE_S = 3.0       # a stopped search's bytes out stay put this long (keep-alive 2 s)


def find_browser() -> tuple[str, str] | None:
    chromium = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    driver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
    return (chromium, driver) if chromium and driver else None


def nodes(broker) -> list:
    return getattr(broker, "nodes", [broker])


@pytest.fixture(scope="module")
def browser():
    found = find_browser()
    if found is None:
        pytest.skip("chromium and chromedriver not found (apt-get install chromium "
                    "chromium-driver; scripts/test installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    chromium, driver_path = found
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={WINDOW[0]},{WINDOW[1]}", "--hide-scrollbars"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(PAGE_WAIT_S)
    yield driver
    driver.quit()


class Console:
    """The console of one node in the browser."""

    def __init__(self, driver, http: str):
        self.driver = driver
        self.base = f"http://{http}"

    def open(self, route: str):
        """Opens `#ROUTE` on a fresh page load and waits until the page says it loaded."""
        from selenium.webdriver.support.ui import WebDriverWait
        self.driver.get(f"{self.base}/?{time.monotonic_ns()}#{route}")
        WebDriverWait(self.driver, PAGE_WAIT_S).until(
            lambda d: d.execute_script(
                "const p = document.getElementById('page'); "
                "return p && p.dataset.loaded ? p.dataset.loaded : null;"),
            message=f"page #{route} did not load")
        state = self.driver.execute_script("return document.getElementById('page').dataset.loaded")
        status = self.driver.find_element("id", "status").text
        assert state == "true", f"page #{route}: {status}"

    def find(self, css: str):
        return self.driver.find_element("css selector", css)

    def all(self, css: str):
        return self.driver.find_elements("css selector", css)

    def wait(self, condition, message: str, timeout_s: float = PAGE_WAIT_S):
        """Waits until `condition()` holds; elements replaced or not there yet meanwhile (the
        page redraws tables as data arrives) count as not yet."""
        from selenium.common.exceptions import (NoSuchElementException,
                                                StaleElementReferenceException)
        from selenium.webdriver.support.ui import WebDriverWait
        return WebDriverWait(self.driver, timeout_s, poll_frequency=0.1,
                             ignored_exceptions=(NoSuchElementException,
                                                 StaleElementReferenceException)).until(
            lambda _: condition(), message=message)

    def fill(self, element_id: str, text: str):
        field = self.find(f"#{element_id}")
        field.clear()
        field.send_keys(text)

    def errors(self) -> list:
        """The browser console's errors since the last call."""
        return [e for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]


@pytest.fixture
def console(browser, broker):
    c = Console(browser, nodes(broker)[0].http)
    c.errors()  # what earlier tests left in the log is theirs
    return c


def api(broker, path: str, body=None, method=None) -> tuple[int, dict]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(f"http://{nodes(broker)[0].http}{path}", data=data,
                                     method=method or ("POST" if data is not None else "GET"),
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def produce_records(bootstrap: str, topic: str, partitions: int, count: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(count):
        producer.produce(topic, key=f"key-{i % 5}".encode(),
                         value=json.dumps({"n": i, "kind": "even" if i % 2 == 0 else "odd"}).encode(),
                         headers=[("source", b"test")], partition=i % partitions)
    assert producer.flush(30) == 0


def commit(bootstrap: str, group: str, offsets: list[TopicPartition]) -> None:
    """Commits `offsets` for `group` as a consumer that then leaves (the group is Empty)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    try:
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


def replicas(broker) -> int:
    return len(nodes(broker))


def test_every_page_loads_without_console_errors(broker, console, topic_name):
    partitions = 3
    create_topic(broker.bootstrap, topic_name, partitions=partitions,
                 replication_factor=replicas(broker))
    produce_records(broker.bootstrap, topic_name, partitions, RECORDS)
    group = f"{topic_name}-g"
    commit(broker.bootstrap, group, [TopicPartition(topic_name, 0, 2)])
    shots = os.environ.get("VLTAVA_CONSOLE_SCREENSHOTS")

    def shot(name: str):
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            console.driver.save_screenshot(str(Path(shots) / f"{name}.png"))

    console.open("/")
    # The console of one node sees every broker of the cluster.
    console.wait(lambda: console.find("#brokers-count").text == str(len(nodes(broker))),
                 "the overview does not list every broker")
    assert int(console.find("#partitions-count").text) >= partitions
    shot("overview")
    console.open("/topics")
    assert topic_name in console.find("#topics").text
    shot("topics")
    console.open(f"/topics/{topic_name}")
    rows = console.all("#partitions tbody tr")
    assert len(rows) == partitions
    ends = [int(r.find_elements("css selector", "td")[5].text) for r in rows]
    assert sum(ends) == RECORDS
    assert console.all('#configs tr[data-config="retention.ms"]')
    shot("topic")
    console.open("/groups")
    assert group in console.find("#groups").text
    shot("groups")
    console.open(f"/groups/{group}")
    assert console.find("#group-state").text == "Empty"
    shot("group")
    # A search by JSON field, decoded as JSON: half the records are "even".
    console.open(f"/browse?topic={topic_name}")
    console.fill("search-json-path", "kind")
    console.fill("search-json-value", "even")
    console.find("#search-decode option[value=json]").click()
    console.find("#search-start").click()
    console.wait(lambda: console.find("#search-progress").get_attribute("data-done") == "true",
                 "the search did not finish")
    assert len(console.all("#search-results tbody tr")) == RECORDS // 2
    assert "end of the topic" in console.find("#search-progress").text
    shot("messages")
    console.open(f"/tail?topic={topic_name}")
    shot("tail")
    console.open(f"/produce?topic={topic_name}")
    shot("produce")
    assert console.errors() == []


def test_live_tail_shows_a_record_produced_after_it_opened(broker, console, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2, replication_factor=replicas(broker))
    produce_records(broker.bootstrap, topic_name, 2, 4)  # before: must not be shown
    console.open(f"/tail?topic={topic_name}")
    console.find("#tail-start").click()
    console.wait(lambda: console.find("#tail-status").get_attribute("data-state") == "tailing",
                 "the tail did not start")
    marker = f"tailed-{time.monotonic_ns()}"
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    producer.produce(topic_name, value=marker.encode(), key=b"k", partition=1)
    assert producer.flush(30) == 0
    console.wait(lambda: marker in console.find("#tail-records").text,
                 "the produced record did not appear on the live tail", TAIL_WAIT_S)
    rows = console.all("#tail-records tbody tr")
    assert len(rows) == 1, "the tail showed records from before it opened"
    assert rows[0].get_attribute("data-partition") == "1"
    console.find("#tail-stop").click()
    assert console.errors() == []


def test_group_lag_on_the_page_equals_vltava_group_describe(broker, console, topic_name):
    partitions = 2
    create_topic(broker.bootstrap, topic_name, partitions=partitions,
                 replication_factor=replicas(broker))
    produce_records(broker.bootstrap, topic_name, partitions, RECORDS)
    group = f"{topic_name}-g"
    commit(broker.bootstrap, group, [TopicPartition(topic_name, 0, COMMITTED),
                                     TopicPartition(topic_name, 1, 3)])
    described = subprocess.run(
        [str(VLTAVA_BIN), "group", "describe", group, "--json",
         "--bootstrap", nodes(broker)[0].bootstrap],
        capture_output=True, text=True, timeout=60, check=True)
    expected = {(o["topic"], o["partition"]): o["lag"]
                for o in json.loads(described.stdout)["offsets"]}
    assert expected == {(topic_name, 0): RECORDS // 2 - COMMITTED,
                        (topic_name, 1): RECORDS // 2 - 3}
    console.open(f"/groups/{group}")
    shown = {(r.get_attribute("data-topic"), int(r.get_attribute("data-partition"))):
             int(r.find_element("css selector", "td.lag").text)
             for r in console.all("#group-offsets tbody tr")}
    assert shown == expected
    assert console.errors() == []


def test_a_record_produced_from_the_page_is_consumed_as_written(broker, console, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=3, replication_factor=replicas(broker))
    console.open(f"/produce?topic={topic_name}")
    value = f'{{"from": "console", "at": {time.monotonic_ns()}}}'
    console.fill("produce-partition", "2")
    console.fill("produce-key", "order-1")
    console.fill("produce-value", value)
    console.fill("produce-headers", "source=console\ntrace=abc")
    console.find("#produce-send").click()
    console.wait(lambda: console.find("#produce-result").get_attribute("data-offset") is not None,
                 f"the page did not produce: {console.find('#produce-result').text}")
    offset = int(console.find("#produce-result").get_attribute("data-offset"))
    assert console.find("#produce-result").get_attribute("data-partition") == "2"
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"{topic_name}-c",
                         "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic_name, 2, offset)])
        deadline = time.monotonic() + CONSUME_WAIT_S
        message = None
        while message is None and time.monotonic() < deadline:
            polled = consumer.poll(0.5)
            if polled is not None and polled.error() is None:
                message = polled
        assert message is not None, "the produced record was not consumed"
        assert (message.key(), message.value().decode(), message.offset()) == (b"order-1", value, offset)
        assert message.headers() == [("source", b"console"), ("trace", b"abc")]
    finally:
        consumer.close()
    assert console.errors() == []


def test_a_config_edit_is_seen_by_describe_configs(broker, console, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=1, replication_factor=replicas(broker))
    console.open(f"/topics/{topic_name}")
    console.fill("config-name", "retention.ms")
    console.fill("config-value", "7654321")
    console.find("#config-save").click()
    row = '#configs tr[data-config="retention.ms"] td.value'
    console.wait(lambda: console.find(row).text == "7654321", "the page did not show the new value")
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic_name)
    client = admin(broker.bootstrap)  # must outlive the future: destroying it fails it
    configs = client.describe_configs([resource])[resource].result(timeout=30)
    entry = configs["retention.ms"]
    assert entry.value == "7654321"
    assert entry.source == 1  # DYNAMIC_TOPIC_CONFIG
    assert console.errors() == []


def test_offsets_reset_only_while_the_group_is_empty(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=1, replication_factor=replicas(broker))
    produce_records(broker.bootstrap, topic_name, 1, 10)
    group = f"{topic_name}-g"
    member = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                       "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        member.subscribe([topic_name])
        deadline = time.monotonic() + CONSUME_WAIT_S
        while not member.assignment() and time.monotonic() < deadline:
            member.poll(0.2)
        assert member.assignment(), "the consumer never joined"
        status, body = api(broker, f"/api/groups/{group}/reset", {"topic": topic_name, "to": "latest"})
        assert status == 409, body
        assert body["kafka_error"] in ("UNKNOWN_MEMBER_ID", "ILLEGAL_GENERATION"), body
    finally:
        member.close()
    status, body = api(broker, f"/api/groups/{group}/reset",
                       {"topic": topic_name, "to": "offset", "offset": 4})
    assert (status, body) == (200, {"topic": topic_name, "dry_run": False,
                                    "partitions": [{"partition": 0, "new_offset": 4}]})
    status, described = api(broker, f"/api/groups/{group}")
    assert status == 200
    assert [(o["committed_offset"], o["lag"]) for o in described["offsets"]] == [(4, 6)]


def test_bad_api_input_gets_a_4xx_json_error(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=1, replication_factor=replicas(broker))
    cases = [
        (f"/api/topics/{topic_name}/records", b"{not json", 400),
        (f"/api/topics/{topic_name}/records", {"value": "v", "surprise": 1}, 400),
        (f"/api/topics/{topic_name}/records", {"value": "v", "partition": -3}, 400),
        (f"/api/topics/{topic_name}/records", {"value": "x" * (2 * 1024 * 1024)}, 413),
        (f"/api/topics/{topic_name}/configs", {"name": "retention.ms", "value": "soon"}, 400),
        ("/api/groups/nobody-here/reset", {"topic": topic_name, "to": "sideways"}, 400),
        (f"/api/topics/{topic_name}/search?max_matches=0", None, 400),
        (f"/api/topics/{topic_name}/search?offset=1&timestamp=2", None, 400),
        (f"/api/topics/{topic_name}/search?json_value=1", None, 400),
        (f"/api/topics/{topic_name}-missing", None, 404),
        ("/api/topics/%ff", None, 400),
        (f"/api/topics/{topic_name}/tail?partition=7", None, 404),
        ("/api/no-such-endpoint", None, 404),
    ]
    for path, body, expected in cases:
        status, answer = api(broker, path, body)
        assert status == expected, (path, status, answer)
        assert answer.get("error"), (path, answer)


def open_stream(http: str, path: str):
    """An event stream of the console, or the HTTPError it was refused with."""
    try:
        return urllib.request.urlopen(f"http://{http}{path}", timeout=HTTP_TIMEOUT_S)
    except urllib.error.HTTPError as error:
        return error


def test_live_tails_are_bounded_and_freed_when_the_page_goes(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=1, replication_factor=replicas(broker))
    http = nodes(broker)[0].http
    path = f"/api/topics/{topic_name}/tail"
    tails = [open_stream(http, path) for _ in range(TAILS_MAX)]
    try:
        for t in tails:
            assert t.status == 200, t.read()
            assert t.readline() == b"event: ready\n"
        refused = open_stream(http, path)
        assert refused.status == 429
        assert "too many" in json.loads(refused.read())["error"]
    finally:
        for t in tails:
            t.close()
    # The server notices the closed connections at its next keep-alive and frees their slots.
    deadline = time.monotonic() + STREAM_FREED_S
    while True:
        again = open_stream(http, path)
        if again.status == 200:
            again.close()
            break
        assert again.status == 429 and time.monotonic() < deadline, \
            "closed tails still hold their slots"
        time.sleep(0.1)  # poll interval: the server's release of a slot has no event to await


def search(http: str, topic: str, query: str) -> tuple[list, dict]:
    """Runs a search through the API: its records and its `done` event."""
    records, event = [], None
    url = f"http://{http}/api/topics/{topic}/search?{query}"
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as stream:
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: ") and event == "record":
                records.append(json.loads(line[len("data: "):]))
            elif line.startswith("data: ") and event in ("done", "failure"):
                return records, {"event": event, **json.loads(line[len("data: "):])}
    raise AssertionError(f"the search of {query} ended without a done event")


def test_search_from_a_time_until_a_time_and_bounded_by_matches(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=1, replication_factor=replicas(broker))
    t0 = 1_700_000_000_000
    times = [t0 + i * 1000 for i in range(5)] + [t0 + 100_000 + i * 1000 for i in range(5)]
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    for i, ms in enumerate(times):
        producer.produce(topic_name, value=f"v{i}".encode(), timestamp=ms, partition=0)
    assert producer.flush(30) == 0
    http = nodes(broker)[0].http
    later, done = search(http, topic_name, f"timestamp={t0 + 100_000}")
    assert [r["offset"] for r in later] == [5, 6, 7, 8, 9]
    assert (done["event"], done["stopped"], done["scanned"]) == ("done", "end", 5)
    earlier, done = search(http, topic_name, f"timestamp={t0}&until={t0 + 4000}")
    assert [r["timestamp"] for r in earlier] == times[:5]
    assert done["stopped"] == "end"
    few, done = search(http, topic_name, "offset=0&max_matches=3&text=v")
    assert [r["value"]["text"] for r in few] == ["v0", "v1", "v2"]
    assert (done["stopped"], done["matched"]) == ("matches", 3)


def test_a_refused_search_shows_the_servers_error_on_the_page(broker, console, topic_name):
    console.open(f"/browse?topic={topic_name}-missing")
    console.find("#search-start").click()
    console.wait(lambda: "UNKNOWN_TOPIC_OR_PARTITION" in console.find("#status").text,
                 f"the page did not show the refusal: {console.find('#status').text!r}")
    assert console.find("#search-start").is_enabled()
    # The only error in the browser's log is the refused request itself.
    assert all("404" in e["message"] for e in console.errors())


def topic_bytes_out(broker, topic: str) -> float:
    """Record bytes the brokers have sent in Fetch responses for `topic` (consumers only)."""
    scrapes = [scrape(node.http) for node in nodes(broker)]
    return total(scrapes, "kafka_server_brokertopicmetrics_bytesout_total", f'{{topic="{topic}"}}')


def test_a_search_cancelled_from_the_page_stops_on_the_server(broker, console, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=1, replication_factor=replicas(broker))
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all",
                         "linger.ms": 50, "batch.size": 1_000_000})
    for i in range(BIG_RECORDS):
        producer.produce(topic_name, value=(f"{i:08d}" + "x" * BIG_VALUE_BYTES).encode(), partition=0)
    assert producer.flush(60) == 0
    topic_bytes = BIG_RECORDS * BIG_VALUE_BYTES
    before = topic_bytes_out(broker, topic_name)
    console.open(f"/browse?topic={topic_name}")
    console.fill("search-max-matches", "10000")
    console.fill("search-max-scanned", "10000000")
    console.fill("search-max-seconds", "120")
    # Start, keep the page busy while the server fills every buffer up to the page and waits
    # for it (the stream's back pressure), then cancel: the search must not read on.
    console.driver.execute_script(
        "document.getElementById('search-start').click();"
        f"const until = Date.now() + {SEARCH_BUSY_MS}; while (Date.now() < until) {{}}"
        "document.getElementById('search-cancel').click();")
    assert console.find("#search-progress").text.startswith("cancelled after")
    assert console.find("#search-progress").get_attribute("data-done") is None
    # The server notices the closed stream at its next write and stops fetching.
    deadline = time.monotonic() + STREAM_FREED_S
    read = topic_bytes_out(broker, topic_name)
    while True:
        time.sleep(SEARCH_SETTLE_S)  # the broker's counter has no event to await
        again = topic_bytes_out(broker, topic_name)
        if again == read:
            break
        assert time.monotonic() < deadline, "the cancelled search kept fetching"
        read = again
    assert 0 < read - before < topic_bytes / 2, (read - before, topic_bytes)
    assert console.errors() == []


def exported_text(console, button: str) -> str:
    """The text of the file the page offers when `button` is clicked (its Blob, caught as the
    page makes its object URL)."""
    return console.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const make = URL.createObjectURL;"
        "let blob = null;"
        "URL.createObjectURL = (b) => { blob = b; return make.call(URL, b); };"
        "try { document.getElementById(arguments[0]).click(); }"
        "finally { URL.createObjectURL = make; }"
        "blob ? blob.text().then(done) : done(null);", button)


def test_exported_search_results_are_the_records_found(broker, console, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2, replication_factor=replicas(broker))
    produce_records(broker.bootstrap, topic_name, 2, 10)
    console.open(f"/browse?topic={topic_name}")
    console.fill("search-text", "even")
    console.find("#search-start").click()
    console.wait(lambda: console.find("#search-progress").get_attribute("data-done") == "true",
                 "the search did not finish")
    shown = console.all("#search-results tbody tr")
    assert len(shown) == 5
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"{topic_name}-read",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic_name, p, 0) for p in range(2)])
        records = {}
        deadline = time.monotonic() + CONSUME_WAIT_S
        while len(records) < 10 and time.monotonic() < deadline:
            m = consumer.poll(0.5)
            if m is not None and m.error() is None:
                records[(m.partition(), m.offset())] = m
    finally:
        consumer.close()
    expected = [records[(int(r.get_attribute("data-partition")), int(r.get_attribute("data-offset")))]
                for r in shown]
    assert all(b'"even"' in m.value() for m in expected)

    as_json = json.loads(exported_text(console, "export-json"))
    assert as_json == [{"partition": m.partition(), "offset": m.offset(),
                        "timestamp": m.timestamp()[1], "key": m.key().decode(),
                        "value": m.value().decode(),
                        "headers": [{"key": k, "value": v.decode()} for k, v in m.headers()]}
                       for m in expected]

    rows = list(csv.reader(io.StringIO(exported_text(console, "export-csv"), newline="")))
    assert rows[0] == ["partition", "offset", "timestamp", "key", "value", "headers"]
    assert rows[1:] == [[str(m.partition()), str(m.offset()), str(m.timestamp()[1]),
                         m.key().decode(), m.value().decode(),
                         json.dumps([{"key": k, "value": v.decode()} for k, v in m.headers()],
                                    separators=(",", ":"))]
                        for m in expected]
    assert console.errors() == []


def committed(bootstrap: str, group: str, partitions: list[TopicPartition]) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        return [tp.offset for tp in consumer.committed(partitions, timeout=HTTP_TIMEOUT_S)]
    finally:
        consumer.close()


def test_the_reset_form_shows_a_dry_run_and_commits_on_execute(broker, console, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2, replication_factor=replicas(broker))
    produce_records(broker.bootstrap, topic_name, 2, 20)  # 10 a partition
    group = f"{topic_name}-g"
    partitions = [TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)]
    commit(broker.bootstrap, group, [TopicPartition(topic_name, 0, 2),
                                     TopicPartition(topic_name, 1, 9)])
    console.open(f"/groups/{group}")
    console.fill("reset-topic", topic_name)
    from selenium.webdriver.support.ui import Select
    Select(console.find("#reset-to")).select_by_value("offset")
    console.fill("reset-offset", "6")
    console.find("#reset-dry-run").click()
    console.wait(lambda: len(console.all("#reset-result tbody tr")) == 2, "no dry run shown")
    dry = {int(r.get_attribute("data-partition")): int(r.find_element("css selector", ".new-offset").text)
           for r in console.all("#reset-result tbody tr")}
    assert dry == {0: 6, 1: 6}
    assert committed(broker.bootstrap, group, partitions) == [2, 9]
    console.find("#reset-execute").click()
    console.wait(lambda: console.find("#status").text.startswith("reset:"),
                 f"the reset was not done: {console.find('#status').text!r}")
    assert committed(broker.bootstrap, group, partitions) == [6, 6]
    lags = {int(r.get_attribute("data-partition")): int(r.find_element("css selector", "td.lag").text)
            for r in console.all("#group-offsets tbody tr")}
    assert lags == {0: 4, 1: 4}
    assert console.errors() == []


def test_a_kip848_group_shows_its_member_and_the_lag_of_vltava_group_describe(
        broker, console, topic_name):
    partitions = 2
    create_topic(broker.bootstrap, topic_name, partitions=partitions,
                 replication_factor=replicas(broker))
    produce_records(broker.bootstrap, topic_name, partitions, RECORDS)
    group = f"{topic_name}-g"
    member = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                       "group.protocol": "consumer", "client.id": "kip848-member",
                       "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        member.subscribe([topic_name])
        deadline = time.monotonic() + CONSUME_WAIT_S
        consumed = {}  # partition → records consumed (and committed)
        while (len(member.assignment()) < partitions or len(consumed) < partitions
               or sum(consumed.values()) < COMMITTED) and time.monotonic() < deadline:
            m = member.poll(0.2)
            if m is not None and m.error() is None:
                consumed[m.partition()] = consumed.get(m.partition(), 0) + 1
                member.commit(message=m, asynchronous=False)
        assert len(member.assignment()) == partitions and len(consumed) == partitions
        consumed = sum(consumed.values())
        described = json.loads(subprocess.run(
            [str(VLTAVA_BIN), "group", "describe", group, "--json",
             "--bootstrap", nodes(broker)[0].bootstrap],
            capture_output=True, text=True, timeout=60, check=True).stdout)
        assert described["group_type"] == "consumer"
        assert [m["member_id"] for m in described["members"]] == [member.memberid()]
        expected = {(o["topic"], o["partition"]): o["lag"] for o in described["offsets"]}
        assert len(expected) == partitions
        assert sum(expected.values()) == RECORDS - consumed

        console.open(f"/groups/{group}")
        assert console.find("#group-type").text == "consumer"
        assert console.find("#group-state").text == "Stable"
        rows = [[td.text for td in r.find_elements("css selector", "td")]
                for r in console.all("#group-members tbody tr")]
        assignment = ", ".join(f"{topic_name}-{p}" for p in range(partitions))
        assert len(rows) == 1
        assert rows[0][0] == member.memberid() and rows[0][1] == "kip848-member"
        assert int(rows[0][3]) > 0 and rows[0][4] == assignment
        shown = {(r.get_attribute("data-topic"), int(r.get_attribute("data-partition"))):
                 int(r.find_element("css selector", "td.lag").text)
                 for r in console.all("#group-offsets tbody tr")}
        assert shown == expected
        listed = {g["group"]: g for g in api(broker, "/api/groups")[1]}
        assert listed[group]["group_type"] == "consumer"
    finally:
        member.close()
    assert console.errors() == []
