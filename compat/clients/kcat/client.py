"""The compatibility scenarios with kcat (Debian's kcat 1.7, librdkafka 2.0.2): each scenario
runs the kcat command line a person would. kcat has no admin API, so topics are created with
compat/lib/create-topic and the admin scenarios are skipped.
"""

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lib"))

from compat_common import (  # noqa: E402
    CODECS, COMPAT_DIR, MURMUR2_PARTITIONS, TOPIC_MAX_MESSAGE_BYTES,
    VALUE_1MIB_BYTES, Fail, Skip, before, check, codec_expected, codec_topic, compare_codec_records,
    deadline, log, murmur2_expected, parse_args, run_scenarios)

KCAT_TIMEOUT_S = 40
NO_ADMIN = "kcat has no admin API"


def kcat(args, *options, stdin: bytes | None = None, ok: bool = True) -> subprocess.CompletedProcess:
    command = ["kcat", "-b", args.bootstrap, *options]
    result = subprocess.run(command, input=stdin, capture_output=True, timeout=KCAT_TIMEOUT_S, check=False)
    if ok and result.returncode != 0:
        raise Fail(f"kcat {' '.join(map(str, options))[:80]} exited {result.returncode}: "
                   f"{result.stderr.decode(errors='replace')[-200:]}")
    return result


def create_topic(args, topic: str, partitions: int = 1, config: dict | None = None) -> None:
    command = [sys.executable, str(COMPAT_DIR / "lib" / "create-topic"), "--bootstrap", args.bootstrap,
               "--topic", topic, "--partitions", str(partitions)]
    for key, value in (config or {}).items():
        command += ["--config", f"{key}={value}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    check(result.returncode == 0, f"create-topic {topic}: {result.stderr.strip()[-200:]}")


def produce(args, topic: str, lines: list, *options) -> None:
    """Produces one message per line ("key:value" with -K:), acks=all, waiting for delivery."""
    result = kcat(args, "-P", "-t", topic, "-X", "acks=all", *options, stdin=b"\n".join(lines) + b"\n")
    check(b"Delivery failed" not in result.stderr, result.stderr.decode(errors="replace")[-200:])


def consume_json(args, topic: str, *options) -> list:
    """Every message of the topic from the beginning (all partitions), as kcat's JSON envelopes."""
    result = kcat(args, "-C", "-t", topic, "-o", "beginning", "-e", "-J", *options)
    return [json.loads(line) for line in result.stdout.decode().splitlines() if line.strip()]


def scenario_metadata(args):
    topic = f"{args.prefix}-metadata"
    create_topic(args, topic, 3)
    meta = json.loads(kcat(args, "-L", "-J").stdout)
    check(len(meta["brokers"]) >= 1, "no brokers listed")
    topics = {t["topic"]: t for t in meta["topics"]}
    check(topic in topics, f"{topic} not listed")
    check(len(topics[topic]["partitions"]) == 3, f"{len(topics[topic]['partitions'])} partitions, want 3")
    return f"{len(meta['brokers'])} broker(s), {topic} with 3 partitions"


def scenario_produce_consume(args):
    topic = f"{args.prefix}-produce-consume"
    create_topic(args, topic, 3)
    produce(args, topic, [f"key-{i % 10}:{i}".encode() for i in range(300)], "-K:")
    messages = consume_json(args, topic)
    check(sorted(int(m["payload"]) for m in messages) == list(range(300)), f"{len(messages)} of 300 read")
    partitions_of_key: dict = {}
    for message in messages:
        partitions_of_key.setdefault(message["key"], set()).add(message["partition"])
    check(all(len(p) == 1 for p in partitions_of_key.values()), f"a key in two partitions: {partitions_of_key}")
    for partition in range(3):
        sequence = [int(m["payload"]) for m in messages if m["partition"] == partition]
        check(sequence == sorted(sequence), f"partition {partition} out of order")
    return "300 keyed records, one partition per key, order kept per partition"


def scenario_headers(args):
    topic = f"{args.prefix}-headers"
    create_topic(args, topic)
    binary = bytes([1, 255, 128])  # argv cannot carry a NUL byte
    produce(args, topic, [b"v"], "-H", "h=first", "-H", "h=second", "-H", b"bin=" + binary, "-H", "empty=")
    out = kcat(args, "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%h").stdout
    want = b"h=first,h=second,bin=" + binary + b",empty="
    check(out == want, f"headers {out!r}, want {want!r}")
    return "repeated key, binary and empty values kept in order"


def scenario_null_and_empty_values(args):
    topic = f"{args.prefix}-null-empty"
    create_topic(args, topic)
    produce(args, topic, [b"tombstone:"], "-K:", "-Z")  # -Z: an empty value is sent as null
    produce(args, topic, [b"empty:", b":empty-key"], "-K:")
    produce(args, topic, [b"null-key"])
    seen = [(m["key"], m["payload"]) for m in consume_json(args, topic)]
    want = [("tombstone", None), ("empty", ""), ("", "empty-key"), (None, "null-key")]
    check(seen == want, f"read {seen}, want {want}")
    return "null value, empty value, empty key, null key distinct"


def scenario_value_1mib(args):
    topic = f"{args.prefix}-value-1mib"
    create_topic(args, topic, config={"max.message.bytes": TOPIC_MAX_MESSAGE_BYTES})
    value = (b"abcdefghijklmnopqrstuvwxyz012345" * (VALUE_1MIB_BYTES // 32))
    produce(args, topic, [value], "-X", f"message.max.bytes={3 * VALUE_1MIB_BYTES}")
    out = kcat(args, "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%s").stdout
    check(out == value, f"read {len(out)} bytes, want the same {len(value)}")
    return "1 MiB value round-trips"


def read_codec_topic(args, topic: str) -> list:
    messages = consume_json(args, topic)
    return [(m["key"].encode(), m["payload"].encode()) for m in messages]


def codec_scenario(codec: str):
    def scenario(args):
        topic = codec_topic(args.prefix, codec)
        create_topic(args, topic)
        lines = [key + b":" + value for key, value in codec_expected()]
        produce(args, topic, lines, "-K:", "-z", codec, "-X", "linger.ms=50")
        compare_codec_records(read_codec_topic(args, topic), topic)
        if not args.previous_prefix:
            return f"100 {codec} records (no previous client)"
        previous = codec_topic(args.previous_prefix, codec)
        compare_codec_records(read_codec_topic(args, previous), previous)
        return f"100 {codec} records, and {previous} read back"
    return scenario


def scenario_partitioner_murmur2(args):
    topic = f"{args.prefix}-murmur2"
    create_topic(args, topic, MURMUR2_PARTITIONS)
    expected = murmur2_expected()
    produce(args, topic, [f"{key}:x".encode() for key in expected], "-K:", "-X", "partitioner=murmur2_random")
    landed = {m["key"]: m["partition"] for m in consume_json(args, topic)}
    wrong = {k: (landed.get(k), p) for k, p in expected.items() if landed.get(k) != p}
    check(not wrong, f"{len(wrong)} keys elsewhere (got, want): {dict(list(wrong.items())[:3])}")
    return "100 keys where Java puts them"


def group_offsets(args, topic: str, group: str, count: int) -> list:
    """Offsets read by a balanced consumer (-G) that stops after count messages and commits."""
    out = kcat(args, "-G", group, "-c", str(count), "-f", "%o\n", "-X", "auto.offset.reset=earliest",
               topic).stdout
    return [int(line) for line in out.decode().split()]


def scenario_commit_and_resume(args):
    topic, group = f"{args.prefix}-resume", f"{args.prefix}-resume"
    create_topic(args, topic)
    produce(args, topic, [f"{i}".encode() for i in range(20)])
    first = group_offsets(args, topic, group, 10)
    check(first == list(range(10)), f"first member read {first}")
    second = group_offsets(args, topic, group, 1)
    check(second == [10], f"second member started at {second}, want [10]")
    return "kcat -G committed on exit; the next member resumed at 10"


def scenario_seek(args):
    topic = f"{args.prefix}-seek"
    create_topic(args, topic)
    for i in range(10):
        # kcat has no per-message timestamp option: one kcat run per message, so each gets a
        # later CreateTime than the one before (checked below).
        produce(args, topic, [f"v{i}".encode()])
    messages = consume_json(args, topic)
    check([m["offset"] for m in messages] == list(range(10)), "not 10 messages")
    stamps = [m["ts"] for m in messages]
    check(stamps == sorted(set(stamps)), f"timestamps not increasing: {stamps}")
    first = kcat(args, "-C", "-t", topic, "-o", "beginning", "-c", "1", "-f", "%o").stdout
    check(first == b"0", f"-o beginning read {first!r}")
    last = kcat(args, "-C", "-t", topic, "-o", "-1", "-c", "1", "-f", "%o %s").stdout
    check(last == b"9 v9", f"-o -1 (one before the end) read {last!r}")
    by_time = kcat(args, "-C", "-t", topic, "-o", f"s@{stamps[5]}", "-c", "1", "-f", "%o %s").stdout
    check(by_time == b"5 v5", f"-o s@<timestamp of offset 5> read {by_time!r}")
    return "beginning 0, end-1 9, timestamp 5"


class GroupMember:
    """One `kcat -G` process: its stdout lines are records read, its stderr reports each
    rebalance ("assigned: T [0], T [1]" / "revoked: ..."), read by two threads."""

    def __init__(self, args, group: str, topic: str):
        self.process = subprocess.Popen(
            ["kcat", "-b", args.bootstrap, "-u", "-G", group, "-f", "%p %o %s\\n", "-X", "auto.offset.reset=earliest",
             "-X", "enable.partition.eof=false", topic],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.values: list = []
        self.assigned: list = []
        self.readers = [threading.Thread(target=self.read_records, daemon=True),
                        threading.Thread(target=self.read_rebalances, daemon=True)]
        for reader in self.readers:
            reader.start()

    def read_records(self) -> None:
        for line in self.process.stdout:
            self.values.append(int(line.split()[2]))

    def read_rebalances(self) -> None:
        for line in self.process.stderr:
            if "rebalanced" not in line:
                continue
            partitions = sorted(int(p) for p in re.findall(r"\[(\d+)\]", line))
            self.assigned = partitions if "assigned:" in line else []

    def leave(self) -> None:
        """SIGTERM: kcat closes its consumer, which commits and leaves the group."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(KCAT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_for(condition, what) -> None:
    end = deadline(KCAT_TIMEOUT_S)
    while not condition() and before(end):
        time.sleep(0.05)
    check(condition(), what())


def scenario_consumer_group(args):
    topic, group = f"{args.prefix}-group", f"{args.prefix}-group"
    create_topic(args, topic, 6)
    members = [GroupMember(args, group, topic) for _ in range(3)]

    def owned_by_all() -> bool:
        owned = [p for m in members for p in m.assigned]
        return sorted(owned) == list(range(6)) and all(m.assigned for m in members)

    def values() -> list:
        return sorted(v for m in members for v in m.values)

    try:
        wait_for(owned_by_all, lambda: f"assignment {[m.assigned for m in members]}")
        produce(args, topic, [f"k{i}:{i}".encode() for i in range(600)], "-K:")
        wait_for(lambda: len(values()) >= 600, lambda: f"{len(values())} of 600 read")
        check(values() == list(range(600)), f"{len(values())} read, {len(set(values()))} distinct of 600")
        members.pop().leave()
        wait_for(owned_by_all, lambda: f"after leave: assignment {[m.assigned for m in members]}")
        produce(args, topic, [f"k{i}:{i}".encode() for i in range(600, 660)], "-K:")
        new = lambda: [v for v in values() if v >= 600]  # noqa: E731
        wait_for(lambda: len(new()) >= 60, lambda: f"after leave: {len(new())} of 60 new read")
        check(new() == list(range(600, 660)), f"after leave: new records {new()[:5]}...")
        return "3 kcat -G members read 600 once; after one left 2 own 6 partitions and read 60 new"
    finally:
        for member in members:
            member.leave()


def scenario_idempotent_producer(args):
    topic = f"{args.prefix}-idempotent"
    create_topic(args, topic)
    produce(args, topic, [f"{i}".encode() for i in range(1000)], "-X", "enable.idempotence=true")
    values = [int(m["payload"]) for m in consume_json(args, topic)]
    check(values == list(range(1000)), f"{len(values)} read, duplicated or out of order")
    return "1000 records once, in order"


def scenario_error_unknown_topic(args):
    topic = f"{args.prefix}-missing"
    meta = json.loads(kcat(args, "-L", "-J", "-t", topic).stdout)
    [entry] = [t for t in meta["topics"] if t["topic"] == topic]
    check("Unknown topic or partition" in entry.get("error", ""), f"metadata error {entry.get('error')!r}")
    return f"metadata: {entry['error']}"


def scenario_error_record_too_large(args):
    topic = f"{args.prefix}-too-large"
    create_topic(args, topic, config={"max.message.bytes": 10000})
    result = kcat(args, "-P", "-t", topic, stdin=b"x" * 50_000 + b"\n", ok=False)
    stderr = result.stderr.decode(errors="replace")
    check("Message size too large" in stderr, f"exit {result.returncode}: {stderr[-200:]}")
    return "Broker: Message size too large"


def skipped(reason: str):
    def scenario(_args):
        raise Skip(reason)
    return scenario


SCENARIOS = {
    "metadata": scenario_metadata,
    "produce_consume": scenario_produce_consume,
    "headers": scenario_headers,
    "null_and_empty_values": scenario_null_and_empty_values,
    "value_1mib": scenario_value_1mib,
    **{f"compression_{codec}": codec_scenario(codec) for codec in CODECS},
    "partitioner_murmur2": scenario_partitioner_murmur2,
    "consumer_group": scenario_consumer_group,
    "commit_and_resume": scenario_commit_and_resume,
    "seek": scenario_seek,
    "idempotent_producer": scenario_idempotent_producer,
    "transactions": skipped("kcat has no transactional producer (it never calls librdkafka's "
                            "init/begin/commit_transaction)"),
    "admin_topics": skipped(NO_ADMIN),
    "admin_configs": skipped(NO_ADMIN),
    "admin_groups": skipped(NO_ADMIN),
    "admin_delete_records": skipped(NO_ADMIN),
    "error_unknown_topic": scenario_error_unknown_topic,
    "error_record_too_large": scenario_error_record_too_large,
    "error_invalid_topic_name": skipped(NO_ADMIN),
    "error_topic_exists": skipped(NO_ADMIN),
}

if __name__ == "__main__":
    log("kcat compat client")
    sys.exit(run_scenarios(SCENARIOS, parse_args(__doc__)))
