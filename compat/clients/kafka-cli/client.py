"""The compatibility scenarios with Kafka's own command-line tools (the 4.4.0 jars, the main
classes that bin/kafka-*.sh run): kafka-topics, kafka-configs, kafka-consumer-groups,
kafka-console-producer/-consumer, kafka-get-offsets, kafka-delete-records. Each check reads
what the tool prints for a person.
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lib"))

from compat_common import (  # noqa: E402
    CODECS, COMPAT_DIR, INVALID_TOPIC_NAME, MURMUR2_PARTITIONS, TOPIC_MAX_MESSAGE_BYTES,
    VALUE_1MIB_BYTES, Fail, Skip, check, codec_expected, codec_topic,
    compare_codec_records, log, murmur2_expected, parse_args, run_scenarios, wait_topic_everywhere)

TOOL_TIMEOUT_S = 50
TOPICS = "org.apache.kafka.tools.TopicCommand"
CONFIGS = "org.apache.kafka.tools.ConfigCommand"
GROUPS = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
PRODUCER = "org.apache.kafka.tools.ConsoleProducer"
CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"
GET_OFFSETS = "org.apache.kafka.tools.GetOffsetShell"
DELETE_RECORDS = "org.apache.kafka.tools.DeleteRecordsCommand"
# Each tool runs for a second or two: a small heap and the C1 compiler start it fastest.
JAVA_OPTS = ["-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djava.awt.headless=true"]
# WARN to stderr: the clients' warnings (such as a metadata error) are part of what is checked.
LOG4J2 = """\
status = error
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
"""
WORK_DIR = Path(tempfile.mkdtemp(prefix="compat-kafka-cli-"))
LOG4J_PATH = WORK_DIR / "log4j2.properties"
LOG4J_PATH.write_text(LOG4J2)
CLASSPATH = os.environ.get("KAFKA_CLI_CLASSPATH") or subprocess.run(
    [str(COMPAT_DIR.parent / "scripts" / "kafka-reference"), "classpath"],
    capture_output=True, text=True, check=True).stdout.strip()


def tool(args, main_class: str, *options, stdin: str | None = None, ok: bool = True):
    """Runs one tool against the broker under test; returns (exit code, stdout, stderr)."""
    command = ["java", *JAVA_OPTS, f"-Dlog4j2.configurationFile={LOG4J_PATH}", "-cp", CLASSPATH,
               main_class, "--bootstrap-server", args.bootstrap, *map(str, options)]
    result = subprocess.run(command, input=stdin, capture_output=True, text=True,
                            timeout=TOOL_TIMEOUT_S, check=False)
    if ok and result.returncode != 0:
        name = main_class.rsplit(".", 1)[1]
        raise Fail(f"{name} {' '.join(map(str, options))[:80]} exited {result.returncode}: "
                   f"{(result.stdout + result.stderr).strip()[-200:]}")
    return result.returncode, result.stdout, result.stderr


def create_topic(args, topic: str, partitions: int = 1, config: dict | None = None) -> None:
    options = ["--create", "--topic", topic, "--partitions", partitions, "--replication-factor", 1]
    for key, value in (config or {}).items():
        options += ["--config", f"{key}={value}"]
    _, out, _ = tool(args, TOPICS, *options)
    check(f"Created topic {topic}." in out, f"kafka-topics --create printed {out!r}")
    wait_topic_everywhere(args.bootstrap, topic, partitions)


def produce(args, topic: str, lines: list, *options) -> None:
    """kafka-console-producer with acks=all; a send error fails the scenario."""
    _, _, err = tool(args, PRODUCER, "--topic", topic, "--command-property", "acks=all", *options,
                     stdin="".join(line + "\n" for line in lines))
    check("ERROR" not in err, f"console producer: {err.strip()[-200:]}")


def consume(args, topic: str, count: int, *options) -> list:
    """kafka-console-consumer from the beginning of every partition, count messages, one line each."""
    _, out, _ = tool(args, CONSUMER, "--topic", topic, "--from-beginning", "--max-messages", count,
                     "--timeout-ms", 20_000, *options)
    lines = out.splitlines()
    check(len(lines) == count, f"console consumer printed {len(lines)} of {count} messages")
    return lines


def keyed(*extra) -> list:
    """Console consumer options that print `partition|offset|key|value` per message."""
    return ["--formatter-property", "print.key=true", "--formatter-property", "print.partition=true",
            "--formatter-property", "print.offset=true", "--formatter-property", "key.separator=|",
            *extra]


def parse_keyed(line: str) -> tuple:
    """`Partition:P|Offset:O|key|value` -> (P, O, key, value)."""
    partition, offset, key, value = line.split("|", 3)
    return int(partition.split(":")[1]), int(offset.split(":")[1]), key, value


def scenario_metadata(args):
    topic = f"{args.prefix}-metadata"
    create_topic(args, topic, 3)
    _, listed, _ = tool(args, TOPICS, "--list")
    check(topic in listed.split(), f"{topic} not in kafka-topics --list")
    _, described, _ = tool(args, TOPICS, "--describe", "--topic", topic)
    check("PartitionCount: 3" in described, f"describe: {described.strip()[:200]}")
    # One node leads them all, or the partitions are spread over a cluster's nodes.
    leaders = re.findall(r"\tLeader: (\S+)", described)
    check(len(leaders) == 3 and all(leader.isdigit() for leader in leaders),
          f"not every partition has a leader: {described[:300]}")
    return "kafka-topics --list/--describe: PartitionCount 3"


def scenario_produce_consume(args):
    topic = f"{args.prefix}-produce-consume"
    create_topic(args, topic, 3)
    produce(args, topic, [f"key-{i % 10}:{i}" for i in range(300)],
            "--reader-property", "parse.key=true", "--reader-property", "key.separator=:")
    messages = [parse_keyed(line) for line in consume(args, topic, 300, *keyed())]
    check(sorted(int(m[3]) for m in messages) == list(range(300)), "records lost or duplicated")
    partitions_of_key: dict = {}
    for partition, _, key, _ in messages:
        partitions_of_key.setdefault(key, set()).add(partition)
    check(all(len(p) == 1 for p in partitions_of_key.values()), f"a key in two partitions: {partitions_of_key}")
    for partition in range(3):
        sequence = [int(m[3]) for m in messages if m[0] == partition]
        check(sequence == sorted(sequence), f"partition {partition} out of order")
    return "300 keyed records, one partition per key, order kept per partition"


def scenario_headers(args):
    topic = f"{args.prefix}-headers"
    create_topic(args, topic)
    # parse.headers: `h1:v1,h2:v2<TAB>value`; text only, so no binary header value here.
    produce(args, topic, ["h:first,h:second,empty:\tv"], "--reader-property", "parse.headers=true")
    [line] = consume(args, topic, 1, "--formatter-property", "print.headers=true")
    check(line == "h:first,h:second,empty:\tv", f"printed {line!r}")
    return "repeated key and empty value kept in order (text values only)"


def scenario_null_and_empty_values(args):
    topic = f"{args.prefix}-null-empty"
    create_topic(args, topic)
    produce(args, topic, ["tombstone|NULL", "empty|", "|empty-key", "NULL|null-key"],
            "--reader-property", "parse.key=true", "--reader-property", "key.separator=|",
            "--reader-property", "null.marker=NULL")
    lines = consume(args, topic, 4, *keyed("--formatter-property", "null.literal=<null>"))
    seen = [parse_keyed(line)[2:] for line in lines]
    want = [("tombstone", "<null>"), ("empty", ""), ("", "empty-key"), ("<null>", "null-key")]
    check(seen == want, f"read {seen}, want {want}")
    return "null value, empty value, empty key, null key distinct"


def scenario_value_1mib(args):
    topic = f"{args.prefix}-value-1mib"
    create_topic(args, topic, 1, {"max.message.bytes": TOPIC_MAX_MESSAGE_BYTES})
    value = "abcdefghijklmnopqrstuvwxyz012345" * (VALUE_1MIB_BYTES // 32)
    produce(args, topic, [value], "--command-property", f"max.request.size={3 * VALUE_1MIB_BYTES}")
    [line] = consume(args, topic, 1)
    check(line == value, f"read {len(line)} characters, want the same {len(value)}")
    return "1 MiB value round-trips"


def read_codec_topic(args, topic: str) -> list:
    lines = consume(args, topic, 100, *keyed())
    return [(key.encode(), value.encode()) for _, _, key, value in map(parse_keyed, lines)]


def codec_scenario(codec: str):
    def scenario(args):
        topic = codec_topic(args.prefix, codec)
        create_topic(args, topic)
        lines = [f"{key.decode()}:{value.decode()}" for key, value in codec_expected()]
        produce(args, topic, lines, "--compression-codec", codec, "--reader-property", "parse.key=true",
                "--reader-property", "key.separator=:")
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
    produce(args, topic, [f"{key}:x" for key in expected],
            "--reader-property", "parse.key=true", "--reader-property", "key.separator=:")
    landed = {key: partition for partition, _, key, _ in map(parse_keyed, consume(args, topic, 100, *keyed()))}
    wrong = {k: (landed.get(k), p) for k, p in expected.items() if landed.get(k) != p}
    check(not wrong, f"{len(wrong)} keys elsewhere (got, want): {dict(list(wrong.items())[:3])}")
    return "100 keys where Java's default partitioner puts them"


def group_read(args, topic: str, group: str, count: int) -> list:
    """Offsets a console consumer in the group reads; it commits what it read on exit."""
    _, out, _ = tool(args, CONSUMER, "--topic", topic, "--group", group, "--max-messages", count,
                     "--timeout-ms", 20_000, "--formatter-property", "print.offset=true",
                     "--command-property", "auto.offset.reset=earliest")
    return [int(line.split("\t")[0].split(":")[1]) for line in out.splitlines()]


def scenario_commit_and_resume(args):
    topic, group = f"{args.prefix}-resume", f"{args.prefix}-resume"
    create_topic(args, topic)
    produce(args, topic, [f"{i}" for i in range(20)])
    first = group_read(args, topic, group, 10)
    check(first == list(range(10)), f"first consumer read offsets {first}")
    _, described, _ = tool(args, GROUPS, "--describe", "--group", group)
    row = [line.split() for line in described.splitlines() if line.startswith(group)]
    check(len(row) == 1 and row[0][3] == "10", f"kafka-consumer-groups --describe: {described.strip()[-200:]}")
    second = group_read(args, topic, group, 1)
    check(second == [10], f"second consumer started at {second}, want [10]")
    return "committed 10 (kafka-consumer-groups shows it); the next consumer resumed at 10"


def offsets(args, topic: str, time_spec) -> str:
    _, out, _ = tool(args, GET_OFFSETS, "--topic", topic, "--time", time_spec)
    return out.strip()


def scenario_seek(args):
    topic = f"{args.prefix}-seek"
    create_topic(args, topic)
    produce(args, topic, [f"v{i}" for i in range(10)])
    lines = consume(args, topic, 10, "--formatter-property", "print.timestamp=true")
    stamps = [int(line.split("\t")[0].split(":")[1]) for line in lines]
    check(offsets(args, topic, "earliest") == f"{topic}:0:0", "earliest is not 0")
    check(offsets(args, topic, "latest") == f"{topic}:0:10", "latest is not 10")
    # The first offset whose timestamp is at least stamps[5] (records of one batch may share one).
    want = next(i for i, stamp in enumerate(stamps) if stamp >= stamps[5])
    got = offsets(args, topic, stamps[5])
    check(got == f"{topic}:0:{want}", f"--time {stamps[5]} gave {got!r}, want offset {want}")
    _, out, _ = tool(args, CONSUMER, "--topic", topic, "--partition", 0, "--offset", want,
                     "--max-messages", 1, "--timeout-ms", 20_000)
    check(out.strip() == f"v{want}", f"--offset {want} read {out.strip()!r}")
    return f"earliest 0, latest 10, timestamp -> {want}, consumer --offset {want} reads v{want}"


def scenario_idempotent_producer(args):
    topic = f"{args.prefix}-idempotent"
    create_topic(args, topic)
    produce(args, topic, [f"{i}" for i in range(1000)], "--command-property", "enable.idempotence=true")
    values = [int(line) for line in consume(args, topic, 1000)]
    check(values == list(range(1000)), "records duplicated or out of order")
    return "1000 records once, in order"


def scenario_admin_topics(args):
    topic = f"{args.prefix}-admin-topics"
    create_topic(args, topic, 2, {"retention.ms": 3600000})
    _, described, _ = tool(args, TOPICS, "--describe", "--topic", topic)
    check("PartitionCount: 2" in described and "retention.ms=3600000" in described,
          f"describe: {described.strip()[:200]}")
    check(topic in tool(args, TOPICS, "--list")[1].split(), "created topic not listed")
    tool(args, TOPICS, "--alter", "--topic", topic, "--partitions", 4)
    _, described, _ = tool(args, TOPICS, "--describe", "--topic", topic)
    check("PartitionCount: 4" in described, f"after --alter: {described.strip()[:200]}")
    tool(args, TOPICS, "--delete", "--topic", topic)
    check(topic not in tool(args, TOPICS, "--list")[1].split(), "deleted topic still listed")
    return "create --config, describe, list, alter 2->4 partitions, delete"


def scenario_admin_configs(args):
    topic = f"{args.prefix}-admin-configs"
    create_topic(args, topic)
    entity = ["--entity-type", "topics", "--entity-name", topic]
    _, all_configs, _ = tool(args, CONFIGS, "--describe", "--all", *entity)
    check("retention.ms=604800000" in all_configs, f"describe --all: {all_configs.strip()[:200]}")
    tool(args, CONFIGS, "--alter", "--add-config", "retention.ms=123456", *entity)
    _, described, _ = tool(args, CONFIGS, "--describe", *entity)
    check("retention.ms=123456" in described, f"after --alter: {described.strip()[:200]}")
    return "kafka-configs --describe --all, --alter --add-config retention.ms=123456, --describe"


def scenario_admin_groups(args):
    topic, group = f"{args.prefix}-admin-groups", f"{args.prefix}-admin-groups"
    create_topic(args, topic)
    produce(args, topic, ["a", "b"])
    check(group_read(args, topic, group, 2) == [0, 1], "group consumer did not read offsets 0, 1")
    check(group in tool(args, GROUPS, "--list")[1].split(), f"{group} not in --list")
    _, state, _ = tool(args, GROUPS, "--describe", "--group", group, "--state")
    check(re.search(rf"^{re.escape(group)}\s.*\sEmpty\s", state, re.M) is not None, f"--state: {state.strip()[-200:]}")
    _, deleted, _ = tool(args, GROUPS, "--delete", "--group", group)
    check("successful" in deleted, f"--delete: {deleted.strip()[-200:]}")
    check(group not in tool(args, GROUPS, "--list")[1].split(), f"{group} listed after delete")
    return "kafka-consumer-groups --list, --describe --state (Empty), --delete"


def scenario_admin_delete_records(args):
    topic = f"{args.prefix}-delete-records"
    create_topic(args, topic)
    produce(args, topic, [f"{i}" for i in range(10)])
    offsets_file = WORK_DIR / f"{topic}.json"
    offsets_file.write_text(f'{{"partitions": [{{"topic": "{topic}", "partition": 0, "offset": 4}}], "version": 1}}')
    _, out, _ = tool(args, DELETE_RECORDS, "--offset-json-file", offsets_file)
    check("low_watermark: 4" in out, f"kafka-delete-records: {out.strip()[-200:]}")
    check(offsets(args, topic, "earliest") == f"{topic}:0:4", "earliest is not 4 after deletion")
    return "kafka-delete-records low_watermark 4; kafka-get-offsets earliest 4"


def scenario_error_unknown_topic(args):
    topic = f"{args.prefix}-missing"
    code, _, err = tool(args, PRODUCER, "--topic", topic, "--command-property", "max.block.ms=3000",
                        stdin="x\n", ok=False)
    check("UNKNOWN_TOPIC_OR_PARTITION" in err, f"exit {code}: {err.strip()[-200:]}")
    return "console producer: UNKNOWN_TOPIC_OR_PARTITION in the metadata warnings"


def scenario_error_record_too_large(args):
    topic = f"{args.prefix}-too-large"
    create_topic(args, topic, 1, {"max.message.bytes": 10000})
    code, _, err = tool(args, PRODUCER, "--topic", topic, stdin="x" * 50_000 + "\n", ok=False)
    check("RecordTooLargeException" in err, f"exit {code}: {err.strip()[-200:]}")
    return "RecordTooLargeException"


def expect_create_error(args, topic: str, exception: str) -> str:
    code, out, err = tool(args, TOPICS, "--create", "--topic", topic, "--partitions", 1, ok=False)
    check(code != 0 and exception in out + err, f"exit {code}: {(out + err).strip()[-200:]}")
    return exception


def scenario_error_invalid_topic_name(args):
    return expect_create_error(args, INVALID_TOPIC_NAME, "InvalidTopicException")


def scenario_error_topic_exists(args):
    topic = f"{args.prefix}-exists"
    create_topic(args, topic)
    return expect_create_error(args, topic, "TopicExistsException")


def scenario_transactions(_args):
    raise Skip("kafka-console-producer cannot begin, commit or abort a transaction")


SCENARIOS = {
    "metadata": scenario_metadata,
    "produce_consume": scenario_produce_consume,
    "headers": scenario_headers,
    "null_and_empty_values": scenario_null_and_empty_values,
    "value_1mib": scenario_value_1mib,
    **{f"compression_{codec}": codec_scenario(codec) for codec in CODECS},
    "partitioner_murmur2": scenario_partitioner_murmur2,
    "commit_and_resume": scenario_commit_and_resume,
    "seek": scenario_seek,
    "idempotent_producer": scenario_idempotent_producer,
    "transactions": scenario_transactions,
    "admin_topics": scenario_admin_topics,
    "admin_configs": scenario_admin_configs,
    "admin_groups": scenario_admin_groups,
    "admin_delete_records": scenario_admin_delete_records,
    "error_unknown_topic": scenario_error_unknown_topic,
    "error_record_too_large": scenario_error_record_too_large,
    "error_invalid_topic_name": scenario_error_invalid_topic_name,
    "error_topic_exists": scenario_error_topic_exists,
}

if __name__ == "__main__":
    log("kafka-cli compat client")
    sys.exit(run_scenarios(SCENARIOS, parse_args(__doc__)))
