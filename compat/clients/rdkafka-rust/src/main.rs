//! The compatibility scenarios with the Rust `rdkafka` crate (librdkafka 2.10 built from source).
//! `run --bootstrap HOST:PORT --prefix PREFIX [--previous-prefix P] [--only ID,ID...]` prints one JSON line per
//! scenario on stdout; logs go to stderr. Each scenario is bounded by its own timeouts.

mod extra;
mod groups;
mod txn;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{DeliveryResult, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

const WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);
const CODECS: [&str; 4] = ["gzip", "snappy", "lz4", "zstd"];
const MURMUR2_PARTITIONS: i32 = 12;

struct Args {
    bootstrap: String,
    prefix: String,
    previous_prefix: Option<String>,
    /// `--only ID,ID...`: the scenarios to run (default: all).
    only: Option<Vec<String>>,
}

/// What a scenario ends with: pass with a detail, or fail with what was seen. (Every
/// scenario runs on librdkafka: none is skipped.)
enum Outcome {
    Pass(String),
}

type Scenario = fn(&Args) -> Result<Outcome, String>;

fn parse_args() -> Result<Args, String> {
    let mut bootstrap = None;
    let mut prefix = None;
    let mut previous_prefix = None;
    let mut only = None;
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let value = argv.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--bootstrap" => bootstrap = Some(value),
            "--prefix" => prefix = Some(value),
            "--previous-prefix" => previous_prefix = Some(value),
            "--only" => only = Some(value.split(',').map(str::to_string).collect()),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(Args {
        bootstrap: bootstrap.ok_or("--bootstrap is required")?,
        prefix: prefix.ok_or("--prefix is required")?,
        previous_prefix,
        only,
    })
}

fn check(condition: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(message())
    }
}

fn config(args: &Args) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &args.bootstrap);
    config
}

fn admin(args: &Args) -> Result<AdminClient<DefaultClientContext>, String> {
    config(args).create().map_err(|e| e.to_string())
}

/// A minimal executor for the admin futures: rdkafka completes them from its own thread, so
/// polling with a thread-parking waker is enough.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park_timeout(POLL);
    }
}

/// Creates a topic and waits until metadata shows all its partitions with a leader.
fn create_topic(
    args: &Args,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> Result<(), String> {
    let client = admin(args)?;
    let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        new_topic = new_topic.set(key, value);
    }
    let results = block_on(client.create_topics(
        [&new_topic],
        &AdminOptions::new().operation_timeout(Some(WAIT)),
    ))
    .map_err(|e| e.to_string())?;
    for result in results {
        result.map_err(|(name, code)| format!("create {name}: {code:?}"))?;
    }
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let metadata = client
            .inner()
            .fetch_metadata(Some(topic), WAIT)
            .map_err(|e| e.to_string())?;
        let ready = metadata.topics().iter().any(|t| {
            t.error().is_none()
                && t.partitions().len() == partitions as usize
                && t.partitions().iter().all(|p| p.leader() >= 0)
        });
        if ready {
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
    Err(format!("{topic}: no leaders after {WAIT:?}"))
}

/// A record's key and the partition it was delivered to.
type Landed = (Option<Vec<u8>>, i32);
/// An owned key and value, either possibly null.
type OwnedRecord = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Collects each delivery report: Ok((key, partition)) or the error.
#[derive(Default)]
struct Deliveries(Mutex<Vec<Result<Landed, String>>>);

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        let entry = match result {
            Ok(message) => Ok((message.key().map(<[u8]>::to_vec), message.partition())),
            Err((error, _)) => Err(error.to_string()),
        };
        if let Ok(mut list) = self.0.lock() {
            list.push(entry);
        }
    }
}

type Record<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// Produces records in order and returns (key, partition) per delivery, or the first error.
fn produce(
    args: &Args,
    topic: &str,
    records: &[Record<'_>],
    settings: &[(&str, &str)],
    headers: Option<OwnedHeaders>,
) -> Result<Vec<Landed>, String> {
    let mut producer_config = config(args);
    producer_config.set("acks", "all").set("linger.ms", "5");
    for (key, value) in settings {
        producer_config.set(*key, *value);
    }
    let producer: BaseProducer<Deliveries> = producer_config
        .create_with_context(Deliveries::default())
        .map_err(|e| e.to_string())?;
    for (key, value) in records {
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(value) = value {
            record = record.payload(value);
        }
        if let Some(headers) = &headers {
            record = record.headers(headers.clone());
        }
        producer
            .send(record)
            .map_err(|(error, _)| error.to_string())?;
        producer.poll(Duration::ZERO);
    }
    producer.flush(WAIT).map_err(|e| e.to_string())?;
    let delivered = producer
        .context()
        .0
        .lock()
        .map_err(|e| e.to_string())?
        .clone();
    delivered.into_iter().collect()
}

/// A record as read back: partition, offset, key, value, headers.
type Read = (
    i32,
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, Option<Vec<u8>>)>,
);

fn read_topic(
    args: &Args,
    topic: &str,
    partitions: i32,
    count: usize,
) -> Result<Vec<Read>, String> {
    read_topic_with(args, topic, partitions, count, &[])
}

/// [`read_topic`] with extra consumer settings.
fn read_topic_with(
    args: &Args,
    topic: &str,
    partitions: i32,
    count: usize,
    settings: &[(&str, &str)],
) -> Result<Vec<Read>, String> {
    let mut consumer_config = config(args);
    consumer_config
        .set("group.id", format!("{}-unused", args.prefix))
        .set("enable.auto.commit", "false");
    for (key, value) in settings {
        consumer_config.set(*key, *value);
    }
    let consumer: BaseConsumer = consumer_config.create().map_err(|e| e.to_string())?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .map_err(|e| e.to_string())?;
    }
    consumer.assign(&assignment).map_err(|e| e.to_string())?;
    let mut read = Vec::new();
    let deadline = Instant::now() + WAIT;
    while read.len() < count && Instant::now() < deadline {
        match consumer.poll(POLL) {
            None => {}
            Some(Err(error)) => return Err(format!("consume {topic}: {error}")),
            Some(Ok(message)) => {
                let headers = message
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|header| {
                                (header.key.to_string(), header.value.map(<[u8]>::to_vec))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                read.push((
                    message.partition(),
                    message.offset(),
                    message.key().map(<[u8]>::to_vec),
                    message.payload().map(<[u8]>::to_vec),
                    headers,
                ));
            }
        }
    }
    check(read.len() == count, || {
        format!("{topic}: read {} of {count}", read.len())
    })?;
    Ok(read)
}

fn metadata(args: &Args) -> Result<Outcome, String> {
    let topic = format!("{}-metadata", args.prefix);
    create_topic(args, &topic, 3, &[])?;
    let client = admin(args)?;
    let metadata = client
        .inner()
        .fetch_metadata(None, WAIT)
        .map_err(|e| e.to_string())?;
    check(!metadata.brokers().is_empty(), || "no brokers".into())?;
    let found = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or(format!("{topic} not listed"))?;
    check(found.partitions().len() == 3, || {
        format!("{} partitions, want 3", found.partitions().len())
    })?;
    Ok(Outcome::Pass(format!(
        "{} broker(s), {topic} with 3 partitions",
        metadata.brokers().len()
    )))
}

fn produce_consume(args: &Args) -> Result<Outcome, String> {
    let topic = format!("{}-produce-consume", args.prefix);
    create_topic(args, &topic, 3, &[])?;
    let owned: Vec<(Vec<u8>, Vec<u8>)> = (0..300)
        .map(|i| {
            (
                format!("key-{}", i % 10).into_bytes(),
                i.to_string().into_bytes(),
            )
        })
        .collect();
    let records: Vec<Record<'_>> = owned
        .iter()
        .map(|(k, v)| (Some(k.as_slice()), Some(v.as_slice())))
        .collect();
    let delivered = produce(args, &topic, &records, &[], None)?;
    let partition_of: BTreeMap<Vec<u8>, i32> = delivered
        .into_iter()
        .filter_map(|(k, p)| k.map(|k| (k, p)))
        .collect();
    let read = read_topic(args, &topic, 3, 300)?;
    let mut values: Vec<i64> = read
        .iter()
        .filter_map(|r| std::str::from_utf8(r.3.as_deref()?).ok()?.parse().ok())
        .collect();
    for (partition, _, key, _, _) in &read {
        check(
            key.as_ref().and_then(|k| partition_of.get(k)) == Some(partition),
            || "a key read from another partition".into(),
        )?;
    }
    for partition in 0..3 {
        let sequence: Vec<i64> = read
            .iter()
            .filter(|r| r.0 == partition)
            .filter_map(|r| std::str::from_utf8(r.3.as_deref()?).ok()?.parse().ok())
            .collect();
        check(sequence.windows(2).all(|w| w[0] < w[1]), || {
            format!("partition {partition} out of order")
        })?;
    }
    values.sort_unstable();
    check(values == (0..300).collect::<Vec<i64>>(), || {
        "records lost or duplicated".into()
    })?;
    Ok(Outcome::Pass(
        "300 keyed records, order kept per partition".into(),
    ))
}

fn headers(args: &Args) -> Result<Outcome, String> {
    let topic = format!("{}-headers", args.prefix);
    create_topic(args, &topic, 1, &[])?;
    let binary: &[u8] = &[0, 255, 1, 128];
    let sent = OwnedHeaders::new()
        .insert(Header {
            key: "h",
            value: Some("first"),
        })
        .insert(Header {
            key: "h",
            value: Some("second"),
        })
        .insert(Header {
            key: "bin",
            value: Some(binary),
        })
        .insert(Header {
            key: "empty",
            value: Some(""),
        });
    produce(args, &topic, &[(Some(b"k"), Some(b"v"))], &[], Some(sent))?;
    let read = read_topic(args, &topic, 1, 1)?;
    let want: Vec<(String, Option<Vec<u8>>)> = vec![
        ("h".into(), Some(b"first".to_vec())),
        ("h".into(), Some(b"second".to_vec())),
        ("bin".into(), Some(binary.to_vec())),
        ("empty".into(), Some(Vec::new())),
    ];
    check(read[0].4 == want, || format!("headers {:?}", read[0].4))?;
    Ok(Outcome::Pass(
        "repeated key, binary and empty values kept in order".into(),
    ))
}

fn null_and_empty_values(args: &Args) -> Result<Outcome, String> {
    let topic = format!("{}-null-empty", args.prefix);
    create_topic(args, &topic, 1, &[])?;
    let records: [Record<'_>; 4] = [
        (Some(b"tombstone"), None),
        (Some(b"empty"), Some(b"")),
        (Some(b""), Some(b"empty-key")),
        (None, Some(b"null-key")),
    ];
    produce(args, &topic, &records, &[], None)?;
    let read = read_topic(args, &topic, 1, 4)?;
    let seen: Vec<OwnedRecord> = read.into_iter().map(|r| (r.2, r.3)).collect();
    let want: Vec<OwnedRecord> = records
        .iter()
        .map(|(k, v)| (k.map(<[u8]>::to_vec), v.map(<[u8]>::to_vec)))
        .collect();
    check(seen == want, || format!("read {seen:?}"))?;
    Ok(Outcome::Pass(
        "null value, empty value, empty key, null key distinct".into(),
    ))
}

fn codec_records() -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..100)
        .map(|i| (format!("k{i}").into_bytes(), format!("v{i}").into_bytes()))
        .collect()
}

fn compare_codec(args: &Args, topic: &str) -> Result<(), String> {
    let read = read_topic(args, topic, 1, 100)?;
    let seen: Vec<(Vec<u8>, Vec<u8>)> = read
        .into_iter()
        .map(|r| (r.2.unwrap_or_default(), r.3.unwrap_or_default()))
        .collect();
    check(seen == codec_records(), || {
        format!("{topic}: records differ")
    })
}

fn compression(args: &Args, codec: &str) -> Result<Outcome, String> {
    let topic = format!("{}-codec-{codec}", args.prefix);
    create_topic(args, &topic, 1, &[])?;
    let owned = codec_records();
    let records: Vec<Record<'_>> = owned
        .iter()
        .map(|(k, v)| (Some(k.as_slice()), Some(v.as_slice())))
        .collect();
    produce(
        args,
        &topic,
        &records,
        &[("compression.type", codec), ("linger.ms", "50")],
        None,
    )?;
    compare_codec(args, &topic)?;
    match &args.previous_prefix {
        None => Ok(Outcome::Pass(format!(
            "100 {codec} records (no previous client)"
        ))),
        Some(previous) => {
            let previous_topic = format!("{previous}-codec-{codec}");
            compare_codec(args, &previous_topic)?;
            Ok(Outcome::Pass(format!(
                "100 {codec} records, and {previous_topic} read back"
            )))
        }
    }
}

fn partitioner_murmur2(args: &Args) -> Result<Outcome, String> {
    let topic = format!("{}-murmur2", args.prefix);
    create_topic(args, &topic, MURMUR2_PARTITIONS, &[])?;
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../expected/murmur2-12.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let expected: BTreeMap<String, i32> = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let records: Vec<Record<'_>> = expected
        .keys()
        .map(|k| (Some(k.as_bytes()), Some(&b"x"[..])))
        .collect();
    let delivered = produce(
        args,
        &topic,
        &records,
        &[("partitioner", "murmur2_random")],
        None,
    )?;
    let wrong = delivered
        .iter()
        .filter(|(key, partition)| {
            key.as_ref()
                .and_then(|k| expected.get(&*String::from_utf8_lossy(k)))
                != Some(partition)
        })
        .count();
    check(wrong == 0 && delivered.len() == expected.len(), || {
        format!("{wrong} keys elsewhere than Java puts them")
    })?;
    Ok(Outcome::Pass("100 keys where Java puts them".into()))
}

fn idempotent_producer(args: &Args) -> Result<Outcome, String> {
    let topic = format!("{}-idempotent", args.prefix);
    create_topic(args, &topic, 1, &[])?;
    let owned: Vec<Vec<u8>> = (0..1000).map(|i: i32| i.to_string().into_bytes()).collect();
    let records: Vec<Record<'_>> = owned.iter().map(|v| (None, Some(v.as_slice()))).collect();
    produce(
        args,
        &topic,
        &records,
        &[("enable.idempotence", "true")],
        None,
    )?;
    let read = read_topic(args, &topic, 1, 1000)?;
    check(
        read.iter()
            .map(|r| r.3.clone())
            .eq(owned.into_iter().map(Some)),
        || "duplicated or out of order".into(),
    )?;
    Ok(Outcome::Pass("1000 records once, in order".into()))
}

fn expect_create_error(
    args: &Args,
    topic: &str,
    code: RDKafkaErrorCode,
) -> Result<Outcome, String> {
    let client = admin(args)?;
    let new_topic = NewTopic::new(topic, 1, TopicReplication::Fixed(1));
    let results = block_on(client.create_topics([&new_topic], &AdminOptions::new()))
        .map_err(|e| e.to_string())?;
    match results.first() {
        Some(Err((_, got))) if *got == code => Ok(Outcome::Pass(format!("{code:?}"))),
        other => Err(format!("creating {topic:?}: {other:?}, want {code:?}")),
    }
}

fn error_invalid_topic_name(args: &Args) -> Result<Outcome, String> {
    expect_create_error(args, "bad name!", RDKafkaErrorCode::InvalidTopic)
}

fn error_topic_exists(args: &Args) -> Result<Outcome, String> {
    let topic = format!("{}-exists", args.prefix);
    create_topic(args, &topic, 1, &[])?;
    expect_create_error(args, &topic, RDKafkaErrorCode::TopicAlreadyExists)
}

fn error_unknown_topic(args: &Args) -> Result<Outcome, String> {
    let topic = format!("{}-missing", args.prefix);
    let client = admin(args)?;
    let metadata = client
        .inner()
        .fetch_metadata(Some(&topic), WAIT)
        .map_err(|e| e.to_string())?;
    let error = metadata.topics().first().and_then(|t| t.error());
    check(
        error.map(RDKafkaErrorCode::from) == Some(RDKafkaErrorCode::UnknownTopicOrPartition),
        || format!("metadata error {error:?}"),
    )?;
    Ok(Outcome::Pass("metadata: UnknownTopicOrPartition".into()))
}

fn compression_gzip(args: &Args) -> Result<Outcome, String> {
    compression(args, CODECS[0])
}
fn compression_snappy(args: &Args) -> Result<Outcome, String> {
    compression(args, CODECS[1])
}
fn compression_lz4(args: &Args) -> Result<Outcome, String> {
    compression(args, CODECS[2])
}
fn compression_zstd(args: &Args) -> Result<Outcome, String> {
    compression(args, CODECS[3])
}

fn emit(scenario: &str, status: &str, detail: &str) {
    let line = serde_json::json!({"scenario": scenario, "status": status, "detail": detail});
    println!("{line}");
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("rdkafka-rust: {message}");
            return std::process::ExitCode::from(2);
        }
    };
    let scenarios: [(&str, Scenario); 23] = [
        ("metadata", metadata),
        ("produce_consume", produce_consume),
        ("headers", headers),
        ("null_and_empty_values", null_and_empty_values),
        ("value_1mib", extra::value_1mib),
        ("compression_gzip", compression_gzip),
        ("compression_snappy", compression_snappy),
        ("compression_lz4", compression_lz4),
        ("compression_zstd", compression_zstd),
        ("partitioner_murmur2", partitioner_murmur2),
        ("consumer_group", groups::consumer_group),
        ("commit_and_resume", extra::commit_and_resume),
        ("seek", extra::seek),
        ("idempotent_producer", idempotent_producer),
        ("transactions", txn::transactions),
        ("admin_topics", extra::admin_topics),
        ("admin_configs", extra::admin_configs),
        ("admin_groups", groups::admin_groups),
        ("admin_delete_records", extra::admin_delete_records),
        ("error_unknown_topic", error_unknown_topic),
        ("error_record_too_large", extra::error_record_too_large),
        ("error_invalid_topic_name", error_invalid_topic_name),
        ("error_topic_exists", error_topic_exists),
    ];
    for (name, scenario) in scenarios {
        if args
            .only
            .as_ref()
            .is_some_and(|only| !only.iter().any(|id| id == name))
        {
            continue;
        }
        let started = Instant::now();
        let (status, detail) = match scenario(&args) {
            Ok(Outcome::Pass(detail)) => ("pass", detail),
            Err(detail) => ("fail", detail),
        };
        eprintln!(
            "scenario {name}: {status} in {:.1} s: {detail}",
            started.elapsed().as_secs_f64()
        );
        emit(name, status, &detail);
    }
    std::process::ExitCode::SUCCESS
}
