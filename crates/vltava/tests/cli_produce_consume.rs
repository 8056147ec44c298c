//! `vltava produce` and `vltava consume` against a real broker, as a developer uses them in
//! place of kcat: what goes in with keys, headers, partitions, timestamps, codecs and
//! tombstones comes back out exactly, in kcat's format tokens and as JSON; `-o`, `-c` and `-e`
//! start and stop where they say; `-g` commits what `vltava group describe` then shows; keyed
//! records land where Kafka's partitioner (librdkafka's murmur2_random) puts them; failures
//! exit non-zero with Kafka's error names. Guards against a CLI that drops, reorders or
//! mislabels records, or hangs instead of stopping.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output};
use std::sync::mpsc;

use common::lossy_proxy::LossyProxy;
use common::{BoxError, CLI_TIMEOUT, CLIENT_TIMEOUT, TestResult, cli, cli_with_input};
use rdkafka::Offset;
use rdkafka::producer::FutureRecord;
use serde_json::Value;
use vltava_testkit::start_broker;

/// `vltava produce ARGS` with `input` on stdin; must succeed.
fn produce(bootstrap: &str, args: &[&str], input: &str) -> TestResult {
    common::cli_ok(bootstrap, "produce", args, input.as_bytes())?;
    Ok(())
}

/// `vltava consume ARGS`; must succeed; its stdout.
fn consume(bootstrap: &str, args: &[&str]) -> Result<String, BoxError> {
    let output = common::cli_ok(bootstrap, "consume", args, &[])?;
    Ok(String::from_utf8(output.stdout)?)
}

fn create_topic(bootstrap: &str, topic: &str, partitions: u32) -> TestResult {
    let args = ["create", topic, "--partitions", &partitions.to_string()];
    common::cli_ok(bootstrap, "topic", &args, &[])?;
    Ok(())
}

fn now_ms() -> Result<i64, BoxError> {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    Ok(i64::try_from(since.as_millis())?)
}

fn json_lines(text: &str) -> Result<Vec<Value>, BoxError> {
    text.lines()
        .map(|l| Ok(serde_json::from_str(l)?))
        .collect::<Result<_, BoxError>>()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_headers_and_partitions_come_back_in_kcat_format_and_json() -> TestResult {
    let broker = start_broker(&[])?;
    let b = broker.bootstrap();
    common::create_topics(b, &[("orders", 3), ("reference", 3)]).await?;
    let keys: Vec<String> = (0..12).map(|i| format!("customer-{i}")).collect();
    let input: String = keys.iter().map(|k| format!("{k}:order of {k}\n")).collect();
    produce(
        b,
        &["orders", "-K", ":", "-H", "src=cli", "-H", "n=1"],
        &input,
    )?;

    // Where librdkafka's Java-compatible partitioner puts the same keys.
    let producer = common::producer(b, &[("partitioner", "murmur2_random")])?;
    let mut expected = BTreeMap::new();
    for key in &keys {
        let record = FutureRecord::to("reference").key(key).payload("x");
        let delivered = producer
            .send(record, CLIENT_TIMEOUT)
            .await
            .map_err(|(e, _)| format!("rdkafka produce: {e}"))?;
        expected.insert(key.clone(), delivered.partition);
    }

    let printed = consume(b, &["orders", "-e", "-f", "%t|%p|%o|%k|%s|%h|%K|%S\\n"])?;
    let mut seen = BTreeMap::new();
    for line in printed.lines() {
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(fields.len(), 8, "{line}");
        let key = fields[3].to_string();
        assert_eq!(fields[0], "orders");
        assert_eq!(fields[4], format!("order of {key}"));
        assert_eq!(fields[5], "src=cli,n=1");
        assert_eq!(fields[6], key.len().to_string());
        assert_eq!(fields[7], fields[4].len().to_string());
        seen.insert(key, fields[1].parse::<i32>()?);
    }
    assert_eq!(
        seen, expected,
        "partition of each key, ours and librdkafka's"
    );

    produce(b, &["orders", "-p", "2", "--key", "fixed"], "pinned\n")?;
    let pinned = json_lines(&consume(
        b,
        &["orders", "-p", "2", "-o", "-1", "-e", "--json"],
    )?)?;
    assert_eq!(pinned.len(), 1);
    let record = &pinned[0];
    assert_eq!(
        (&record["partition"], &record["key"], &record["value"]),
        (
            &Value::from(2),
            &Value::from("fixed"),
            &Value::from("pinned")
        )
    );
    assert_eq!(record["timestamp_type"], "CreateTime");
    assert!(
        record["timestamp"]
            .as_i64()
            .is_some_and(|t| t > 1_600_000_000_000)
    );
    Ok(())
}

#[test]
fn offsets_start_where_o_says() -> TestResult {
    let broker = start_broker(&[])?;
    let b = broker.bootstrap();
    // Ten records at times 1000, 2000, ... 10000 (offset i at time (i + 1) * 1000).
    let input: String = (0..10)
        .map(|i| format!("{}|v{i}\n", (i + 1) * 1000))
        .collect();
    produce(b, &["old", "--format", "%T|%s"], &input)?;
    let values = |args: &[&str]| -> Result<String, BoxError> {
        let mut all = vec!["old", "-e", "-f", "%o:%s "];
        all.extend_from_slice(args);
        consume(b, &all)
    };
    assert_eq!(values(&["-o", "beginning"])?.split_whitespace().count(), 10);
    assert_eq!(values(&["-o", "7"])?, "7:v7 8:v8 9:v9 ");
    assert_eq!(values(&["-o", "-2"])?, "8:v8 9:v9 ");
    assert_eq!(values(&["-o", "-50"])?.split_whitespace().count(), 10);
    assert_eq!(values(&["-o", "end"])?, "");
    assert_eq!(values(&["-o", "@5000"])?, "4:v4 5:v5 6:v6 7:v7 8:v8 9:v9 ");
    assert_eq!(
        values(&["-o", "@5001"])?.split_whitespace().next(),
        Some("5:v5")
    );
    // All of them are older than an hour: nothing is at or after an hour ago.
    assert_eq!(values(&["-o", "@-1h"])?, "");
    assert_eq!(
        consume(b, &["old", "-e", "-f", "%T ", "-o", "9"])?,
        "10000 "
    );

    // LogAppendTime: every record has the time the broker appended it, not the producer's.
    let args = [
        "create",
        "stamped",
        "--config",
        "message.timestamp.type=LogAppendTime",
    ];
    common::cli_ok(b, "topic", &args, &[])?;
    let before = now_ms()?;
    produce(b, &["stamped", "--format", "%T|%s"], "1000|x\n2000|y\n")?;
    for record in json_lines(&consume(b, &["stamped", "-e", "--json"])?)? {
        assert_eq!(record["timestamp_type"], "LogAppendTime");
        assert!(record["timestamp"].as_i64() >= Some(before), "{record}");
    }

    produce(b, &["new"], "a\nb\n")?;
    let recent = consume(b, &["new", "-e", "-o", "@-1h"])?;
    assert_eq!(recent, "a\nb\n");

    let beyond = cli(b, "consume", &["old", "-e", "-o", "100"])?;
    assert!(!beyond.status.success());
    assert!(String::from_utf8_lossy(&beyond.stderr).contains("OFFSET_OUT_OF_RANGE"));
    Ok(())
}

#[test]
fn count_and_exit_at_end_stop_the_consumer() -> TestResult {
    let broker = start_broker(&[])?;
    let b = broker.bootstrap();
    let input: String = (0..10).map(|i| format!("r{i}\n")).collect();
    produce(b, &["ten", "-p", "0"], &input)?;
    // -c alone: no -e, so it returns only because it counted (bounded by CLI_TIMEOUT).
    assert_eq!(consume(b, &["ten", "-c", "3"])?, "r0\nr1\nr2\n");
    assert_eq!(consume(b, &["ten", "-c", "50", "-e"])?.lines().count(), 10);
    create_topic(b, "empty", 4)?;
    assert_eq!(consume(b, &["empty", "-e"])?, "");
    // acks=0 is not answered: -c waits for the records to be readable.
    produce(b, &["ten", "-p", "0", "--acks", "0"], "late-1\nlate-2\n")?;
    produce(b, &["ten", "-p", "0", "--acks", "1"], "late-3\n")?;
    let tail = consume(b, &["ten", "-o", "10", "-c", "3"])?;
    assert_eq!(tail, "late-1\nlate-2\nlate-3\n");
    Ok(())
}

#[test]
fn group_commits_show_in_group_describe_and_resume_the_next_run() -> TestResult {
    let broker = start_broker(&[])?;
    let b = broker.bootstrap();
    let input: String = (0..10).map(|i| format!("r{i}\n")).collect();
    produce(b, &["jobs", "-p", "0"], &input)?;
    assert_eq!(
        consume(b, &["jobs", "-g", "workers", "-c", "4"])?
            .lines()
            .count(),
        4
    );
    let described = common::cli_json(b, "group", &["describe", "workers"])?;
    let offsets = &described["offsets"][0];
    assert_eq!(
        (&offsets["committed_offset"], &offsets["lag"]),
        (&Value::from(4), &Value::from(6))
    );
    // The next run starts at the committed offset and commits the end.
    let rest = consume(b, &["jobs", "-g", "workers", "-e", "-f", "%o "])?;
    assert_eq!(rest, "4 5 6 7 8 9 ");
    let described = common::cli_json(b, "group", &["describe", "workers"])?;
    assert_eq!(described["offsets"][0]["committed_offset"], 10);
    assert_eq!(consume(b, &["jobs", "-g", "workers", "-e"])?, "");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_values_are_tombstones_with_z_and_every_codec_round_trips() -> TestResult {
    let broker = start_broker(&[])?;
    let b = broker.bootstrap();
    produce(b, &["compacted", "-K", ":", "-Z"], "gone:\nkept:v\n")?;
    produce(b, &["compacted", "-K", ":"], "empty:\n")?;
    let printed = consume(b, &["compacted", "-e", "-f", "%k %S %s\\n", "-Z"])?;
    assert_eq!(printed, "gone -1 NULL\nkept 1 v\nempty 0 \n");

    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("codec-{codec}");
        let input: String = (0..200)
            .map(|i| format!("k{i}:{codec} value {i}\n"))
            .collect();
        produce(b, &[&topic, "-K", ":", "-z", codec, "-p", "0"], &input)?;
        let back = consume(b, &[&topic, "-e", "-f", "%k:%s\\n"])?;
        assert_eq!(back, input, "{codec} through vltava consume");
        // A real Kafka client reads the CLI's compressed batches too.
        let consumer = common::consumer(b, &[])?;
        common::assign(&consumer, &topic, 1, Offset::Beginning)?;
        let read = common::consume(&consumer, 200, CLIENT_TIMEOUT)?;
        let expected: Vec<Vec<u8>> = (0..200)
            .map(|i| format!("{codec} value {i}").into_bytes())
            .collect();
        let values: Vec<Vec<u8>> = read.into_iter().filter_map(|r| r.value).collect();
        assert_eq!(values, expected, "{codec} through librdkafka");
    }
    Ok(())
}

#[test]
fn json_output_is_json_input() -> TestResult {
    let broker = start_broker(&[])?;
    let b = broker.bootstrap();
    create_topic(b, "source", 2)?;
    create_topic(b, "copy", 2)?;
    let input = "0|5|a=1,b|k0|v0\n1|6||k1|v1\n1|7|x=y|k2|\n";
    produce(b, &["source", "--format", "%p|%T|%h|%k|%s"], input)?;
    let source = consume(b, &["source", "-e", "--json"])?;
    produce(b, &["copy", "--json"], &source)?;
    let copy = consume(b, &["copy", "-e", "--json"])?;
    let strip = |text: &str| -> Result<Vec<Value>, BoxError> {
        let mut records = json_lines(text)?;
        for r in &mut records {
            r["topic"] = Value::Null;
        }
        Ok(records)
    };
    let copied = strip(&copy)?;
    assert_eq!(copied, strip(&source)?);
    assert_eq!(copied.len(), 3);
    assert_eq!(
        copied[0]["headers"][1],
        serde_json::json!({"key": "b", "value": null})
    );
    assert_eq!(copied[1]["timestamp"], 6);
    Ok(())
}

#[test]
fn failed_records_exit_non_zero_with_kafkas_error_names() -> TestResult {
    let broker = start_broker(&["--auto-create-topics", "false"])?;
    let b = broker.bootstrap();
    let missing = cli_with_input(b, "produce", &["missing"], b"x\n")?;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("UNKNOWN_TOPIC_OR_PARTITION"));
    let unread = cli(b, "consume", &["missing", "-e"])?;
    assert!(!unread.status.success());
    assert!(String::from_utf8_lossy(&unread.stderr).contains("UNKNOWN_TOPIC_OR_PARTITION"));

    let args = ["create", "small", "--config", "max.message.bytes=2000"];
    common::cli_ok(b, "topic", &args, &[])?;
    let big = "x".repeat(5000);
    let input = format!("fits\n{big}\n");
    // One record per batch, so that the small one is not refused with the big one.
    let args = ["small", "-p", "0", "--batch-bytes-max", "100"];
    let too_large = cli_with_input(b, "produce", &args, input.as_bytes())?;
    assert!(!too_large.status.success());
    let stderr = String::from_utf8_lossy(&too_large.stderr);
    assert!(stderr.contains("MESSAGE_TOO_LARGE"), "{stderr}");
    assert!(stderr.contains("1 record(s) not produced"), "{stderr}");
    assert_eq!(consume(b, &["small", "-e"])?, "fits\n");

    let bad_line = cli_with_input(b, "produce", &["small", "--format", "%p|%s"], b"x|y\n0|z\n")?;
    assert!(!bad_line.status.success());
    assert!(String::from_utf8_lossy(&bad_line.stderr).contains("line 1"));
    assert_eq!(consume(b, &["small", "-e", "-o", "1"])?, "z\n");
    let no_partition = cli(b, "consume", &["small", "-e", "-p", "5"])?;
    assert!(!no_partition.status.success());
    assert!(String::from_utf8_lossy(&no_partition.stderr).contains("does not exist"));
    Ok(())
}

/// `vltava produce` is an idempotent producer: a batch whose answer was lost on the way back is
/// sent again and written once. The same loss with `--no-idempotence` writes it twice, which
/// shows that an answer really was lost and the batch really sent again.
#[test]
fn a_batch_sent_again_after_its_answer_was_lost_is_written_once() -> TestResult {
    let proxy = LossyProxy::bind()?;
    // Clients learn the proxy's address from Metadata, so produce requests go through it.
    let broker = start_broker(&["--advertised-listener", proxy.address()])?;
    proxy.forward_to(broker.bootstrap());
    let p = proxy.address();
    create_topic(p, "once", 1)?;

    proxy.lose_next_produce_answer();
    produce(p, &["once", "--value", "idempotent"], "")?;
    assert_eq!(proxy.answers_lost(), 1);
    assert_eq!(consume(p, &["once", "-e"])?, "idempotent\n");

    proxy.lose_next_produce_answer();
    produce(p, &["once", "--value", "plain", "--no-idempotence"], "")?;
    assert_eq!(proxy.answers_lost(), 2);
    assert_eq!(consume(p, &["once", "-e"])?, "idempotent\nplain\nplain\n");
    Ok(())
}

#[test]
fn o_stored_starts_from_the_groups_committed_offsets() -> TestResult {
    let broker = start_broker(&[])?;
    let b = broker.bootstrap();
    create_topic(b, "stored", 1)?;
    produce(b, &["stored"], "a\nb\nc\n")?;
    assert_eq!(consume(b, &["stored", "-g", "g1", "-c", "2"])?, "a\nb\n");
    assert_eq!(
        consume(b, &["stored", "-g", "g1", "-o", "stored", "-e"])?,
        "c\n"
    );
    // A group that committed nothing starts at the beginning.
    assert_eq!(
        consume(b, &["stored", "-g", "g2", "-o", "stored", "-e"])?,
        "a\nb\nc\n"
    );
    let no_group = cli(b, "consume", &["stored", "-o", "stored", "-e"])?;
    assert!(!no_group.status.success());
    assert!(String::from_utf8_lossy(&no_group.stderr).contains("-g GROUP"));
    Ok(())
}

/// A `vltava` command running in the background, its stdout read line by line.
struct Running {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(bootstrap: &str, command: &str, args: &[&str]) -> Result<Running, BoxError> {
        let mut child = common::spawn_cli(bootstrap, command, args)?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Ok(Running { child, lines })
    }

    /// The next `count` lines it prints, each within `CLI_TIMEOUT`.
    fn read(&self, count: usize) -> Result<Vec<String>, BoxError> {
        (0..count)
            .map(|_| {
                self.lines
                    .recv_timeout(CLI_TIMEOUT)
                    .map_err(|_| format!("no line within {CLI_TIMEOUT:?}").into())
            })
            .collect()
    }

    fn write(&mut self, input: &str) -> TestResult {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().ok_or("stdin closed")?;
        stdin.write_all(input.as_bytes())?;
        stdin.flush()?;
        Ok(())
    }

    fn signal(&self, signal: &str) -> TestResult {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            return Err(format!("kill {signal} failed").into());
        }
        Ok(())
    }

    /// Closes its stdin and waits (at most `CLI_TIMEOUT`) for it to exit.
    fn finish(mut self) -> Result<Output, BoxError> {
        drop(self.child.stdin.take());
        let child = self.child;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        Ok(rx.recv_timeout(CLI_TIMEOUT)??)
    }
}

#[test]
fn ctrl_c_stops_a_following_consumer_cleanly_with_its_offsets_committed() -> TestResult {
    let broker = start_broker(&[])?;
    let b = broker.bootstrap();
    produce(b, &["feed", "-p", "0"], "a\nb\nc\n")?;
    // No -e, no -c: it follows the topic until interrupted.
    let consumer = Running::start(b, "consume", &["feed", "-g", "tail"])?;
    assert_eq!(consumer.read(3)?, ["a", "b", "c"]);
    consumer.signal("-INT")?;
    let output = consumer.finish()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let described = common::cli_json(b, "group", &["describe", "tail"])?;
    assert_eq!(described["offsets"][0]["committed_offset"], 3);
    Ok(())
}

#[test]
fn a_cluster_is_written_and_read_through_each_partitions_leader() -> TestResult {
    let cluster = vltava_testkit::start_cluster(3, &[])?;
    let first = cluster.nodes[0].bootstrap();
    let args = [
        "create",
        "routed",
        "--partitions",
        "6",
        "--replication-factor",
        "3",
    ];
    common::cli_ok(first, "topic", &args, &[])?;
    let described = common::cli_json(first, "topic", &["describe", "routed"])?;
    let leaders: std::collections::BTreeSet<i64> = described["partitions"]
        .as_array()
        .ok_or("no partitions")?
        .iter()
        .filter_map(|p| p["leader"].as_i64())
        .collect();
    assert!(
        leaders.len() > 1,
        "leaders {leaders:?}: routing would not be tested"
    );

    let mut lines: Vec<String> = (0..60).map(|i| format!("key-{i}:value-{i}")).collect();
    produce(first, &["routed", "-K", ":"], &(lines.join("\n") + "\n"))?;
    let third = cluster.nodes[2].bootstrap();
    let printed = consume(third, &["routed", "-e", "-f", "%k:%s\\n"])?;
    let mut read: Vec<String> = printed.lines().map(str::to_string).collect();
    read.sort();
    lines.sort();
    assert_eq!(read, lines);
    Ok(())
}

#[test]
fn a_producer_and_a_consumer_follow_the_partition_to_its_new_leader() -> TestResult {
    let mut cluster = vltava_testkit::start_cluster(3, &[])?;
    let first = cluster.nodes[0].bootstrap().to_string();
    let args = ["create", "failover", "--replication-factor", "3"];
    common::cli_ok(&first, "topic", &args, &[])?;
    let described = common::cli_json(&first, "topic", &["describe", "failover"])?;
    let leader = described["partitions"][0]["leader"]
        .as_i64()
        .ok_or("no leader")?;
    let leader = i32::try_from(leader)?;
    // Both commands bootstrap from the leader, which then goes away entirely.
    let at_leader = cluster.node(leader).bootstrap().to_string();
    let mut producer = Running::start(&at_leader, "produce", &["failover"])?;
    let consumer = Running::start(&at_leader, "consume", &["failover", "-c", "20"])?;
    let numbered =
        |range: std::ops::Range<i32>| -> Vec<String> { range.map(|i| format!("r{i}")).collect() };
    producer.write(&(numbered(0..10).join("\n") + "\n"))?;
    // Read back: acknowledged by every in-sync replica, so the next leader has them.
    assert_eq!(consumer.read(10)?, numbered(0..10));

    cluster.node(leader).kill9()?;
    producer.write(&(numbered(10..20).join("\n") + "\n"))?;
    let produced = producer.finish()?;
    let stderr = String::from_utf8_lossy(&produced.stderr);
    assert!(produced.status.success(), "produce: {stderr}");
    assert_eq!(consumer.read(10)?, numbered(10..20));
    let consumed = consumer.finish()?;
    assert!(consumed.status.success());

    let survivor = cluster
        .nodes
        .iter()
        .map(|n| n.bootstrap().to_string())
        .find(|b| *b != at_leader)
        .ok_or("no survivor")?;
    let all = consume(&survivor, &["failover", "-e"])?;
    assert_eq!(
        all.lines().collect::<Vec<_>>(),
        numbered(0..20),
        "each record once"
    );
    Ok(())
}

#[test]
fn an_interactive_producer_sends_each_line_as_typed_and_ctrl_c_ends_it_cleanly() -> TestResult {
    let broker = start_broker(&[])?;
    let b = broker.bootstrap();
    create_topic(b, "typed", 1)?;
    let mut producer = Running::start(b, "produce", &["typed"])?;
    producer.write("first\n")?;
    // Readable while stdin stays open: the line went out when the input paused.
    assert_eq!(consume(b, &["typed", "-c", "1"])?, "first\n");
    producer.write("second\n")?;
    assert_eq!(consume(b, &["typed", "-o", "1", "-c", "1"])?, "second\n");
    producer.signal("-INT")?;
    let output = producer.finish()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}
