"""kcat (Debian's, built on librdkafka 2.0.2) lists metadata, produces keyed records and
consumes them back.

Guards against: responses that only new clients parse. Old librdkafka versions mis-skip
non-empty tagged fields in ApiVersions v3 responses and fail to negotiate at all.
"""

import subprocess

from conftest import require_binary
from helpers import create_topic

KCAT_TIMEOUT_S = 60
LINES = [f"key-{i}:value {i}" for i in range(50)] + ["emptyvalue:", "k:v:with:colons"]


def kcat(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run([require_binary("kcat"), *args], input=stdin, capture_output=True,
                            text=True, timeout=KCAT_TIMEOUT_S)
    assert result.returncode == 0, f"kcat {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
    return result.stdout


def test_kcat_lists_metadata(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=3)
    out = kcat("-b", broker.bootstrap, "-L", "-t", topic_name)
    assert f'topic "{topic_name}" with 3 partitions' in out, out
    for address in broker.bootstrap.split(","):
        assert f"at {address}" in out, out


def test_kcat_produces_and_consumes_keyed_records(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    kcat("-b", broker.bootstrap, "-P", "-t", topic_name, "-p", "0", "-K:", stdin="\n".join(LINES) + "\n")
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic_name, "-p", "0", "-e", "-o", "beginning",
               "-f", "%o|%k|%s\n")
    expected = [f"{offset}|{line.split(':', 1)[0]}|{line.split(':', 1)[1]}" for offset, line in enumerate(LINES)]
    assert out.splitlines() == expected
