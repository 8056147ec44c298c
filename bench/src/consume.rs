//! `consume`: one librdkafka consumer assigned every partition of a topic from the beginning
//! (no consumer group), reading until it has seen the requested number of records.

use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::cli::ConsumeArgs;
use crate::kafka_config::apply_overrides;
use crate::progress::Progress;
use crate::report::{ConsumeReport, mb_rate, rate};

const METADATA_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_TIMEOUT: Duration = Duration::from_millis(100);

pub fn run(args: &ConsumeArgs) -> anyhow::Result<()> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.bootstrap)
        // librdkafka refuses assign() without a group.id; nothing is committed to the group.
        .set("group.id", "vltava-bench")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        // librdkafka stops fetching for fetch.queue.backoff.ms (default 1 s) whenever its local
        // queue holds queued.min.messages (default 100,000): one 16 MB fetch of 100-byte records
        // exceeds that, which capped reads near 140k records/s. Keep the fetcher running.
        .set("queued.min.messages", "10000000")
        .set("queued.max.messages.kbytes", "1048576")
        .set("fetch.queue.backoff.ms", "5")
        .set(
            "max.partition.fetch.bytes",
            args.partition_fetch_bytes.to_string(),
        )
        .set(
            "fetch.max.bytes",
            (4 * args.partition_fetch_bytes).to_string(),
        )
        .set(
            "receive.message.max.bytes",
            (4 * args.partition_fetch_bytes + 1_000_000).to_string(),
        );
    apply_overrides(&mut config, &args.overrides)?;
    if config.get("debug").is_some() {
        config.set_log_level(RDKafkaLogLevel::Debug);
    }
    let consumer: BaseConsumer<StderrLog> = config
        .create_with_context(StderrLog)
        .context("creating the consumer")?;
    let metadata = consumer
        .fetch_metadata(Some(&args.topic), METADATA_TIMEOUT)
        .context("Metadata")?;
    let topic = metadata
        .topics()
        .iter()
        .find(|t| t.name() == args.topic && t.error().is_none())
        .with_context(|| format!("topic {} not found", args.topic))?;
    let mut assignment = TopicPartitionList::new();
    for partition in topic.partitions() {
        assignment.add_partition_offset(&args.topic, partition.id(), Offset::Beginning)?;
    }
    let partitions = topic.partitions().len();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.duration_s_max);
    consumer
        .assign(&assignment)
        .context("assigning partitions")?;
    let (mut records, mut bytes, mut last) = (0u64, 0u64, start);
    let mut progress = Progress::new(format!("consume {}", args.topic), "records", args.records);
    while records < args.records && Instant::now() < deadline {
        progress.tick(records);
        match consumer.poll(POLL_TIMEOUT) {
            Some(Ok(message)) => {
                records += 1;
                bytes += message.payload_len() as u64;
                last = Instant::now();
            }
            Some(Err(error)) => return Err(error).context("consuming"),
            None => {}
        }
    }
    let elapsed_s = last.duration_since(start).as_secs_f64();
    ConsumeReport {
        topic: args.topic.clone(),
        partitions,
        records_requested: args.records,
        records,
        bytes,
        elapsed_s,
        records_per_s: rate(records, elapsed_s),
        mb_per_s: mb_rate(bytes, elapsed_s),
    }
    .print(args.json)
}

/// Prints librdkafka's log lines (e.g. with `--set debug=fetch`) to stderr.
struct StderrLog;

impl ClientContext for StderrLog {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        eprintln!("librdkafka {level:?} {fac}: {log_message}");
    }
}

impl ConsumerContext for StderrLog {}
