"""Kafka 4.4's own command line tools (the Java main classes `bin/kafka-*.sh` would run), from
the jars `scripts/kafka-reference classpath` downloads, for tests that drive a broker with them."""

import subprocess

import pytest

from conftest import KAFKA_REFERENCE

TOOL_TIMEOUT_S = 120.0
FETCH_TIMEOUT_S = 900.0  # the first `kafka-reference classpath` downloads the jars


@pytest.fixture(scope="module")
def kafka_classpath() -> str:
    result = subprocess.run([str(KAFKA_REFERENCE), "classpath"], capture_output=True, text=True,
                            timeout=FETCH_TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"kafka-reference classpath failed: {result.stderr}"
    return result.stdout.strip().splitlines()[-1]


def kafka_tool(classpath: str, main_class: str, bootstrap: str, *args: str) -> str:
    """One of Kafka 4.4's command line tools (org.apache.kafka.tools.<main_class>); its stdout."""
    result = subprocess.run(
        ["java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", classpath,
         f"org.apache.kafka.tools.{main_class}", "--bootstrap-server", bootstrap, *args],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{main_class} {args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def kafka_configs(classpath: str, bootstrap: str, *args: str) -> str:
    """Kafka 4.4's kafka-configs."""
    return kafka_tool(classpath, "ConfigCommand", bootstrap, *args)
