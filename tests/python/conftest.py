"""Broker fixtures for the real-client suite.

`VLTAVA_TEST_BROKER=vltava|kafka` (default vltava) picks what the tests talk to:

- vltava: `${VLTAVA_BIN:-target/release/vltava} serve --listen 127.0.0.1:0 --data-dir TMP`,
  whose stdout announces `listening on 127.0.0.1:<port>`.
- kafka: Apache Kafka started by `scripts/kafka-reference` on a free loopback port.

Fixtures:
- `broker`: one shared broker per session (auto-create on, 1 partition by default).
- `broker_factory`: private brokers with options (`auto_create_topics`, `num_partitions`),
  for tests that kill, restart or reconfigure a broker; stopped at the end of the test.

A broker offers `bootstrap`, `kind`, `kill9()`, `stop()` and `restart()` (same data dir,
same port, so clients keep their bootstrap address).
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

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_REFERENCE = REPO_ROOT / "scripts" / "kafka-reference"
BROKER_KIND = os.environ.get("VLTAVA_TEST_BROKER", "vltava")
VLTAVA_BIN = Path(os.environ.get("VLTAVA_BIN", REPO_ROOT / "target" / "release" / "vltava"))
VLTAVA_READY_TIMEOUT_S = 20.0
VLTAVA_STOP_TIMEOUT_S = 20.0
KAFKA_COMMAND_TIMEOUT_S = 180.0
LISTENING_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+)")

if BROKER_KIND not in ("vltava", "kafka"):
    raise pytest.UsageError(f"VLTAVA_TEST_BROKER must be vltava or kafka, not {BROKER_KIND!r}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class VltavaBroker:
    """A vltava process; restart() reuses the data dir and the port."""

    kind = "vltava"

    def __init__(self, data_dir: Path, auto_create_topics: bool, num_partitions: int,
                 retention_check_interval_ms: int | None):
        self.data_dir = data_dir
        self.log_path = data_dir.parent / f"{data_dir.name}.log"
        self.options = [
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
        ]
        self.port = 0
        self.process = None
        self._start()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _start(self) -> None:
        if not VLTAVA_BIN.exists():
            pytest.fail(f"{VLTAVA_BIN} not found: build it (cargo build --release) or set VLTAVA_BIN")
        command = [str(VLTAVA_BIN), "serve", "--listen", f"127.0.0.1:{self.port}",
                   "--data-dir", str(self.data_dir), *self.options]
        log = open(self.log_path, "ab")
        log.write(f"$ {' '.join(command)}\n".encode())
        log.flush()
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log,
                                        # not the repo root: a vltava.toml there would apply
                                        stdin=subprocess.DEVNULL, cwd=self.data_dir.parent)
        ports: queue.Queue = queue.Queue()

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
        try:
            port = ports.get(timeout=VLTAVA_READY_TIMEOUT_S)
        except queue.Empty:
            port = None
        if port is None:
            self.process.kill()
            self.process.wait(timeout=VLTAVA_STOP_TIMEOUT_S)
            tail = self.log_path.read_text(errors="replace")[-3000:]
            pytest.fail(f"vltava did not announce 'listening on' within "
                        f"{VLTAVA_READY_TIMEOUT_S}s; log {self.log_path}:\n{tail}")
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


class KafkaBroker:
    """Apache Kafka via scripts/kafka-reference; restart() reuses the dir and the port."""

    kind = "kafka"

    def __init__(self, data_dir: Path, auto_create_topics: bool, num_partitions: int,
                 retention_check_interval_ms: int | None):
        self.data_dir = data_dir
        self.port = free_port()
        extra = []
        if retention_check_interval_ms is not None:
            extra = ["--set", f"log.retention.check.interval.ms={retention_check_interval_ms}"]
        self._run("start", "--dir", str(data_dir), "--port", str(self.port),
                  "--set", f"auto.create.topics.enable={'true' if auto_create_topics else 'false'}",
                  "--set", f"num.partitions={num_partitions}", *extra)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self, *args: str) -> None:
        result = subprocess.run([str(KAFKA_REFERENCE), *args], capture_output=True, text=True,
                                timeout=KAFKA_COMMAND_TIMEOUT_S, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            pytest.fail(f"kafka-reference {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")

    def alive(self) -> bool:
        pid_file = self.data_dir / "kafka.pid"
        if not pid_file.exists():
            return False
        try:
            os.kill(int(pid_file.read_text()), 0)
            return True
        except ProcessLookupError:
            return False

    def kill9(self) -> None:
        self._run("stop", "--dir", str(self.data_dir), "--kill9")

    def stop(self) -> None:
        self._run("stop", "--dir", str(self.data_dir))

    def restart(self) -> None:
        self.stop()
        self._run("start", "--dir", str(self.data_dir))


def start_broker(base_dir: Path, auto_create_topics: bool = True, num_partitions: int = 1,
                 retention_check_interval_ms: int | None = None):
    """A broker of the kind under test; retention_check_interval_ms sets Kafka's
    log.retention.check.interval.ms (its default is 5 minutes, vltava's 30 s)."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"{BROKER_KIND}-", dir=base_dir))
    cls = VltavaBroker if BROKER_KIND == "vltava" else KafkaBroker
    return cls(data_dir, auto_create_topics=auto_create_topics, num_partitions=num_partitions,
               retention_check_interval_ms=retention_check_interval_ms)


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


@pytest.fixture(autouse=True)
def _skip_vltava_only(request):
    if request.node.get_closest_marker("vltava_only") and BROKER_KIND != "vltava":
        pytest.skip("vltava-only test")


def pytest_configure(config):
    if BROKER_KIND == "vltava" and not VLTAVA_BIN.exists():
        raise pytest.UsageError(f"{VLTAVA_BIN} not found: build it (cargo build --release), set "
                                f"VLTAVA_BIN, or run against Kafka with VLTAVA_TEST_BROKER=kafka")


def pytest_report_header(config):
    target = VLTAVA_BIN if BROKER_KIND == "vltava" else KAFKA_REFERENCE
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
