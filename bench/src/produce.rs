//! `produce`: K independent librdkafka producers, each on its own thread, sending fixed-size
//! records as fast as the client's queue admits them, or at a fixed rate (`--rate`), keyed or
//! not (`--keys`). Each record's send instant travels in its
//! delivery opaque (nanoseconds since the run's origin, a plain `usize`: no allocation per
//! record), and the delivery callback records send→ack latency in an HdrHistogram.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};

use crate::cli::ProduceArgs;
use crate::fanout::IdleConnections;
use crate::kafka_config::apply_overrides;
use crate::probe::rss_kib;
use crate::progress::{self, Progress};
pub use crate::report::new_histogram;
use crate::report::{LatencyUs, ProduceReport, mb_rate, rate};

/// Records sent between two non-blocking polls of the delivery-report queue.
const SENDS_PER_POLL: u64 = 1024;
const QUEUE_FULL_POLL: Duration = Duration::from_millis(1);
/// The resolution of librdkafka's poll timeout.
const POLL_GRANULE: Duration = Duration::from_millis(1);
const METADATA_TIMEOUT: Duration = Duration::from_secs(30);
/// librdkafka queue limits: high, so that the client queue is not what limits throughput.
const QUEUE_MESSAGES_MAX: &str = "2000000";
const QUEUE_KBYTES_MAX: &str = "2097151";

/// Delivery-callback state of one producer.
pub struct DeliveryStats {
    pub origin: Instant,
    pub latency_us: Mutex<Histogram<u64>>,
    pub acked: AtomicU64,
    pub failed: AtomicU64,
    last_ack_ns: AtomicU64,
    pub first_error: Mutex<Option<String>>,
}

impl DeliveryStats {
    pub fn new(origin: Instant) -> anyhow::Result<DeliveryStats> {
        Ok(DeliveryStats {
            origin,
            latency_us: Mutex::new(new_histogram()?),
            acked: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            last_ack_ns: AtomicU64::new(0),
            first_error: Mutex::new(None),
        })
    }
}

pub fn nanos_since(origin: Instant) -> u64 {
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

impl ClientContext for DeliveryStats {}

impl ProducerContext for DeliveryStats {
    /// Nanoseconds from `origin` to the send call.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_ns: usize) {
        let now_ns = nanos_since(self.origin);
        match result {
            Ok(_) => {
                self.acked.fetch_add(1, Ordering::Relaxed);
                let latency_us = now_ns.saturating_sub(sent_ns as u64) / 1000;
                if let Ok(mut h) = self.latency_us.lock() {
                    h.saturating_record(latency_us.max(1));
                }
            }
            Err((error, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| error.to_string());
                }
            }
        }
        self.last_ack_ns.fetch_max(now_ns, Ordering::Relaxed);
    }
}

fn producer_config(args: &ProduceArgs) -> anyhow::Result<ClientConfig> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.bootstrap)
        .set("acks", args.acks.as_config())
        .set("linger.ms", args.linger_ms.to_string())
        .set("batch.size", args.batch_bytes.to_string())
        .set("batch.num.messages", "1000000")
        .set("compression.type", args.compression.as_config())
        .set("enable.idempotence", args.idempotence.to_string())
        .set("queue.buffering.max.messages", QUEUE_MESSAGES_MAX)
        .set("queue.buffering.max.kbytes", QUEUE_KBYTES_MAX)
        .set("message.timeout.ms", "120000");
    apply_overrides(&mut config, &args.overrides)?;
    Ok(config)
}

pub fn run(args: &ProduceArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.producers >= 1, "--producers must be at least 1");
    anyhow::ensure!(args.partitions >= 1, "--partitions must be at least 1");
    let topic_configs = parse_pairs(&args.topic_configs)?;
    create_topic(
        &args.bootstrap,
        &args.topic,
        args.partitions,
        &topic_configs,
    )?;
    let config = producer_config(args)?;
    // Before the clock starts: the fan-out is the condition the run is measured under.
    let mut idle = IdleConnections::open(&args.bootstrap, args.idle_connections)?;
    let origin = Instant::now();
    let payload = payload(args.record_bytes);
    let deadline = origin + Duration::from_secs(args.duration_s_max);
    let start = Barrier::new(args.producers as usize);
    let start_ns = AtomicU64::new(u64::MAX);
    let queued = AtomicU64::new(0);
    let finished = AtomicBool::new(false);
    let results: Vec<anyhow::Result<(u64, BaseProducer<DeliveryStats>)>> =
        std::thread::scope(|scope| {
            let (queued, finished) = (&queued, &finished);
            let label = format!("produce {}", args.topic);
            scope.spawn(move || {
                progress::watch(
                    Progress::new(label, "records", args.records),
                    queued,
                    finished,
                );
            });
            let handles: Vec<_> = (0..args.producers)
                .map(|i| {
                    let share = records_share(args.records, args.producers, i);
                    let load = Load {
                        count: share,
                        keys: args.keys,
                        // Each producer sends its share of the rate.
                        rate: (args.rate > 0).then(|| args.rate as f64 / f64::from(args.producers)),
                        deadline,
                    };
                    let (config, payload, start, start_ns) = (&config, &payload, &start, &start_ns);
                    scope.spawn(move || {
                        let producer: BaseProducer<DeliveryStats> =
                            config.create_with_context(DeliveryStats::new(origin)?)?;
                        // Connect and learn the leader before the clock starts.
                        let warm = producer
                            .client()
                            .fetch_metadata(Some(&args.topic), METADATA_TIMEOUT);
                        start.wait();
                        warm.context("producer metadata")?;
                        start_ns.fetch_min(nanos_since(origin), Ordering::Relaxed);
                        let sent = send_all(&producer, &args.topic, payload, load, queued)?;
                        let remaining = deadline
                            .saturating_duration_since(Instant::now())
                            .max(Duration::from_secs(30));
                        producer.flush(remaining).context("flushing the producer")?;
                        Ok((sent, producer))
                    })
                })
                .collect();
            let results = handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("producer thread panicked")))
                })
                .collect();
            finished.store(true, Ordering::Relaxed);
            results
        });
    let start_ns = start_ns.load(Ordering::Relaxed);
    let mut report = summarise(args, results, start_ns)?;
    report.idle_connections = args.idle_connections;
    if args.idle_connections > 0 {
        report.idle_connections_answering = Some(idle.still_answering());
    }
    if let Some(pid) = args.broker_pid {
        report.broker_rss_kib = Some(rss_kib(pid, "VmRSS:")?);
        report.broker_hwm_kib = Some(rss_kib(pid, "VmHWM:")?);
    }
    debug_assert_eq!(idle.len(), args.idle_connections as usize);
    drop(idle);
    report.print(args.json)
}

fn summarise(
    args: &ProduceArgs,
    results: Vec<anyhow::Result<(u64, BaseProducer<DeliveryStats>)>>,
    start_ns: u64,
) -> anyhow::Result<ProduceReport> {
    let mut latency = new_histogram()?;
    let (mut sent, mut acked, mut failed, mut last_ns) = (0, 0, 0, start_ns);
    let mut first_error = None;
    for result in results {
        let (n, producer) = result?;
        let stats = producer.context();
        sent += n;
        acked += stats.acked.load(Ordering::Relaxed);
        failed += stats.failed.load(Ordering::Relaxed);
        last_ns = last_ns.max(stats.last_ack_ns.load(Ordering::Relaxed));
        if let Ok(h) = stats.latency_us.lock() {
            latency.add(&*h).context("merging histograms")?;
        }
        if first_error.is_none() {
            first_error = stats.first_error.lock().ok().and_then(|e| e.clone());
        }
    }
    let elapsed_s = last_ns.saturating_sub(start_ns) as f64 / 1e9;
    Ok(ProduceReport {
        topic: args.topic.clone(),
        acks: args.acks.as_config().to_string(),
        compression: args.compression.as_config().to_string(),
        partitions: args.partitions,
        producers: args.producers,
        record_bytes: args.record_bytes,
        keys: args.keys,
        rate: args.rate,
        records_requested: args.records,
        records_sent: sent,
        records_acked: acked,
        records_failed: failed,
        elapsed_s,
        records_per_s: rate(acked, elapsed_s),
        mb_per_s: mb_rate(acked * args.record_bytes as u64, elapsed_s),
        latency_us: LatencyUs::from_histogram(&latency),
        first_error,
        idle_connections: 0,
        idle_connections_answering: None,
        broker_rss_kib: None,
        broker_hwm_kib: None,
    })
}

/// What one producer sends.
#[derive(Debug, Clone, Copy)]
struct Load {
    count: u64,
    /// Keys cycled through (`key-0` …); 0: records without keys.
    keys: u64,
    /// Records per second, or as fast as possible.
    rate: Option<f64>,
    /// Stop early at this instant.
    deadline: Instant,
}

/// Sends `load.count` records (fewer if the deadline passes first); returns how many were
/// queued. At a fixed rate, record n leaves at n / rate after the start, never earlier, so a
/// stall is followed by a burst rather than by a lower rate (what a real service would do).
fn send_all(
    producer: &BaseProducer<DeliveryStats>,
    topic: &str,
    payload: &[u8],
    load: Load,
    queued: &AtomicU64,
) -> anyhow::Result<u64> {
    let origin = producer.context().origin;
    let started = Instant::now();
    let keys: Vec<String> = (0..load.keys).map(|k| format!("key-{k}")).collect();
    let (mut sent, mut reported) = (0, 0);
    while sent < load.count {
        if sent % SENDS_PER_POLL == 0 {
            queued.fetch_add(sent - reported, Ordering::Relaxed);
            reported = sent;
            producer.poll(Duration::ZERO);
            if Instant::now() >= load.deadline {
                break;
            }
        }
        if let Some(rate) = load.rate {
            // Records already due go out back to back; otherwise sleep until the next is due.
            wait_until(
                producer,
                started + Duration::from_secs_f64(sent as f64 / rate),
                spin_window(rate),
            );
        }
        let sent_ns = usize::try_from(nanos_since(origin)).unwrap_or(usize::MAX);
        let mut record = BaseRecord::with_opaque_to(topic, sent_ns).payload(payload);
        if !keys.is_empty() {
            record = record.key(keys[(sent % load.keys) as usize].as_str());
        }
        loop {
            match producer.send::<str, [u8]>(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(QUEUE_FULL_POLL);
                }
                Err((error, _)) => return Err(error).context("queueing a record"),
            }
        }
        sent += 1;
    }
    Ok(sent)
}

/// Blocks until `due`, serving delivery reports meanwhile, spinning at most `spin` of it;
/// returns how long after `due` it returned (the sender's lag behind its schedule).
///
/// librdkafka's poll timeout is in whole milliseconds, so `poll(due - now)` with under a
/// millisecond left is `poll(0)`: pacing with it alone is a busy loop that takes a core from
/// the broker and from the client's own threads on a small machine, and inflates the tails it
/// measures. Whole milliseconds go to `poll` (which wakes early for a delivery report); the
/// remainder is a plain sleep, except its last `spin` ([`spin_window`]), polled in a loop. A
/// sleep overshoots by the kernel's timer slack (~50–100 µs), so at rates above ~10,000/s the
/// records that fell due meanwhile leave as a small burst: each is still stamped when it is
/// actually handed to the client, and the overshoot shows up in the caller's schedule lag, not
/// in the latency.
pub fn wait_until<C: ProducerContext>(
    producer: &BaseProducer<C>,
    due: Instant,
    spin: Duration,
) -> Duration {
    // Bounded: every pass sleeps, polls for at least a millisecond, or spins its last `spin`.
    loop {
        let now = Instant::now();
        let Some(left) = due.checked_duration_since(now).filter(|d| !d.is_zero()) else {
            return now.saturating_duration_since(due);
        };
        if left >= POLL_GRANULE {
            producer.poll(Duration::from_millis(left.as_millis() as u64));
        } else {
            producer.poll(Duration::ZERO);
            if left > spin {
                std::thread::sleep(left - spin);
            }
        }
    }
}

/// How much of each wait before a send is spun rather than slept: an eighth of the interval
/// between records, at most 200 µs. Measured (W7: 1,000 records/s over 1,000 partitions, the
/// same broker, a quiet machine): sleeping up to the send made librdkafka's send→ack p50 8–20
/// ms against 1.4 ms for a client that spins all the time; spinning only the last 200 µs gave
/// 1.9 ms. Why librdkafka sends later after a sleep was not found. An eighth keeps the spin
/// under ~13 % of a core at any rate.
pub fn spin_window(rate_per_s: f64) -> Duration {
    const SPIN_MAX: Duration = Duration::from_micros(200);
    if rate_per_s <= 0.0 {
        return SPIN_MAX;
    }
    Duration::from_secs_f64(1.0 / rate_per_s / 8.0).min(SPIN_MAX)
}

/// Producer `index`'s part of `total`; the first producers take the remainder.
fn records_share(total: u64, producers: u32, index: u32) -> u64 {
    let (each, rest) = (total / u64::from(producers), total % u64::from(producers));
    each + u64::from(u64::from(index) < rest)
}

/// Upper-case letters from a fixed-seed generator, like Kafka's ProducerPerformance: compressible
/// about as much as text, and the same bytes every run.
pub fn payload(bytes: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..bytes)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            b'A' + ((state >> 33) % 26) as u8
        })
        .collect()
}

/// `KEY=VALUE` arguments as pairs.
fn parse_pairs(pairs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|pair| {
            let (key, value) = pair
                .split_once('=')
                .with_context(|| format!("{pair}: expected KEY=VALUE"))?;
            Ok((key.to_string(), value.to_string()))
        })
        .collect()
}

/// Creates `topic` with `partitions` (replication factor 1) unless it exists, then waits until
/// its metadata shows every partition with a leader.
pub fn ensure_topic(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    create_topic(bootstrap, topic, partitions, &[])
}

/// [`ensure_topic`] with topic configs, applied only if this call creates the topic.
fn create_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    configs: &[(String, String)],
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .context("creating the admin client")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a runtime for the admin client")?;
    let new_topic = configs.iter().fold(
        NewTopic::new(topic, partitions, TopicReplication::Fixed(1)),
        |new_topic, (key, value)| new_topic.set(key, value),
    );
    let options = AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT));
    let results = runtime
        .block_on(admin.create_topics([&new_topic], &options))
        .context("CreateTopics")?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("creating topic {name}: {code}"),
        }
    }
    let deadline = Instant::now() + METADATA_TIMEOUT;
    loop {
        let metadata = admin
            .inner()
            .fetch_metadata(Some(topic), METADATA_TIMEOUT)
            .context("Metadata")?;
        let ready = metadata.topics().iter().any(|t| {
            t.name() == topic
                && t.error().is_none()
                && t.partitions().len() == partitions as usize
                && t.partitions().iter().all(|p| p.leader() >= 0)
        });
        if ready {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "topic {topic} not ready in time");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CPU time this thread has used (Linux `schedstat`, nanoseconds on the CPU).
    fn thread_cpu() -> Duration {
        let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
        let ns: u64 = stat
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .expect("first field of schedstat");
        Duration::from_nanos(ns)
    }

    /// Guards against pacing by `poll(due - now)`, which librdkafka rounds down to `poll(0)`
    /// below a millisecond: a busy loop that took a core from the broker being measured.
    #[test]
    fn pacing_below_a_millisecond_sleeps_instead_of_spinning() {
        // No broker is needed to poll: the client just keeps trying to connect meanwhile.
        let producer: BaseProducer<DeliveryStats> = ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:1")
            .create_with_context(DeliveryStats::new(Instant::now()).expect("histogram"))
            .expect("producer");
        let step = Duration::from_micros(300);
        let (started, cpu_before) = (Instant::now(), thread_cpu());
        for n in 1..=200u32 {
            let due = started + step * n;
            wait_until(&producer, due, spin_window(1.0 / step.as_secs_f64()));
            assert!(Instant::now() >= due, "woke before record {n} was due");
        }
        let (wall, cpu) = (started.elapsed(), thread_cpu() - cpu_before);
        assert!(wall >= step * 200);
        // A spin would use the whole wall time; sleeping uses a few µs per wake-up.
        assert!(
            cpu < wall / 4,
            "pacing used {cpu:?} of CPU over {wall:?}: it spins"
        );
    }
}
