//! `e2e`: end-to-end latency. One producer sends at a fixed rate while one consumer, assigned
//! every partition from its current end (no group), reads the same records. Each record value
//! starts with its sequence number and the instant it was handed to the client (nanoseconds
//! since the run's origin, both little-endian u64), so producer and consumer, being one
//! process, share a clock. Latency = receipt by the consumer's `poll` − that instant: the
//! client's batching, the produce request, the broker's append (and fsync, for vltava with
//! acks=all), the high watermark moving, the fetch and the consumer's queue.
//!
//! Before the timed run, one warm-up record per partition must come back, so that connection
//! set-up and the first ListOffsets/Fetch round trips are not counted.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::Serialize;

use crate::cli::E2eArgs;
use crate::kafka_config::apply_overrides;
use crate::produce::{
    DeliveryStats, ensure_topic, nanos_since, new_histogram, payload, spin_window, wait_until,
};
use crate::progress::Progress;
use crate::report::LatencyUs;

/// Sequence numbers at or above this mark warm-up records, which are not measured.
const WARMUP_SEQ: u64 = 1 << 63;
/// Bytes of the value prefix: sequence number, then send instant.
const PREFIX_BYTES: usize = 16;
const WARMUP_TIMEOUT: Duration = Duration::from_secs(30);
const METADATA_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_TIMEOUT: Duration = Duration::from_millis(50);
const QUEUE_FULL_POLL: Duration = Duration::from_millis(1);
/// Bound on the records of one run: the duplicate check keeps one bit per record.
const RECORDS_MAX: u64 = 100_000_000;

/// What the consumer thread has seen, shared with the producer side.
struct Seen {
    latency_us: Mutex<Histogram<u64>>,
    warmups: AtomicU64,
    distinct: AtomicU64,
    duplicates: AtomicU64,
    /// Records whose prefix could not be read, or whose sequence number was never sent.
    foreign: AtomicU64,
}

/// When the consumer may stop: all `target` records seen, or past `deadline_ns` (both set by
/// the producer side once it has finished; `u64::MAX` until then).
struct Stop {
    target: AtomicU64,
    deadline_ns: AtomicU64,
}

#[derive(Debug, Serialize)]
pub struct E2eReport {
    pub topic: String,
    pub partitions: i32,
    pub record_bytes: usize,
    pub rate: u64,
    pub acks: String,
    pub linger_ms: u64,
    pub records_sent: u64,
    pub records_acked: u64,
    pub records_failed: u64,
    /// Distinct measured records the consumer read.
    pub records_consumed: u64,
    pub records_missing: u64,
    pub duplicates: u64,
    pub foreign: u64,
    /// First to last send, and the rate that achieved.
    pub send_s: f64,
    pub records_per_s: f64,
    /// Most the sender fell behind its schedule (a client-side stall), µs.
    pub schedule_lag_max_us: u64,
    /// Send → read by the consumer.
    pub latency_us: LatencyUs,
    /// Send → acknowledged to the producer, for the same records.
    pub ack_latency_us: LatencyUs,
    pub first_error: Option<String>,
}

pub fn run(args: &E2eArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.rate >= 1, "--rate must be at least 1");
    anyhow::ensure!(
        args.record_bytes >= PREFIX_BYTES,
        "--record-bytes must be at least {PREFIX_BYTES}"
    );
    let records = args.rate.saturating_mul(args.seconds);
    anyhow::ensure!(
        records <= RECORDS_MAX,
        "rate × seconds at most {RECORDS_MAX}"
    );
    ensure_topic(&args.bootstrap, &args.topic, args.partitions)?;
    let origin = Instant::now();
    let consumer = consumer_from_end(args)?;
    let producer = producer(args, origin)?;
    let seen = Seen {
        latency_us: Mutex::new(new_histogram()?),
        warmups: AtomicU64::new(0),
        distinct: AtomicU64::new(0),
        duplicates: AtomicU64::new(0),
        foreign: AtomicU64::new(0),
    };
    let stop = Stop {
        target: AtomicU64::new(u64::MAX),
        deadline_ns: AtomicU64::new(u64::MAX),
    };
    let failed_consumer = AtomicBool::new(false);
    let outcome = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let result = consume(&consumer, origin, records, &seen, &stop);
            if result.is_err() {
                failed_consumer.store(true, Ordering::Relaxed);
            }
            result
        });
        let sent = warm_up(&producer, args, &seen, &failed_consumer)
            .and_then(|()| send_at_rate(&producer, args, records));
        // Whatever happened, let the reader finish: everything acknowledged, or the drain bound.
        let acked = producer.context().acked.load(Ordering::Relaxed);
        let drain = Duration::from_secs(args.drain_s_max);
        stop.target.store(
            acked.saturating_sub(u64::from(args.partitions.unsigned_abs())),
            Ordering::Relaxed,
        );
        stop.deadline_ns.store(
            nanos_since(origin) + drain.as_nanos() as u64,
            Ordering::Relaxed,
        );
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("consumer thread panicked")));
        sent.and_then(|sent| read.map(|()| sent))
    });
    let (sent, send_s, lag_us) = outcome?;
    report(args, &producer, &seen, sent, send_s, lag_us)?.print(args.json)
}

fn consumer_from_end(args: &E2eArgs) -> anyhow::Result<BaseConsumer> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        // librdkafka refuses assign() without a group.id; nothing is committed.
        .set("group.id", "vltava-bench-e2e")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .create()
        .context("creating the consumer")?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..args.partitions {
        // The end as the broker reports it now, before anything is sent: an explicit offset,
        // so a record sent before the consumer resolves "end" is still read.
        let (_, high) = consumer
            .fetch_watermarks(&args.topic, partition, METADATA_TIMEOUT)
            .with_context(|| format!("ListOffsets of partition {partition}"))?;
        assignment.add_partition_offset(&args.topic, partition, Offset::Offset(high))?;
    }
    consumer
        .assign(&assignment)
        .context("assigning partitions")?;
    Ok(consumer)
}

fn producer(args: &E2eArgs, origin: Instant) -> anyhow::Result<BaseProducer<DeliveryStats>> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.bootstrap)
        .set("acks", args.acks.as_config())
        .set("linger.ms", args.linger_ms.to_string())
        .set("compression.type", args.compression.as_config())
        .set("enable.idempotence", "false")
        .set("message.timeout.ms", "60000");
    apply_overrides(&mut config, &args.overrides)?;
    let producer: BaseProducer<DeliveryStats> = config
        .create_with_context(DeliveryStats::new(origin)?)
        .context("creating the producer")?;
    producer
        .client()
        .fetch_metadata(Some(&args.topic), METADATA_TIMEOUT)
        .context("producer metadata")?;
    Ok(producer)
}

/// The value of record `seq`: `template` with the sequence number and `sent_ns` in front.
fn stamp(template: &mut [u8], seq: u64, sent_ns: u64) {
    template[..8].copy_from_slice(&seq.to_le_bytes());
    template[8..PREFIX_BYTES].copy_from_slice(&sent_ns.to_le_bytes());
}

fn unstamp(value: &[u8]) -> Option<(u64, u64)> {
    let seq = u64::from_le_bytes(value.get(..8)?.try_into().ok()?);
    let sent_ns = u64::from_le_bytes(value.get(8..PREFIX_BYTES)?.try_into().ok()?);
    Some((seq, sent_ns))
}

/// Sends one record to every partition and waits until the consumer has read them all.
fn warm_up(
    producer: &BaseProducer<DeliveryStats>,
    args: &E2eArgs,
    seen: &Seen,
    failed_consumer: &AtomicBool,
) -> anyhow::Result<()> {
    let origin = producer.context().origin;
    let mut value = payload(args.record_bytes);
    for partition in 0..args.partitions {
        let sent_ns = nanos_since(origin);
        stamp(&mut value, WARMUP_SEQ + partition as u64, sent_ns);
        let record = BaseRecord::with_opaque_to(&args.topic, sent_ns as usize)
            .partition(partition)
            .payload(&value[..]);
        producer
            .send::<(), [u8]>(record)
            .map_err(|(error, _)| error)
            .context("sending a warm-up record")?;
    }
    let deadline = Instant::now() + WARMUP_TIMEOUT;
    let warmups = args.partitions as u64;
    // Read back, and acknowledged (the ack may come after the fetch that read it).
    while seen.warmups.load(Ordering::Relaxed) < warmups
        || producer.context().acked.load(Ordering::Relaxed) < warmups
    {
        anyhow::ensure!(
            !failed_consumer.load(Ordering::Relaxed),
            "the consumer failed during warm-up"
        );
        anyhow::ensure!(
            Instant::now() < deadline,
            "warm-up records not read back within {WARMUP_TIMEOUT:?}"
        );
        producer.poll(Duration::from_millis(1));
    }
    // The warm-up acks are not part of the measured ack latency.
    producer
        .context()
        .latency_us
        .lock()
        .map(|mut h| h.reset())
        .ok();
    Ok(())
}

/// Sends `records` on a fixed schedule (record n at n / rate); returns how many were sent, the
/// seconds from first to last send, and the most the sender fell behind, µs.
fn send_at_rate(
    producer: &BaseProducer<DeliveryStats>,
    args: &E2eArgs,
    records: u64,
) -> anyhow::Result<(u64, f64, u64)> {
    let origin = producer.context().origin;
    let mut value = payload(args.record_bytes);
    let mut progress = Progress::new(format!("e2e {}", args.topic), "records", records);
    let started = Instant::now();
    let mut lag_max = Duration::ZERO;
    let mut last_send = started;
    let spin = spin_window(args.rate as f64);
    for seq in 0..records {
        progress.tick(seq);
        let due = started + Duration::from_secs_f64(seq as f64 / args.rate as f64);
        // Sleeps (spinning only the last moment) until due; records that fell due during one
        // sleep leave as a burst, each stamped below at its own send instant.
        lag_max = lag_max.max(wait_until(producer, due, spin));
        let sent_ns = nanos_since(origin);
        stamp(&mut value, seq, sent_ns);
        let mut record =
            BaseRecord::with_opaque_to(&args.topic, sent_ns as usize).payload(&value[..]);
        loop {
            match producer.send::<(), [u8]>(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(QUEUE_FULL_POLL);
                }
                Err((error, _)) => return Err(error).context("queueing a record"),
            }
        }
        last_send = Instant::now();
    }
    producer
        .flush(Duration::from_secs(args.drain_s_max))
        .context("flushing the producer")?;
    let send_s = last_send.duration_since(started).as_secs_f64();
    Ok((records, send_s, lag_max.as_micros() as u64))
}

/// Reads until every record is seen or the stop deadline passes.
fn consume(
    consumer: &BaseConsumer,
    origin: Instant,
    records: u64,
    seen: &Seen,
    stop: &Stop,
) -> anyhow::Result<()> {
    let mut got = vec![false; records as usize];
    loop {
        let distinct = seen.distinct.load(Ordering::Relaxed);
        if distinct >= stop.target.load(Ordering::Relaxed).min(records)
            && stop.target.load(Ordering::Relaxed) != u64::MAX
        {
            return Ok(());
        }
        if nanos_since(origin) >= stop.deadline_ns.load(Ordering::Relaxed) {
            return Ok(());
        }
        let message = match consumer.poll(POLL_TIMEOUT) {
            None => continue,
            Some(message) => message.context("consuming")?,
        };
        let now_ns = nanos_since(origin);
        let Some((seq, sent_ns)) = message.payload().and_then(unstamp) else {
            seen.foreign.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        if seq >= WARMUP_SEQ {
            seen.warmups.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        match got.get_mut(seq as usize) {
            None => {
                seen.foreign.fetch_add(1, Ordering::Relaxed);
            }
            Some(true) => {
                seen.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            Some(slot) => {
                *slot = true;
                seen.distinct.fetch_add(1, Ordering::Relaxed);
                let latency_us = now_ns.saturating_sub(sent_ns) / 1000;
                if let Ok(mut h) = seen.latency_us.lock() {
                    h.saturating_record(latency_us.max(1));
                }
            }
        }
    }
}

fn report(
    args: &E2eArgs,
    producer: &BaseProducer<DeliveryStats>,
    seen: &Seen,
    sent: u64,
    send_s: f64,
    lag_us: u64,
) -> anyhow::Result<E2eReport> {
    let stats = producer.context();
    let warmups = u64::from(args.partitions.unsigned_abs());
    let acked = stats.acked.load(Ordering::Relaxed).saturating_sub(warmups);
    let consumed = seen.distinct.load(Ordering::Relaxed);
    let latency = seen
        .latency_us
        .lock()
        .map_err(|_| anyhow::anyhow!("latency histogram poisoned"))?;
    let ack_latency = stats
        .latency_us
        .lock()
        .map_err(|_| anyhow::anyhow!("ack histogram poisoned"))?;
    Ok(E2eReport {
        topic: args.topic.clone(),
        partitions: args.partitions,
        record_bytes: args.record_bytes,
        rate: args.rate,
        acks: args.acks.as_config().to_string(),
        linger_ms: args.linger_ms,
        records_sent: sent,
        records_acked: acked,
        records_failed: stats.failed.load(Ordering::Relaxed),
        records_consumed: consumed,
        records_missing: acked.saturating_sub(consumed),
        duplicates: seen.duplicates.load(Ordering::Relaxed),
        foreign: seen.foreign.load(Ordering::Relaxed),
        send_s,
        records_per_s: if send_s > 0.0 {
            sent as f64 / send_s
        } else {
            0.0
        },
        schedule_lag_max_us: lag_us,
        latency_us: LatencyUs::from_histogram(&latency),
        ack_latency_us: LatencyUs::from_histogram(&ack_latency),
        first_error: stats.first_error.lock().ok().and_then(|e| e.clone()),
    })
}

impl E2eReport {
    pub fn print(&self, json: bool) -> anyhow::Result<()> {
        if json {
            println!("{}", serde_json::to_string(self)?);
            return Ok(());
        }
        let (l, a) = (&self.latency_us, &self.ack_latency_us);
        println!(
            "e2e {} ({} partitions, {} B, acks={}, linger.ms={}) at {} records/s: {} sent in \
             {:.3} s ({:.0}/s), {} acked, {} failed, {} read, {} missing, {} duplicates; \
             end-to-end µs p50 {} p99 {} p99.9 {} max {}; ack µs p50 {} p99 {} p99.9 {} max {}; \
             sender behind schedule at most {} µs",
            self.topic,
            self.partitions,
            self.record_bytes,
            self.acks,
            self.linger_ms,
            self.rate,
            self.records_sent,
            self.send_s,
            self.records_per_s,
            self.records_acked,
            self.records_failed,
            self.records_consumed,
            self.records_missing,
            self.duplicates,
            l.p50,
            l.p99,
            l.p999,
            l.max,
            a.p50,
            a.p99,
            a.p999,
            a.max,
            self.schedule_lag_max_us
        );
        if let Some(e) = &self.first_error {
            println!("first error: {e}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips_sequence_and_send_instant() {
        let mut value = vec![b'A'; 32];
        stamp(&mut value, 42, 1_234_567_890);
        assert_eq!(unstamp(&value), Some((42, 1_234_567_890)));
        assert_eq!(&value[PREFIX_BYTES..], &[b'A'; 16][..]);
    }

    #[test]
    fn short_values_are_not_stamped_records() {
        assert_eq!(unstamp(&[1, 2, 3]), None);
    }
}
