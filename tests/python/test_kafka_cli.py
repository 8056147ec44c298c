"""Kafka's own command-line tools, command by command, against vltava and Apache Kafka 4.4.0.

Each test runs the same tool invocation (the Java main classes of the kafka-tools 4.4.0 jar that
`bin/kafka-*.sh` would run) against both brokers in the same test and compares what the tool
prints, apart from ids, hosts, ports, paths and timestamps. Both brokers are always started,
whatever VLTAVA_TEST_BROKER says; the session broker of that kind is reused (so a run against
Kafka starts no second Kafka) and the other kind is started privately for this module.

Guards against: an admin API missing or answering differently from Kafka (kafka-topics create
with configs, describe, alter --partitions up and down, list, delete; kafka-configs describe
--all, alter --add-config / --delete-config, invalid names, the broker entity and the broker
default, dynamic broker configs added and deleted, read-only ones refused; kafka-consumer-
groups list, describe, --state, reset-offsets --to-earliest --execute, delete; kafka-delete-
records and kafka-get-offsets showing the new low watermark; kafka-log-dirs), and error texts
that are not Kafka's.

A test does not stop at the first difference: every command runs, and the failure lists each
differing command with both outputs, so one run shows all that is left to fix.
"""

import difflib
import itertools
import json
import os
import re
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer

from conftest import BROKER_KIND, KAFKA_REFERENCE, KafkaBroker, VltavaBroker
from helpers import ADMIN_TIMEOUT_S, admin, create_topic, wait_for_leaders

pytestmark = pytest.mark.single_node(
    "starts its own single vltava node and Kafka node to compare, whatever "
    "VLTAVA_TEST_BROKER says: the single-node run covers it")

TOOL_TIMEOUT_S = 120.0
FETCH_TIMEOUT_S = 900.0  # the first `kafka-reference classpath` downloads the jars
CONSUME_TIMEOUT_S = 60.0
POLL_S = 0.1

TOPICS = "org.apache.kafka.tools.TopicCommand"                            # kafka-topics
CONFIGS = "org.apache.kafka.tools.ConfigCommand"                          # kafka-configs
GROUPS = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"     # kafka-consumer-groups
DELETE_RECORDS = "org.apache.kafka.tools.DeleteRecordsCommand"            # kafka-delete-records
GET_OFFSETS = "org.apache.kafka.tools.GetOffsetShell"                     # kafka-get-offsets
LOG_DIRS = "org.apache.kafka.tools.LogDirsCommand"                        # kafka-log-dirs
QUORUM = "org.apache.kafka.tools.MetadataQuorumCommand"                   # kafka-metadata-quorum

# A small heap and the C1 compiler only: each tool runs for a second or two, and the machine
# may be busy. Logging at ERROR to stderr keeps stdout to what the tool prints for a person.
JAVA_OPTS = ["-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djava.awt.headless=true"]
LOG4J2 = """\
status = error
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = ERROR
rootLogger.appenderRef.err.ref = STDERR
"""

# Documented exceptions: where vltava is meant to differ from Kafka, or where Kafka's answer
# comes from how its cluster was bootstrapped rather than from the command.
#
# Kafka 4.x (KIP-966, eligible leader replicas on by default) makes the KRaft controller write a
# cluster-wide dynamic default `min.insync.replicas=1` when the cluster is formatted. Every
# topic then shows it as a non-default config (kafka-topics --describe: `Configs:
# min.insync.replicas=1,...`) with the synonym DYNAMIC_DEFAULT_BROKER_CONFIG. vltava has no
# cluster-level dynamic configs and reports the same value as DEFAULT_CONFIG. The value agrees,
# so it is removed from both sides before comparing.
CLUSTER_BOOTSTRAP_CONFIGS = {"min.insync.replicas": "1"}
# Broker configs whose value vltava reports differently on purpose: vltava's own settings are
# described as STATIC_BROKER_CONFIG (docs/configuration.md). name -> (Kafka's, vltava's).
BROKER_VALUE_EXCEPTIONS = {
    # vltava's --log-retention-ms (default 7 days) is Kafka's log.retention.ms; Kafka leaves it
    # null and takes the same 7 days from log.retention.hours=168.
    "log.retention.ms": ("null", "604800000"),
}
# Broker configs whose values are compared (the names of all of them are compared).
WELL_KNOWN_BROKER_CONFIGS = [
    "node.id", "broker.id", "advertised.listeners", "num.partitions",
    "auto.create.topics.enable", "default.replication.factor", "min.insync.replicas",
    "message.max.bytes", "log.segment.bytes", "log.retention.hours", "log.retention.ms",
    "log.retention.bytes", "log.cleanup.policy", "compression.type",
    "offsets.topic.num.partitions", "group.initial.rebalance.delay.ms",
    "group.consumer.heartbeat.interval.ms", "delete.topic.enable",
]

_names = itertools.count()
PREFIX = f"cli{os.getpid()}-{time.monotonic_ns() % 1_000_000}"


def unique(kind: str) -> str:
    """A name for this module's topics and groups; the same on both brokers."""
    return f"{PREFIX}-{kind}-{next(_names)}"


# ----------------------------------------------------------------------------- running tools

@dataclass
class Run:
    broker: str          # "kafka" or "vltava"
    bootstrap: str
    command: str         # as a person would type it, with the broker's address
    rc: int
    stdout: str
    stderr: str

    def missing_api(self) -> str | None:
        match = re.search(r"The node does not support (\w+)", self.stdout + self.stderr)
        return match.group(1) if match else None


class Tools:
    """Runs one Kafka tool against both brokers, in parallel, each bounded by a timeout."""

    def __init__(self, brokers: dict, classpath: str, work_dir: Path):
        self.brokers = brokers
        self.classpath = classpath
        self.work_dir = work_dir
        self.log4j = work_dir / "tools-log4j2.properties"
        self.log4j.write_text(LOG4J2)
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kafka-tool")

    def file(self, name: str, text: str) -> str:
        path = self.work_dir / name
        path.write_text(text)
        return str(path)

    def _run(self, kind: str, tool: str, args: list[str]) -> Run:
        bootstrap = self.brokers[kind].bootstrap
        argv = ["java", *JAVA_OPTS, f"-Dlog4j2.configurationFile={self.log4j}",
                "-cp", self.classpath, tool, "--bootstrap-server", bootstrap, *args]
        shown = " ".join([tool.rsplit(".", 1)[1], "--bootstrap-server", bootstrap, *args])
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S,
                                    stdin=subprocess.DEVNULL, cwd=self.work_dir)
        except subprocess.TimeoutExpired as error:  # run() has killed the JVM
            def text(output) -> str:
                return output.decode(errors="replace") if isinstance(output, bytes) else output or ""
            return Run(kind, bootstrap, shown, -1, text(error.stdout),
                       f"(killed after {TOOL_TIMEOUT_S}s)\n{text(error.stderr)}")
        return Run(kind, bootstrap, shown, result.returncode, result.stdout, result.stderr)

    def run(self, tool: str, *args: str) -> dict[str, Run]:
        futures = {kind: self.pool.submit(self._run, kind, tool, list(args))
                   for kind in ("kafka", "vltava")}
        return {kind: future.result(timeout=TOOL_TIMEOUT_S + 30) for kind, future in futures.items()}

    def close(self) -> None:
        self.pool.shutdown(wait=True)


class Differences:
    """Differences between Kafka's and vltava's outputs, reported together at the end."""

    def __init__(self):
        self.found: list[str] = []

    def compare(self, step: str, runs: dict[str, Run], normalise=None, expect=None) -> dict:
        """Compare exit code, stdout and stderr's messages after normalisation.

        `expect(kafka_normalised)` checks that Kafka's own answer is what the test means to
        look at; if Kafka does not satisfy it, the test itself is wrong and fails at once.
        Returns the normalised outputs by broker kind.
        """
        norm = {kind: normalised(run, normalise) for kind, run in runs.items()}
        if expect is not None and not expect(norm["kafka"]):
            pytest.fail(f"[{step}] Kafka's own output is not what this test expects:\n"
                        f"{describe_run(runs['kafka'])}")
        if norm["kafka"] != norm["vltava"]:
            self.add(step, runs, norm)
        return norm

    def add(self, step: str, runs: dict[str, Run], norm: dict | None = None,
            detail: str | None = None, raw: bool = True) -> None:
        text = [f"[{step}] vltava differs from Kafka"]
        missing = runs["vltava"].missing_api()
        if missing and not runs["kafka"].missing_api():
            text.append(f"  (vltava does not offer the API {missing})")
        if detail:
            text.append(detail)
        if norm is not None:
            diff = difflib.unified_diff(
                render(norm["kafka"]).splitlines(), render(norm["vltava"]).splitlines(),
                "kafka (normalised)", "vltava (normalised)", lineterm="", n=2)
            text.append("  diff:\n" + "\n".join(f"    {line}" for line in diff))
        if raw:
            text.append(describe_run(runs["kafka"]))
            text.append(describe_run(runs["vltava"]))
        else:
            text += [f"  {run.broker}: $ {run.command}  (exit code {run.rc})"
                     for run in runs.values()]
        self.found.append("\n".join(text))

    def assert_none(self) -> None:
        if self.found:
            raise AssertionError(f"{len(self.found)} command(s) differ between Kafka 4.4.0 and "
                                 f"vltava:\n\n" + "\n\n".join(self.found))


def describe_run(run: Run, limit: int = 6000) -> str:
    def block(text: str) -> str:
        text = text.rstrip()
        if len(text) > limit:
            text = text[:limit] + f"\n... ({len(text) - limit} more characters)"
        return "\n".join(f"      | {line}" for line in text.splitlines()) or "      | (empty)"
    stderr = "\n".join(line for line in run.stderr.splitlines() if not STACK_FRAME.match(line))
    return (f"  {run.broker}: $ {run.command}\n    exit code {run.rc}\n"
            f"    stdout:\n{block(run.stdout)}\n    stderr (stack frames left out):\n{block(stderr)}")


def render(norm: dict) -> str:
    parts = [f"exit code {norm['rc']}", "stdout:", *norm["stdout"]]
    if norm["stderr"]:
        parts += ["stderr:", *norm["stderr"]]
    return "\n".join(str(p) for p in parts)


# ----------------------------------------------------------------------------- normalisation

STACK_FRAME = re.compile(r"^\s+(at |\.\.\. \d+ more)")
LOG_TIMESTAMP = re.compile(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] ")
TOPIC_ID = re.compile(r"TopicId: \S+")
MEMBER_ID = re.compile(r"\b(consumer|rdkafka)-[\w.-]*-[0-9a-f]{8}-[0-9a-f-]{27}\b")
CLIENT_HOST = re.compile(r"/\d{1,3}(\.\d{1,3}){3}\b")
HOST_PORT = re.compile(r"\b\d{1,3}(\.\d{1,3}){3}:\d+\b")


def clean_line(line: str, run: Run) -> str:
    line = line.replace(run.bootstrap, "<bootstrap>")
    line = LOG_TIMESTAMP.sub("", line)
    line = TOPIC_ID.sub("TopicId: <id>", line)
    line = MEMBER_ID.sub("<member-id>", line)
    line = CLIENT_HOST.sub("/<host>", line)
    line = HOST_PORT.sub("<host:port>", line)
    # Column widths follow the longest cell (ids, hosts): compare cells, not alignment.
    return re.sub(r"[ \t]+", " ", line).strip()


def clean_lines(text: str, run: Run) -> list[str]:
    lines = [clean_line(line, run) for line in text.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def normalised(run: Run, normalise=None) -> dict:
    stdout = clean_lines(run.stdout, run)
    messages = "\n".join(line for line in run.stderr.splitlines() if not STACK_FRAME.match(line))
    stderr = [line for line in clean_lines(messages, run) if line]
    if normalise is not None:
        stdout = normalise(stdout)
    return {"rc": run.rc, "stdout": stdout, "stderr": stderr}


def sorted_rows(header_lines: int = 0):
    """Rows whose order is not meaningful (broker answer order), after a fixed header."""
    def normalise(lines: list[str]) -> list[str]:
        body = [line for line in lines[header_lines:] if line]
        return lines[:header_lines] + sorted(body)
    return normalise


def only_lines_with(word: str):
    """For listings of a broker that other tests share: only this module's names, sorted."""
    def normalise(lines: list[str]) -> list[str]:
        return sorted(line for line in lines if word in line)
    return normalise


def without_bootstrap_configs(lines: list[str]) -> list[str]:
    """kafka-topics --describe: sort `Configs:` and drop the cluster bootstrap defaults."""
    out = []
    for line in lines:
        match = re.match(r"^(.*Configs: ?)(.*)$", line)
        if match:
            entries = [e for e in re.split(r",(?=[\w.]+=)", match.group(2)) if e]
            entries = sorted(e for e in entries
                             if e not in {f"{k}={v}" for k, v in CLUSTER_BOOTSTRAP_CONFIGS.items()})
            line = match.group(1) + ",".join(entries)
        out.append(line)
    return out


CONFIG_LINE = re.compile(r"^(?P<name>[\w.-]+)=(?P<value>.*) sensitive=(?P<sensitive>\w+) "
                         r"synonyms=\{(?P<synonyms>.*)\}$")


def parse_configs(lines: list[str]) -> tuple[list[str], dict]:
    """kafka-configs --describe: (header lines, {name: (value, sensitive, synonyms)})."""
    headers, entries = [], {}
    for line in lines:
        match = CONFIG_LINE.match(line)
        if not match:
            headers.append(line)
            continue
        synonyms = [s for s in re.split(r", (?=[A-Z_]+:)", match.group("synonyms")) if s]
        name = match.group("name")
        if CLUSTER_BOOTSTRAP_CONFIGS.get(name) == match.group("value"):
            synonyms = [s for s in synonyms if not s.startswith(
                f"DYNAMIC_DEFAULT_BROKER_CONFIG:{name}=")]
        entries[name] = (match.group("value"), match.group("sensitive"), synonyms)
    return headers, entries


def render_configs(lines: list[str]) -> list[str]:
    headers, entries = parse_configs(lines)
    return headers + [f"{name}={value} sensitive={sensitive} synonyms={{{', '.join(synonyms)}}}"
                      for name, (value, sensitive, synonyms) in sorted(entries.items())]


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def tools(request, tmp_path_factory):
    """Both brokers (the session one of VLTAVA_TEST_BROKER's kind, the other private)."""
    brokers, private = {}, []
    base = tmp_path_factory.mktemp("kafka-cli")
    try:
        for kind, cls in (("vltava", VltavaBroker), ("kafka", KafkaBroker)):
            if kind == BROKER_KIND:
                brokers[kind] = request.getfixturevalue("broker")
            else:
                data_dir = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=base))
                brokers[kind] = cls(data_dir, auto_create_topics=True, num_partitions=1,
                                    retention_check_interval_ms=None)
                private.append(brokers[kind])
        result = subprocess.run([str(KAFKA_REFERENCE), "classpath"], capture_output=True,
                                text=True, timeout=FETCH_TIMEOUT_S, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            pytest.fail(f"kafka-reference classpath failed:\n{result.stdout}\n{result.stderr}")
        t = Tools(brokers, result.stdout.strip().splitlines()[-1], base)
        yield t
        t.close()
    finally:
        for b in private:
            b.stop()


@pytest.fixture
def differences():
    return Differences()


def on_both(tools: Tools, action, *args, **kwargs) -> None:
    """A client-side step (setup with confluent-kafka) on both brokers, in parallel."""
    futures = [tools.pool.submit(action, b.bootstrap, *args, **kwargs)
               for b in tools.brokers.values()]
    for future in futures:
        future.result(timeout=TOOL_TIMEOUT_S)


def produce(bootstrap: str, topic: str, per_partition: dict[int, int]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for partition, count in per_partition.items():
        for i in range(count):
            producer.produce(topic, key=f"k{i}".encode(), value=f"v{partition}-{i}".encode(),
                             partition=partition)
    assert producer.flush(ADMIN_TIMEOUT_S) == 0, "records not delivered"


def wait_topic_gone(bootstrap: str, topic: str, timeout_s: float = ADMIN_TIMEOUT_S) -> None:
    client = admin(bootstrap)
    deadline = time.monotonic() + timeout_s
    while topic in client.list_topics(timeout=10).topics:
        if time.monotonic() > deadline:
            raise AssertionError(f"topic {topic} still listed {timeout_s}s after its deletion")
        time.sleep(POLL_S)  # poll interval


def consume_all_and_commit(bootstrap: str, topic: str, group: str, total: int) -> None:
    """A subscribed consumer reads every record, commits synchronously and leaves."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.subscribe([topic])
        seen = 0
        deadline = time.monotonic() + CONSUME_TIMEOUT_S
        while seen < total:
            if time.monotonic() > deadline:
                raise AssertionError(f"read {seen} of {total} records in {CONSUME_TIMEOUT_S}s")
            message = consumer.poll(1.0)
            if message is None:
                continue
            if message.error() is not None:
                raise KafkaException(message.error())
            seen += 1
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()


def broker_id(bootstrap: str) -> str:
    ids = sorted(admin(bootstrap).list_topics(timeout=10).brokers)
    assert len(ids) == 1, ids
    return str(ids[0])


# ----------------------------------------------------------------------------- tests

def test_kafka_topics_create_describe_alter_list_delete_match_kafka(tools, differences):
    topic = unique("topics")
    d = differences

    runs = tools.run(TOPICS, "--create", "--topic", topic, "--partitions", "3",
                     "--config", "retention.ms=86400000", "--config", "max.message.bytes=500000")
    d.compare("kafka-topics --create --config", runs,
              expect=lambda n: n["stdout"] == [f"Created topic {topic}."])
    if runs["vltava"].rc == 0:
        wait_for_leaders(tools.brokers["vltava"].bootstrap, topic, 3)
    wait_for_leaders(tools.brokers["kafka"].bootstrap, topic, 3)

    d.compare("kafka-topics --describe", tools.run(TOPICS, "--describe", "--topic", topic),
              without_bootstrap_configs,
              expect=lambda n: "PartitionCount: 3" in n["stdout"][0]
              and "retention.ms=86400000" in n["stdout"][0] and len(n["stdout"]) == 4)

    runs = tools.run(TOPICS, "--alter", "--topic", topic, "--partitions", "6")
    d.compare("kafka-topics --alter --partitions 6", runs, expect=lambda n: n["rc"] == 0)
    for kind, b in tools.brokers.items():
        if runs[kind].rc == 0:
            wait_for_leaders(b.bootstrap, topic, 6)

    d.compare("kafka-topics --describe (after --alter --partitions 6)",
              tools.run(TOPICS, "--describe", "--topic", topic), without_bootstrap_configs,
              expect=lambda n: "PartitionCount: 6" in n["stdout"][0] and len(n["stdout"]) == 7)

    # Partitions only grow: INVALID_PARTITIONS, worded as Kafka words it.
    d.compare("kafka-topics --alter --partitions 2 (shrink refused)",
              tools.run(TOPICS, "--alter", "--topic", topic, "--partitions", "2"),
              expect=lambda n: n["rc"] == 1 and "would not be an increase" in "\n".join(n["stdout"]))

    listing = f"{re.escape(topic)}.*"
    d.compare("kafka-topics --list", tools.run(TOPICS, "--list", "--topic", listing),
              expect=lambda n: n["stdout"] == [topic])

    runs = tools.run(TOPICS, "--delete", "--topic", topic)
    d.compare("kafka-topics --delete", runs, expect=lambda n: n["rc"] == 0)
    for kind, b in tools.brokers.items():
        if runs[kind].rc == 0:
            wait_topic_gone(b.bootstrap, topic)

    d.compare("kafka-topics --list (after --delete)",
              tools.run(TOPICS, "--list", "--topic", listing), expect=lambda n: n["stdout"] == [])
    d.assert_none()


def compare_config_entries(d: Differences, step: str, runs: dict, value_exceptions: dict,
                           compare_values_of=None, compare_synonyms=True) -> dict:
    """kafka-configs --describe --all: names, values, sensitivity (and synonyms) by name."""
    parsed = {kind: parse_configs(clean_lines(run.stdout, run)) for kind, run in runs.items()}
    (k_headers, kafka), (v_headers, vltava) = parsed["kafka"], parsed["vltava"]
    if runs["kafka"].rc != 0 or len(kafka) < 30:
        pytest.fail(f"[{step}] Kafka's own output is not what this test expects:\n"
                    f"{describe_run(runs['kafka'])}")
    problems = []
    if runs["vltava"].rc != 0 or k_headers != v_headers:
        problems.append(f"  exit code / header: Kafka {runs['kafka'].rc} {k_headers}, "
                        f"vltava {runs['vltava'].rc} {v_headers}")
    only_kafka, only_vltava = sorted(set(kafka) - set(vltava)), sorted(set(vltava) - set(kafka))
    if only_kafka:
        problems.append(f"  configs only Kafka describes ({len(only_kafka)}): {only_kafka}")
    if only_vltava:
        problems.append(f"  configs only vltava describes ({len(only_vltava)}): {only_vltava}")
    names = sorted(set(kafka) & set(vltava))
    if compare_values_of is not None:
        names = [n for n in compare_values_of if n in kafka and n in vltava]
    for name in names:
        (k_value, k_sensitive, k_synonyms), (v_value, v_sensitive, v_synonyms) = kafka[name], vltava[name]
        if name in value_exceptions:
            if (k_value, v_value) != value_exceptions[name]:
                problems.append(f"  {name}: documented exception expects Kafka/vltava values "
                                f"{value_exceptions[name]}, got ({k_value!r}, {v_value!r})")
        elif k_value != v_value:
            problems.append(f"  {name}: value Kafka {k_value!r}, vltava {v_value!r}")
        if k_sensitive != v_sensitive:
            problems.append(f"  {name}: sensitive Kafka {k_sensitive}, vltava {v_sensitive}")
        if compare_synonyms and k_synonyms != v_synonyms:
            problems.append(f"  {name}: synonyms Kafka {{{', '.join(k_synonyms)}}}, "
                            f"vltava {{{', '.join(v_synonyms)}}}")
    if problems:
        d.add(step, runs, detail="\n".join(problems), raw=False)
    return {"kafka": kafka, "vltava": vltava}


def test_kafka_configs_describe_alter_delete_and_broker_entity_match_kafka(tools, differences):
    topic = unique("configs")
    d = differences
    on_both(tools, create_topic, topic, partitions=1,
            config={"retention.ms": "86400000", "cleanup.policy": "compact"})
    entity = ["--entity-type", "topics", "--entity-name", topic]

    # Every topic config with its value, sensitivity and synonyms (the sources).
    compare_config_entries(d, "kafka-configs --describe --all (topic)",
                           tools.run(CONFIGS, "--describe", "--all", *entity), value_exceptions={})

    d.compare("kafka-configs --alter --add-config",
              tools.run(CONFIGS, "--alter", *entity,
                        "--add-config", "retention.ms=3600000,max.message.bytes=2000000"),
              expect=lambda n: n["stdout"] == [f"Completed updating config for topic {topic}."])
    d.compare("kafka-configs --describe (after --add-config)",
              tools.run(CONFIGS, "--describe", *entity), render_configs,
              expect=lambda n: "retention.ms=3600000" in "\n".join(n["stdout"])
              and "max.message.bytes=2000000" in "\n".join(n["stdout"]))

    d.compare("kafka-configs --alter --delete-config",
              tools.run(CONFIGS, "--alter", *entity, "--delete-config", "retention.ms"),
              expect=lambda n: n["stdout"] == [f"Completed updating config for topic {topic}."])
    # The default is back: retention.ms is described with Kafka's default and source.
    runs = tools.run(CONFIGS, "--describe", "--all", *entity)
    entries = compare_config_entries(
        d, "kafka-configs --describe --all (topic, after --delete-config)", runs,
        value_exceptions={}, compare_values_of=["retention.ms", "max.message.bytes", "cleanup.policy"])
    assert entries["kafka"]["retention.ms"][0] == "604800000", entries["kafka"]["retention.ms"]

    d.compare("kafka-configs --alter --add-config (unknown name refused)",
              tools.run(CONFIGS, "--alter", *entity, "--add-config", "no.such.config=1"),
              expect=lambda n: n["rc"] == 1
              and any("Unknown topic config name: no.such.config" in line for line in n["stderr"]))

    ids = {kind: broker_id(b.bootstrap) for kind, b in tools.brokers.items()}
    assert ids["kafka"] == ids["vltava"], ids
    broker = ["--entity-type", "brokers", "--entity-name", ids["kafka"]]
    d.compare("kafka-configs --describe (broker entity, dynamic configs)",
              tools.run(CONFIGS, "--describe", *broker), render_configs,
              expect=lambda n: n["stdout"][:1] == [f"Dynamic configs for broker {ids['kafka']} are:"])
    compare_config_entries(d, "kafka-configs --describe --all (broker entity)",
                           tools.run(CONFIGS, "--describe", "--all", *broker),
                           value_exceptions=BROKER_VALUE_EXCEPTIONS,
                           compare_values_of=WELL_KNOWN_BROKER_CONFIGS, compare_synonyms=False)
    d.assert_none()


def without_bootstrap_entries(lines: list[str]) -> list[str]:
    """kafka-configs --describe of the broker default: render_configs without the configs that
    `kafka-storage format` sets there on Kafka (vltava has no such step)."""
    return [line for line in render_configs(lines)
            if not any(line.startswith(f"{name}={value} ")
                       for name, value in CLUSTER_BOOTSTRAP_CONFIGS.items())]


def test_kafka_configs_alter_the_broker_entity_and_the_broker_default_match_kafka(tools,
                                                                                differences):
    d = differences
    ids = {kind: broker_id(b.bootstrap) for kind, b in tools.brokers.items()}
    assert ids["kafka"] == ids["vltava"], ids
    broker = ["--entity-type", "brokers", "--entity-name", ids["kafka"]]
    default = ["--entity-type", "brokers", "--entity-default"]
    # Configs that neither broker sets statically, so that their synonyms compare exactly; the
    # brokers are shared with other tests, so both are deleted again whatever happens.
    per_broker, cluster = "log.cleaner.delete.retention.ms", "log.cleaner.min.compaction.lag.ms"
    updated_broker = [f"Completed updating config for broker {ids['kafka']}."]
    updated_default = ["Completed updating default config for brokers in the cluster."]
    try:
        d.compare("kafka-configs --alter --add-config (broker entity)",
                  tools.run(CONFIGS, "--alter", *broker, "--add-config", f"{per_broker}=3600000"),
                  expect=lambda n: n["stdout"] == updated_broker)
        d.compare("kafka-configs --alter --add-config (broker default)",
                  tools.run(CONFIGS, "--alter", *default, "--add-config", f"{cluster}=1000"),
                  expect=lambda n: n["stdout"] == updated_default)
        d.compare("kafka-configs --describe (broker entity, after --add-config)",
                  tools.run(CONFIGS, "--describe", *broker), render_configs,
                  expect=lambda n: any(line.startswith(f"{per_broker}=3600000 ")
                                       for line in n["stdout"]))
        d.compare("kafka-configs --describe (broker default, after --add-config)",
                  tools.run(CONFIGS, "--describe", *default), without_bootstrap_entries,
                  expect=lambda n: any(line.startswith(f"{cluster}=1000 ") for line in n["stdout"]))
        d.compare("kafka-configs --alter --add-config (read-only broker config refused)",
                  tools.run(CONFIGS, "--alter", *broker, "--add-config", "num.partitions=3"),
                  expect=lambda n: n["rc"] == 1 and any(
                      "Cannot update these configs dynamically: [num.partitions]" in line
                      for line in n["stderr"]))
        d.compare("kafka-configs --alter --delete-config (broker entity)",
                  tools.run(CONFIGS, "--alter", *broker, "--delete-config", per_broker),
                  expect=lambda n: n["stdout"] == updated_broker)
        d.compare("kafka-configs --alter --delete-config (broker default)",
                  tools.run(CONFIGS, "--alter", *default, "--delete-config", cluster),
                  expect=lambda n: n["stdout"] == updated_default)
        d.compare("kafka-configs --describe (broker entity, after --delete-config)",
                  tools.run(CONFIGS, "--describe", *broker), render_configs,
                  expect=lambda n: n["stdout"] == [f"Dynamic configs for broker {ids['kafka']} are:"])
    finally:
        # Undo on both (an error for a config already deleted is expected and ignored).
        tools.run(CONFIGS, "--alter", *broker, "--delete-config", per_broker)
        tools.run(CONFIGS, "--alter", *default, "--delete-config", cluster)
    d.assert_none()


def test_kafka_consumer_groups_list_describe_reset_delete_match_kafka(tools, differences):
    topic, group = unique("groups"), unique("group")
    d = differences
    on_both(tools, create_topic, topic, partitions=2)
    on_both(tools, produce, topic, {0: 5, 1: 5})
    on_both(tools, consume_all_and_commit, topic, group, 10)

    d.compare("kafka-consumer-groups --list", tools.run(GROUPS, "--list"), only_lines_with(PREFIX),
              expect=lambda n: n["stdout"] == [group])

    describe = ("--describe", "--group", group)
    header = 1  # the column titles ("... has no active members." goes to stderr)
    d.compare("kafka-consumer-groups --describe", tools.run(GROUPS, *describe), sorted_rows(header),
              expect=lambda n: n["stdout"][header:] == [
                  f"{group} {topic} 0 5 5 0 - - -", f"{group} {topic} 1 5 5 0 - - -"])
    d.compare("kafka-consumer-groups --describe --state",
              tools.run(GROUPS, *describe, "--state"),
              expect=lambda n: any(" Empty 0" in line for line in n["stdout"]))

    d.compare("kafka-consumer-groups --reset-offsets --to-earliest --execute",
              tools.run(GROUPS, "--reset-offsets", "--to-earliest", "--execute",
                        "--topic", topic, "--group", group), sorted_rows(1),
              expect=lambda n: n["stdout"][1:] == [f"{group} {topic} 0 0", f"{group} {topic} 1 0"])
    d.compare("kafka-consumer-groups --describe (after --reset-offsets)",
              tools.run(GROUPS, *describe), sorted_rows(header),
              expect=lambda n: n["stdout"][header:] == [
                  f"{group} {topic} 0 0 5 5 - - -", f"{group} {topic} 1 0 5 5 - - -"])

    d.compare("kafka-consumer-groups --delete", tools.run(GROUPS, "--delete", "--group", group),
              expect=lambda n: n["stdout"] == [
                  f"Deletion of requested consumer groups ('{group}') was successful."])
    d.compare("kafka-consumer-groups --list (after --delete)", tools.run(GROUPS, "--list"),
              only_lines_with(PREFIX), expect=lambda n: n["stdout"] == [])
    d.compare("kafka-consumer-groups --describe (after --delete)", tools.run(GROUPS, *describe),
              expect=lambda n: any(f"Group {group} not found." in line for line in n["stdout"]))
    d.assert_none()


def test_kafka_delete_records_moves_the_low_watermark_shown_by_kafka_get_offsets(tools, differences):
    topic = unique("records")
    d = differences
    on_both(tools, create_topic, topic, partitions=2)
    on_both(tools, produce, topic, {0: 5, 1: 5})
    offsets = tools.file(f"{topic}.json", json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "offset": 3},
        {"topic": topic, "partition": 1, "offset": 2}]}))

    d.compare("kafka-delete-records --offset-json-file",
              tools.run(DELETE_RECORDS, "--offset-json-file", offsets), sorted_rows(2),
              expect=lambda n: n["stdout"][2:] == [f"partition: {topic}-0 low_watermark: 3",
                                                   f"partition: {topic}-1 low_watermark: 2"])
    d.compare("kafka-get-offsets --time earliest",
              tools.run(GET_OFFSETS, "--topic", topic, "--time", "earliest"), sorted_rows(),
              expect=lambda n: n["stdout"] == [f"{topic}:0:3", f"{topic}:1:2"])
    d.compare("kafka-get-offsets --time latest",
              tools.run(GET_OFFSETS, "--topic", topic, "--time", "latest"), sorted_rows(),
              expect=lambda n: n["stdout"] == [f"{topic}:0:5", f"{topic}:1:5"])
    d.assert_none()


def log_dirs_summary(run: Run) -> dict:
    """kafka-log-dirs --describe: the text lines, and the JSON without sizes and paths."""
    lines = clean_lines(run.stdout, run)
    json_lines = [line for line in lines if line.startswith("{")]
    summary = {"rc": run.rc, "text": [line for line in lines if not line.startswith("{")]}
    if len(json_lines) != 1:
        summary["json"] = None
        return summary
    answer = json.loads(json_lines[0])
    summary["json"] = {
        "version": answer.get("version"),
        "brokers": [{
            "broker": broker.get("broker"),
            "logDirs": [{
                "error": log_dir.get("error"),
                "partitions": sorted((p["partition"], p.get("offsetLag"), p.get("isFuture"))
                                     for p in log_dir.get("partitions", [])),
            } for log_dir in broker.get("logDirs", [])],
        } for broker in answer.get("brokers", [])],
    }
    return summary


def test_kafka_log_dirs_describes_the_same_partitions(tools, differences):
    one, three = unique("logdirs"), unique("logdirs")
    d = differences
    on_both(tools, create_topic, one, partitions=1)
    on_both(tools, create_topic, three, partitions=3)
    on_both(tools, produce, three, {0: 3, 2: 1})

    runs = tools.run(LOG_DIRS, "--describe", "--topic-list", f"{one},{three}")
    summary = {kind: log_dirs_summary(run) for kind, run in runs.items()}
    expected = sorted([(f"{one}-0", 0, False)] + [(f"{three}-{p}", 0, False) for p in range(3)])
    kafka = summary["kafka"]["json"]
    if (summary["kafka"]["rc"] != 0 or kafka is None
            or kafka["brokers"][0]["logDirs"][0]["partitions"] != expected):
        pytest.fail(f"Kafka's own kafka-log-dirs output is not what this test expects:\n"
                    f"{describe_run(runs['kafka'])}")
    if summary["kafka"] != summary["vltava"]:
        d.add("kafka-log-dirs --describe --topic-list", runs, detail=(
            f"  Kafka (without sizes, paths):  {json.dumps(summary['kafka'])}\n"
            f"  vltava (without sizes, paths): {json.dumps(summary['vltava'])}"))
    d.assert_none()


# The values of the metadata log itself (its offsets, ids, when it was last heard from) differ
# between any two clusters; what is compared is the shape and the quorum's state.
QUORUM_VALUES = [
    (re.compile(r"^(ClusterId|HighWatermark|LeaderEpoch):.*"), r"\1: <value>"),
    # A quorum of one that nobody dials has no controller endpoint to list (vltava's default).
    (re.compile(r', "endpoints": \[[^]]*\]'), ""),
]


def quorum_status_lines(lines: list[str]) -> list[str]:
    for pattern, replacement in QUORUM_VALUES:
        lines = [pattern.sub(replacement, line) for line in lines]
    return lines


def quorum_replication_rows(lines: list[str]) -> list[str]:
    """NodeId, Lag and Status per row; offsets and timestamps are the cluster's own."""
    header, *rows = lines
    kept = []
    for row in rows:
        cells = row.split(" ")
        kept.append(" ".join([cells[0], cells[3], cells[-1]]) if len(cells) == 7 else row)
    return [header, *kept]


def test_kafka_metadata_quorum_describes_a_quorum_of_one(tools, differences):
    d = differences
    d.compare("kafka-metadata-quorum describe --status", tools.run(QUORUM, "describe", "--status"),
              quorum_status_lines,
              expect=lambda n: n["rc"] == 0 and "LeaderId: 1" in n["stdout"]
              and "MaxFollowerLag: 0" in n["stdout"])
    d.compare("kafka-metadata-quorum describe --replication",
              tools.run(QUORUM, "describe", "--replication"), quorum_replication_rows,
              expect=lambda n: n["rc"] == 0 and n["stdout"][1:] == ["1 0 Leader"])
    d.assert_none()
