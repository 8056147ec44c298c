"""Broker fixtures for the real-client suite.

`VLTAVA_TEST_BROKER=vltava|vltava-cluster|kafka|kafka-cluster` (default vltava) picks what the
tests talk to:

- vltava: `${VLTAVA_BIN:-target/release/vltava} serve --listen 127.0.0.1:0 --data-dir TMP`,
  whose stdout announces `listening on 127.0.0.1:<port>`.
- vltava-cluster: three such nodes, node N on 127.0.0.N, each a controller quorum voter;
  clients bootstrap from all three. Tests marked `single_node(reason)` are skipped.
- kafka: Apache Kafka started by `scripts/kafka-reference` on a free loopback port.
- kafka-cluster: three Apache Kafka nodes in combined KRaft mode started by
  `scripts/kafka-cluster`, node N on 127.0.0.N, with the kafka broker's settings; clients
  bootstrap from all three. As with vltava-cluster, `single_node` tests are skipped.

Tests marked `vltava_only` are skipped against Kafka (kafka and kafka-cluster).

Fixtures:
- `broker`: one shared broker per session (auto-create on, 1 partition by default).
- `broker_factory`: private brokers with options (`auto_create_topics`, `num_partitions`,
  `settings`: other Kafka broker configs, which vltava takes as the flags of the same names),
  for tests that kill, restart or reconfigure a broker; stopped at the end of the test.

A vltava broker (and each vltava cluster node) also offers `http`, the HOST:PORT of its admin
HTTP listener (/metrics, /health, /ready).

A broker offers `bootstrap`, `port`, `kind`, `data_dir`, `alive()`, `kill9()`, `stop()` and
`restart()` (same data dir, same port, so clients keep their bootstrap address); a cluster's act
on all its `nodes` (each with its own `bootstrap`, and the same five methods acting on that node
alone), and its `port` is node 1's.
"""

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from kafka.protocol.metadata.metadata import MetadataRequest

import kafka_wire

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_REFERENCE = REPO_ROOT / "scripts" / "kafka-reference"
KAFKA_CLUSTER = REPO_ROOT / "scripts" / "kafka-cluster"
BROKER_KIND = os.environ.get("VLTAVA_TEST_BROKER", "vltava")
VLTAVA_BIN = Path(os.environ.get("VLTAVA_BIN", REPO_ROOT / "target" / "release" / "vltava"))
VLTAVA_READY_TIMEOUT_S = 20.0
VLTAVA_STOP_TIMEOUT_S = 20.0
KAFKA_COMMAND_TIMEOUT_S = 180.0
KAFKA_CLUSTER_READY_S = 90      # scripts/kafka-cluster's own wait until every node lists 3 brokers
KAFKA_FETCH_TIMEOUT_S = 900     # a first start downloads the jars
KAFKA_CLUSTER_STOP_S = 120      # kafka-reference stop: 30 s TERM, then 30 s after KILL
LISTENING_RE = re.compile(r"listening on (?:127\.0\.0\.\d+|0\.0\.0\.0):(\d+)")
CLUSTER_NODES = 3  # node N on 127.0.0.N, each a controller quorum voter
CLUSTER_READY_TIMEOUT_S = 30.0

if BROKER_KIND not in ("vltava", "vltava-cluster", "kafka", "kafka-cluster"):
    raise pytest.UsageError(f"VLTAVA_TEST_BROKER must be vltava, vltava-cluster, kafka or "
                            f"kafka-cluster, not {BROKER_KIND!r}")
IS_VLTAVA = BROKER_KIND.startswith("vltava")
IS_CLUSTER = BROKER_KIND.endswith("-cluster")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class VltavaBroker:
    """A vltava process; restart() reuses the data dir and the port."""

    kind = "vltava"

    def __init__(self, data_dir: Path, auto_create_topics: bool, num_partitions: int,
                 retention_check_interval_ms: int | None, host: str = "127.0.0.1",
                 cluster_options: tuple = (), start: bool = True, listeners: str | None = None,
                 settings: dict | None = None):
        self.data_dir = data_dir
        # Kafka's listeners (NAME://HOST:PORT,...) instead of --listen: the first is announced
        # as "listening on" and is the bootstrap; every port is fixed, so restart() keeps them.
        self.listeners = listeners
        self.host = host
        self.log_path = data_dir.parent / f"{data_dir.name}.log"
        self.options = [*cluster_options,
            "--auto-create-topics", "true" if auto_create_topics else "false",
            "--num-partitions", str(num_partitions),
            *(["--log-retention-check-interval-ms", str(retention_check_interval_ms)]
              if retention_check_interval_ms is not None else []),
            # Kafka's default delays the first rebalance of a new group by 3 s; the Kafka
            # reference runs with 0 too (scripts/kafka-reference).
            "--group-initial-rebalance-delay-ms", "0",
            # KIP-848 members learn of a new assignment on their next heartbeat; Kafka's
            # default 5 s interval would make every rebalance test slow.
            "--group-consumer-heartbeat-interval-ms", "500",
            *vltava_flags(settings),
        ]
        # The admin HTTP listener (/metrics, /health, /ready) on a port fixed for the broker's
        # life, so restart() keeps it; never the default 9644, which tests would share.
        self.http_port = free_port(host)
        self.options += ["--http-listen", f"{host}:{self.http_port}"]
        self.port = 0
        self.process = None
        self._ports = None
        if start:
            self._start()

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def http(self) -> str:
        """HOST:PORT of the admin HTTP listener."""
        return f"{self.host}:{self.http_port}"

    def _start(self) -> None:
        self.launch()
        self.await_listening()

    def launch(self) -> None:
        """Starts the process; await_listening() then waits for its "listening on" line."""
        if not VLTAVA_BIN.exists():
            pytest.fail(f"{VLTAVA_BIN} not found: build it (cargo build --release) or set VLTAVA_BIN")
        listen = (["--listeners", self.listeners] if self.listeners
                  else ["--listen", f"{self.host}:{self.port}"])
        command = [str(VLTAVA_BIN), "serve", *listen,
                   "--data-dir", str(self.data_dir), *self.options]
        log = open(self.log_path, "ab")
        log.write(f"$ {' '.join(command)}\n".encode())
        log.flush()
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log,
                                        # not the repo root: a vltava.toml there would apply
                                        stdin=subprocess.DEVNULL, cwd=self.data_dir.parent)
        ports: queue.Queue = queue.Queue()
        self._ports = ports

        def pump() -> None:
            # Reads stdout line by line for the whole life of the process: reports the port
            # once, and keeps draining so the broker never blocks on a full pipe.
            reported = False
            for raw in self.process.stdout:
                log.write(raw)
                log.flush()
                match = LISTENING_RE.search(raw.decode(errors="replace"))
                if match and not reported:
                    ports.put(int(match.group(1)))
                    reported = True
            ports.put(None)
            log.close()

        threading.Thread(target=pump, daemon=True, name="vltava-stdout").start()

    def await_listening(self, timeout_s: float = VLTAVA_READY_TIMEOUT_S) -> None:
        try:
            port = self._ports.get(timeout=timeout_s)
        except queue.Empty:
            port = None
        if port is None:
            self.process.kill()
            self.process.wait(timeout=VLTAVA_STOP_TIMEOUT_S)
            tail = self.log_path.read_text(errors="replace")[-3000:]
            pytest.fail(f"vltava did not announce 'listening on' within "
                        f"{timeout_s}s; log {self.log_path}:\n{tail}")
        self.port = port

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=VLTAVA_STOP_TIMEOUT_S)

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=VLTAVA_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=VLTAVA_STOP_TIMEOUT_S)
                pytest.fail(f"vltava ignored SIGTERM for {VLTAVA_STOP_TIMEOUT_S}s")

    def restart(self) -> None:
        self.stop()
        self._start()


class Cluster:
    """What the two clusters share: clients bootstrap from all the nodes (each with bootstrap,
    port and alive()), node 1 first."""

    nodes: list

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    @property
    def port(self) -> int:
        """Node 1's client port (on 127.0.0.1), for tests that open a socket themselves."""
        return self.nodes[0].port

    def alive(self) -> bool:
        return bool(self.nodes) and all(node.alive() for node in self.nodes)


class VltavaCluster(Cluster):
    """CLUSTER_NODES vltava nodes (node N on 127.0.0.N, each a broker and a controller quorum
    voter, as Kafka's combined mode) with the single node's options; clients bootstrap from all
    of them. restart() and kill9() act on every node; each keeps its data dir and ports."""

    kind = "vltava-cluster"

    def __init__(self, data_dir: Path, auto_create_topics: bool, num_partitions: int,
                 retention_check_interval_ms: int | None, settings: dict | None = None):
        self.data_dir = data_dir
        hosts = [f"127.0.0.{n}" for n in range(1, CLUSTER_NODES + 1)]
        controllers = [f"{host}:{free_port(host)}" for host in hosts]
        voters = ",".join(f"{n}@{address}" for n, address in enumerate(controllers, 1))
        self.nodes = []
        for n, (host, controller) in enumerate(zip(hosts, controllers), 1):
            node_dir = data_dir / f"node-{n}"
            node_dir.mkdir()
            self.nodes.append(VltavaBroker(
                node_dir, auto_create_topics, num_partitions, retention_check_interval_ms,
                host=host, start=False, settings=settings, cluster_options=(
                    "--node-id", str(n), "--controller-listen", controller,
                    "--controller-quorum-voters", voters)))
        self._start()

    def _start(self) -> None:
        # All at once: a node listens for clients only once a majority of the voters runs.
        try:
            for node in self.nodes:
                node.launch()
            for node in self.nodes:
                node.await_listening(CLUSTER_READY_TIMEOUT_S)
            self._await_all_brokers()
        except BaseException:
            self.kill9()  # no node of a cluster that failed to start outlives it
            raise

    def _await_all_brokers(self) -> None:
        """Until Metadata from every node lists every node as a broker."""
        deadline = time.monotonic() + CLUSTER_READY_TIMEOUT_S
        seen = {}
        for node in self.nodes:
            while True:
                with kafka_wire.Connection(node.bootstrap, client_id="conftest") as conn:
                    answer = conn.send(MetadataRequest, 1, {"topics": []})
                seen[node.bootstrap] = sorted(b["node_id"] for b in answer["brokers"])
                if seen[node.bootstrap] == list(range(1, CLUSTER_NODES + 1)):
                    break
                if time.monotonic() > deadline:
                    pytest.fail(f"vltava cluster: not every node lists {CLUSTER_NODES} brokers "
                                f"after {CLUSTER_READY_TIMEOUT_S}s: {seen}")
                time.sleep(0.1)  # poll interval: registrations have no event a client can await

    def kill9(self) -> None:
        for node in self.nodes:
            node.kill9()

    def stop(self) -> None:
        # SIGTERM to all at once: the last voters would otherwise wait for a quorum that is gone.
        running = [node for node in self.nodes if node.alive()]
        for node in running:
            node.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + VLTAVA_STOP_TIMEOUT_S
        stuck = []
        for node in running:
            try:
                node.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                stuck.append(node.bootstrap)
                node.kill9()
        if stuck:
            pytest.fail(f"vltava nodes {stuck} ignored SIGTERM for {VLTAVA_STOP_TIMEOUT_S}s")

    def restart(self) -> None:
        self.stop()
        self._start()


def vltava_flags(settings: dict | None) -> list[str]:
    """Kafka broker configs as vltava's flags of the same names (dots become dashes)."""
    return [arg for name, value in (settings or {}).items()
            for arg in (f"--{name.replace('.', '-')}", str(value))]


def kafka_settings(auto_create_topics: bool, num_partitions: int,
                   retention_check_interval_ms: int | None,
                   extra: dict | None = None) -> list[str]:
    """The `--set key=value` options of scripts/kafka-reference and scripts/kafka-cluster for a
    broker with these options (the rest, group.initial.rebalance.delay.ms=0 and the KIP-848
    heartbeat interval of 500 ms included, is their base server.properties)."""
    settings = [f"auto.create.topics.enable={'true' if auto_create_topics else 'false'}",
                f"num.partitions={num_partitions}"]
    if retention_check_interval_ms is not None:
        settings.append(f"log.retention.check.interval.ms={retention_check_interval_ms}")
    settings += [f"{name}={value}" for name, value in (extra or {}).items()]
    return [arg for setting in settings for arg in ("--set", setting)]


def kafka_alive(data_dir: Path) -> bool:
    """Whether the Kafka JVM that scripts/kafka-reference started on data_dir runs."""
    pid_file = data_dir / "kafka.pid"
    if not pid_file.exists():
        return False
    try:
        os.kill(int(pid_file.read_text()), 0)
        return True
    except (ProcessLookupError, ValueError):
        return False


class KafkaBroker:
    """Apache Kafka via scripts/kafka-reference; restart() reuses the dir and the port."""

    kind = "kafka"

    def __init__(self, data_dir: Path, auto_create_topics: bool, num_partitions: int,
                 retention_check_interval_ms: int | None, settings: dict | None = None):
        self.data_dir = data_dir
        self.port = free_port()
        self._run("start", "--dir", str(data_dir), "--port", str(self.port),
                  *kafka_settings(auto_create_topics, num_partitions, retention_check_interval_ms,
                                  settings))

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self, *args: str) -> None:
        result = subprocess.run([str(KAFKA_REFERENCE), *args], capture_output=True, text=True,
                                timeout=KAFKA_COMMAND_TIMEOUT_S, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            pytest.fail(f"kafka-reference {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")

    def alive(self) -> bool:
        return kafka_alive(self.data_dir)

    def kill9(self) -> None:
        self._run("stop", "--dir", str(self.data_dir), "--kill9")

    def stop(self) -> None:
        self._run("stop", "--dir", str(self.data_dir))

    def restart(self) -> None:
        self.stop()
        self._run("start", "--dir", str(self.data_dir))


class KafkaNode:
    """One node of a KafkaCluster: its client address and its dir (DIR/nodeN). kill9(), stop()
    and restart() act on this node alone (scripts/kafka-reference on DIR/nodeN); restart() keeps
    its dir and ports, and returns once the node answers Metadata."""

    kind = "kafka"

    def __init__(self, node_id: int, address: str, data_dir: Path, env: dict | None = None):
        self.node_id = node_id
        self.host, port = address.rsplit(":", 1)
        self.port = int(port)
        self.data_dir = data_dir
        self._env = env

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def alive(self) -> bool:
        return kafka_alive(self.data_dir)

    def _run(self, command: str, *flags: str) -> None:
        result = subprocess.run([str(KAFKA_REFERENCE), command, "--dir", str(self.data_dir), *flags],
                                capture_output=True, text=True, timeout=KAFKA_COMMAND_TIMEOUT_S,
                                stdin=subprocess.DEVNULL, env=self._env)
        if result.returncode != 0:
            pytest.fail(f"kafka-reference {command} on node {self.node_id} failed:\n"
                        f"{result.stdout}\n{result.stderr}")

    def kill9(self) -> None:
        self._run("stop", "--kill9")

    def stop(self) -> None:
        self._run("stop")

    def restart(self) -> None:
        self.stop()
        self._run("start")


class KafkaCluster(Cluster):
    """CLUSTER_NODES Apache Kafka nodes in combined KRaft mode (each a broker and a controller
    quorum voter) via scripts/kafka-cluster, node N on 127.0.0.N, with KafkaBroker's settings;
    clients bootstrap from all of them. restart() and kill9() act on every node; each keeps its
    dir and ports. A start that fails stops whatever it started; max_lifetime_s bounds each
    JVM's life (kafka-reference's watchdog) should nothing stop it."""

    kind = "kafka-cluster"

    def __init__(self, data_dir: Path, auto_create_topics: bool = True, num_partitions: int = 1,
                 retention_check_interval_ms: int | None = None,
                 max_lifetime_s: int | None = None, settings: dict | None = None):
        self.data_dir = data_dir
        self.nodes: list[KafkaNode] = []
        self._env = dict(os.environ)
        if max_lifetime_s is not None:
            self._env["VLTAVA_KAFKA_MAX_SECONDS"] = str(max_lifetime_s)
        self._start(*kafka_settings(auto_create_topics, num_partitions,
                                    retention_check_interval_ms, settings))

    def _start(self, *settings: str) -> None:
        """scripts/kafka-cluster start: formats the dir with the settings the first time, waits
        until every node's Metadata lists CLUSTER_NODES brokers, and prints one line per node:
        ID PID HOST:PORT."""
        timeout_s = KAFKA_FETCH_TIMEOUT_S + KAFKA_CLUSTER_READY_S
        try:
            result = subprocess.run(
                [str(KAFKA_CLUSTER), "start", "--dir", str(self.data_dir),
                 "--timeout", str(KAFKA_CLUSTER_READY_S), *settings],
                capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL,
                env=self._env)
            if result.returncode != 0:
                pytest.fail(f"scripts/kafka-cluster start failed:\n{result.stdout}\n"
                            f"{result.stderr}")
        except subprocess.TimeoutExpired:
            self._stop("--kill9")
            pytest.fail(f"scripts/kafka-cluster start did not return in {timeout_s}s "
                        f"(logs: {self.data_dir}/node*/kafka.log)")
        except BaseException:
            # A start cut short (failed, or Ctrl-C while the JVMs come up: the fixture never
            # got the cluster to stop) leaves no node running.
            self._stop("--kill9")
            raise
        by_id = {int(n): address for n, _pid, address in
                 (line.split() for line in result.stdout.splitlines()
                  if re.fullmatch(r"\d+ \d+ \S+:\d+", line.strip()))}
        self.nodes = [KafkaNode(n, by_id[n], self.data_dir / f"node{n}", self._env)
                      for n in range(1, CLUSTER_NODES + 1)]

    def _stop(self, *flags: str) -> bool:
        """scripts/kafka-cluster stop (every node whose pid file says it runs, whether start
        succeeded or not); whether no node runs afterwards."""
        try:
            subprocess.run([str(KAFKA_CLUSTER), "stop", "--dir", str(self.data_dir), *flags],
                           capture_output=True, text=True, timeout=KAFKA_CLUSTER_STOP_S,
                           stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            pass
        return not any(kafka_alive(self.data_dir / f"node{n}")
                       for n in range(1, CLUSTER_NODES + 1))

    def kill9(self) -> None:
        if not self._stop("--kill9"):
            pytest.fail(f"Kafka cluster on {self.data_dir} survived SIGKILL")

    def stop(self) -> None:
        # SIGTERM to all at once (the script): the last voters would otherwise wait for a
        # quorum that is gone. SIGKILL to whatever still runs after that.
        if not self._stop():
            self.kill9()
            pytest.fail(f"Kafka cluster on {self.data_dir} did not stop on SIGTERM")

    def restart(self) -> None:
        self.stop()
        self._start()


def start_broker(base_dir: Path, auto_create_topics: bool = True, num_partitions: int = 1,
                 retention_check_interval_ms: int | None = None, settings: dict | None = None):
    """A broker of the kind under test; retention_check_interval_ms sets Kafka's
    log.retention.check.interval.ms (its default is 5 minutes, vltava's 30 s); `settings` are
    other Kafka broker configs (vltava takes each as the flag of the same name)."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"{BROKER_KIND}-", dir=base_dir))
    cls = {"vltava": VltavaBroker, "vltava-cluster": VltavaCluster, "kafka": KafkaBroker,
           "kafka-cluster": KafkaCluster}[BROKER_KIND]
    return cls(data_dir, auto_create_topics=auto_create_topics, num_partitions=num_partitions,
               retention_check_interval_ms=retention_check_interval_ms, settings=settings)


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    b = start_broker(tmp_path_factory.mktemp("broker"))
    yield b
    b.stop()


@pytest.fixture
def broker_factory(tmp_path):
    started = []

    def make(**options):
        b = start_broker(tmp_path, **options)
        started.append(b)
        return b

    yield make
    for b in started:
        b.stop()


def pytest_collection_modifyitems(config, items):
    # At collection, so that a skipped test sets up no fixture (a module's brokers included).
    for item in items:
        if item.get_closest_marker("vltava_only") and not IS_VLTAVA:
            item.add_marker(pytest.mark.skip(reason="vltava-only test"))
        single_node = item.get_closest_marker("single_node")
        if single_node and IS_CLUSTER:
            item.add_marker(pytest.mark.skip(reason=f"single node only: {single_node.args[0]}"))


def pytest_configure(config):
    if IS_VLTAVA and not VLTAVA_BIN.exists():
        raise pytest.UsageError(f"{VLTAVA_BIN} not found: build it (cargo build --release), set "
                                f"VLTAVA_BIN, or run against Kafka with VLTAVA_TEST_BROKER=kafka")


def pytest_report_header(config):
    target = VLTAVA_BIN if IS_VLTAVA else KAFKA_CLUSTER if IS_CLUSTER else KAFKA_REFERENCE
    return f"broker under test: {BROKER_KIND} ({target})"


@pytest.fixture
def topic_name(request):
    """A topic name unique to the test, so tests sharing the session broker never collide."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", request.node.name)[:150]
    return f"{safe}-{os.getpid()}-{time.monotonic_ns() % 1_000_000}"


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not installed (scripts/test installs it)")
    return path
