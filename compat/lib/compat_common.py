"""What every Python client of the compatibility matrix shares: its command line, the JSON line
it prints per scenario, a per-scenario time bound, and the expected data of the cross-client
scenarios. Client-specific code stays in compat/clients/<client>/.
"""

import argparse
import importlib.machinery
import importlib.util
import json
import struct
import sys
import threading
import time
import traceback
from pathlib import Path

SCENARIO_TIMEOUT_S = 60.0
COMPAT_DIR = Path(__file__).resolve().parent.parent
CODEC_RECORDS = 100
CODECS = ("gzip", "snappy", "lz4", "zstd")
MURMUR2_PARTITIONS = 12
INVALID_TOPIC_NAME = "bad name!"
VALUE_1MIB_BYTES = 1024 * 1024
TOPIC_MAX_MESSAGE_BYTES = 2 * 1024 * 1024


TOPIC_EVERYWHERE_TIMEOUT_S = 30.0
TOPIC_EVERYWHERE_POLL_S = 0.05
CONFIG_WAIT_S = 10.0
CONFIG_POLL_S = 0.1


def _node_class():
    """bench/cluster_measure.py's Node: one connection to one node, its own Metadata request."""
    path = COMPAT_DIR.parent / "bench" / "cluster_measure.py"
    loader = importlib.machinery.SourceFileLoader("cluster_measure", str(path))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("cluster_measure", loader))
    loader.exec_module(module)
    return module.Node


def wait_topic_everywhere(bootstrap: str, topic: str, partitions: int) -> None:
    """Waits until every node of `bootstrap` lists the topic with a leader for each partition.

    On a cluster a new topic reaches the other nodes' metadata a moment after the controller
    commits it (Kafka: a few hundred ms), and a client request sent to one of them in that moment
    gets UNKNOWN_TOPIC_OR_PARTITION; Kafka's own tests wait the same way (TestUtils.createTopic).
    Asked of each node on its own connection: a client library would pick the node itself."""
    node_class = _node_class()
    end = time.monotonic() + TOPIC_EVERYWHERE_TIMEOUT_S
    for address in bootstrap.split(","):
        node, seen = node_class(address), "nothing"
        try:
            while True:
                try:
                    leaders = node.metadata([topic])[1].get(topic)
                    if leaders is not None and len(leaders) == partitions and min(leaders) >= 0:
                        break
                    seen = f"leaders {leaders}"
                except (OSError, ValueError, struct.error) as error:
                    seen = f"{type(error).__name__}: {error}"
                if time.monotonic() >= end:
                    raise Fail(f"{topic}: {partitions} partitions with leaders not listed by "
                               f"{address} in {TOPIC_EVERYWHERE_TIMEOUT_S} s ({seen})")
                time.sleep(TOPIC_EVERYWHERE_POLL_S)
        finally:
            node.close()


def read_until(read, want: str) -> str:
    """Calls read() (one config's value) until it returns want, for at most CONFIG_WAIT_S, and
    returns the last value. Kafka applies a config change through its metadata log: on a cluster
    a describe straight after the alter, answered by another node, may still show the old value
    (compat.WaitConfig for the Go clients)."""
    end = time.monotonic() + CONFIG_WAIT_S
    value = read()
    while value != want and time.monotonic() < end:
        time.sleep(CONFIG_POLL_S)
        value = read()
    return value


class Skip(Exception):
    """Raised by a scenario the client library cannot run; the message says why."""


class Fail(Exception):
    """Raised by a scenario whose check failed; the message says what was seen."""


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bootstrap", required=True, help="HOST:PORT[,HOST:PORT...] of the broker(s) under test")
    parser.add_argument("--prefix", required=True, help="every topic and group created starts with it")
    parser.add_argument("--previous-prefix", help="prefix of the client run before this one")
    parser.add_argument("--only", help="comma-separated scenario ids to run (default: all)")
    return parser.parse_args()


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def emit(scenario: str, status: str, detail: str) -> None:
    line = {"scenario": scenario, "status": status, "detail": detail[:300]}
    print(json.dumps(line), flush=True)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Fail(message)


def scenario_table(namespace: dict) -> dict:
    """The scenarios a client module defines, in compat/scenarios.txt order: `scenario_<id>`
    functions, and the compression ids through its `codec_scenario(codec)`."""
    table = {}
    for line in (COMPAT_DIR / "scenarios.txt").read_text(encoding="utf-8").splitlines():
        scenario = line.split(maxsplit=1)[0] if line.strip() and not line.startswith("#") else None
        if scenario is None:
            continue
        if scenario.startswith("compression_") and "codec_scenario" in namespace:
            table[scenario] = namespace["codec_scenario"](scenario.removeprefix("compression_"))
        elif f"scenario_{scenario}" in namespace:
            table[scenario] = namespace[f"scenario_{scenario}"]
    return table


def run_scenarios(scenarios: dict, args: argparse.Namespace) -> int:
    """Runs each scenario function (taking args) in a daemon thread bounded by SCENARIO_TIMEOUT_S,
    so one hanging client call fails its scenario instead of stalling the whole column."""
    only = set(args.only.split(",")) if args.only else None
    for scenario, function in scenarios.items():
        if only is not None and scenario not in only:
            continue
        outcome: dict = {}

        def target(function=function, outcome=outcome) -> None:
            try:
                outcome["result"] = ("pass", function(args) or "ok")
            except Skip as skip:
                outcome["result"] = ("skip", str(skip))
            except Fail as failure:
                outcome["result"] = ("fail", str(failure))
            except Exception as error:  # any client error is this scenario's failure
                log(traceback.format_exc())
                outcome["result"] = ("fail", f"{type(error).__name__}: {error}")

        log(f"scenario {scenario}: start")
        started = time.monotonic()
        worker = threading.Thread(target=target, daemon=True, name=scenario)
        worker.start()
        worker.join(SCENARIO_TIMEOUT_S)
        status, detail = outcome.get("result", ("fail", f"timed out after {SCENARIO_TIMEOUT_S:.0f} s"))
        log(f"scenario {scenario}: {status} in {time.monotonic() - started:.1f} s: {detail}")
        emit(scenario, status, detail)
    return 0


def murmur2_expected() -> dict:
    with open(COMPAT_DIR / "expected" / "murmur2-12.json", encoding="utf-8") as file:
        return json.load(file)


def codec_topic(prefix: str, codec: str) -> str:
    return f"{prefix}-codec-{codec}"


def codec_expected() -> list:
    """The (key, value) pairs every client writes to its codec topics, in offset order."""
    return [(f"k{i}".encode(), f"v{i}".encode()) for i in range(CODEC_RECORDS)]


def compare_codec_records(seen: list, where: str) -> None:
    expected = codec_expected()
    check(len(seen) == len(expected), f"{where}: {len(seen)} of {len(expected)} records")
    for index, (got, want) in enumerate(zip(seen, expected)):
        check(got == want, f"{where}: record {index} is {got!r}, want {want!r}")


def deadline(seconds: float) -> float:
    return time.monotonic() + seconds


def before(limit: float) -> bool:
    return time.monotonic() < limit
