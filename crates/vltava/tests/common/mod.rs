//! Client-side helpers shared by the rdkafka tests: client configurations, topic creation, and
//! draining a consumer into owned records. Broker start-up lives in `vltava-testkit`.
#![allow(dead_code)]

pub mod lossy_proxy;
pub mod requests;
pub mod wire;

use std::collections::BTreeMap;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, Timestamp};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;
pub type BoxError = Box<dyn std::error::Error>;

/// How long any single client operation in these tests may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

fn config(bootstrap: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        // Fail fast when the broker is gone instead of retrying for minutes.
        .set("socket.timeout.ms", "10000")
        .set("log_level", "3");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config
}

/// A producer with `extra` settings on top of a short message timeout.
pub fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> Result<FutureProducer, BoxError> {
    let mut base = vec![("message.timeout.ms", "30000")];
    base.extend_from_slice(extra);
    Ok(config(bootstrap, &base).create()?)
}

/// Sends `count` records ("record 0", "record 1", ...) to one partition, each acknowledged.
pub async fn produce(
    producer: &FutureProducer,
    topic: &str,
    partition: i32,
    count: usize,
) -> TestResult {
    for i in 0..count {
        let value = format!("record {i}");
        let record = FutureRecord::<[u8], [u8]>::to(topic)
            .partition(partition)
            .payload(value.as_bytes());
        if let Err((error, _)) = producer.send(record, CLIENT_TIMEOUT).await {
            return Err(format!("produce to {topic}-{partition}: {error}").into());
        }
    }
    Ok(())
}

/// A consumer for assign(): no group coordination, no commits.
pub fn consumer(bootstrap: &str, extra: &[(&str, &str)]) -> Result<BaseConsumer, BoxError> {
    let mut base = vec![
        ("group.id", "vltava-tests"),
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        ("check.crcs", "true"),
    ];
    base.extend_from_slice(extra);
    Ok(config(bootstrap, &base).create()?)
}

/// Creates topics with the given partition counts and checks each creation succeeded.
pub async fn create_topics(bootstrap: &str, topics: &[(&str, i32)]) -> TestResult {
    let admin: AdminClient<DefaultClientContext> = config(bootstrap, &[]).create()?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(CLIENT_TIMEOUT));
    let results = tokio::time::timeout(
        CLIENT_TIMEOUT,
        admin.create_topics(new_topics.iter(), &options),
    )
    .await??;
    for result in results {
        if let Err((topic, code)) = result {
            return Err(format!("creating {topic} failed: {code:?}").into());
        }
    }
    Ok(())
}

/// Assigns `partitions` of `topic`, each starting at `offset`.
pub fn assign(consumer: &BaseConsumer, topic: &str, partitions: i32, offset: Offset) -> TestResult {
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment.add_partition_offset(topic, partition, offset)?;
    }
    consumer.assign(&assignment)?;
    Ok(())
}

/// One consumed record, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: Option<i64>,
}

impl Received {
    fn from_message<M: Message>(message: &M) -> Self {
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        let timestamp = match message.timestamp() {
            Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => Some(t),
            Timestamp::NotAvailable => None,
        };
        Received {
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
            headers,
            timestamp,
        }
    }
}

/// Polls until `count` records arrived or `timeout` passed; a consumer error fails at once.
pub fn consume(
    consumer: &BaseConsumer,
    count: usize,
    timeout: Duration,
) -> Result<Vec<Received>, BoxError> {
    let deadline = Instant::now() + timeout;
    let mut received = Vec::with_capacity(count);
    while received.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "received only {} of {count} records within {timeout:?}",
                received.len()
            )
            .into());
        }
        match consumer.poll(left.min(Duration::from_millis(500))) {
            None => {}
            Some(Ok(message)) => received.push(Received::from_message(&message)),
            Some(Err(error)) => return Err(format!("consumer error: {error}").into()),
        }
    }
    Ok(received)
}

/// Reads every record of `topic` below each partition's high watermark, by partition.
pub fn read_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> Result<BTreeMap<i32, Vec<Received>>, BoxError> {
    let consumer = consumer(bootstrap, &[])?;
    let mut total = 0usize;
    let mut by_partition = BTreeMap::new();
    for partition in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(topic, partition, CLIENT_TIMEOUT)?;
        if low != 0 {
            return Err(format!("{topic}-{partition}: log start offset {low}, expected 0").into());
        }
        total += usize::try_from(high)?;
        by_partition.insert(partition, Vec::new());
    }
    assign(&consumer, topic, partitions, Offset::Beginning)?;
    for record in consume(&consumer, total, Duration::from_secs(60))? {
        by_partition
            .entry(record.partition)
            .or_insert_with(Vec::new)
            .push(record);
    }
    Ok(by_partition)
}

/// A small deterministic generator, so a failing run can be replayed exactly.
#[derive(Debug, Clone)]
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// How long one run of the `vltava` command line may take.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `vltava COMMAND ARGS` against `bootstrap` (given through VLTAVA_BOOTSTRAP, as a script
/// would) and returns its output, waiting at most `CLI_TIMEOUT`.
pub fn cli(bootstrap: &str, command: &str, args: &[&str]) -> Result<Output, BoxError> {
    cli_with_input(bootstrap, command, args, &[])
}

/// Starts `vltava COMMAND ARGS` against `bootstrap` with stdin, stdout and stderr piped.
pub fn spawn_cli(bootstrap: &str, command: &str, args: &[&str]) -> std::io::Result<Child> {
    Command::new(vltava_testkit::vltava_bin())
        .arg(command)
        .args(args)
        .env("VLTAVA_BOOTSTRAP", bootstrap)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
}

/// [`cli`] with `input` on the command's stdin (then closed).
pub fn cli_with_input(
    bootstrap: &str,
    command: &str,
    args: &[&str],
    input: &[u8],
) -> Result<Output, BoxError> {
    let mut child = spawn_cli(bootstrap, command, args)?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let input = input.to_vec();
    // A thread, so that a command that stops reading cannot block the test on a full pipe.
    std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&input);
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = rx
        .recv_timeout(CLI_TIMEOUT)
        .map_err(|_| format!("vltava {command} {args:?} did not finish in {CLI_TIMEOUT:?}"))??;
    Ok(output)
}

/// [`cli_with_input`] for a command that must succeed: its failure is an error naming its
/// stderr.
pub fn cli_ok(
    bootstrap: &str,
    command: &str,
    args: &[&str],
    input: &[u8],
) -> Result<Output, BoxError> {
    let output = cli_with_input(bootstrap, command, args, input)?;
    if !output.status.success() {
        return Err(format!(
            "vltava {command} {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(output)
}

/// The topic names in `vltava topic list --json`'s answer.
pub fn topic_names(listed: &serde_json::Value) -> Vec<String> {
    listed["topics"]
        .as_array()
        .map(|topics| {
            topics
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs a command that must succeed with `--json` and returns what it printed.
pub fn cli_json(
    bootstrap: &str,
    command: &str,
    args: &[&str],
) -> Result<serde_json::Value, BoxError> {
    let mut all = args.to_vec();
    all.push("--json");
    let output = cli_ok(bootstrap, command, &all, &[])?;
    Ok(serde_json::from_slice(&output.stdout)?)
}
