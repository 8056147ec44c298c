//! What a run reports, as text for people and JSON for `bench/run-single`.

use hdrhistogram::Histogram;
use serde::Serialize;

const BYTES_PER_MB: f64 = 1_000_000.0;
/// Highest latency the histogram tracks exactly; larger values are clamped to it.
const LATENCY_US_MAX: u64 = 3_600_000_000;
const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;

/// A latency histogram in µs, from 1 µs to an hour, three significant digits.
pub fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    use anyhow::Context;
    Histogram::new_with_bounds(1, LATENCY_US_MAX, LATENCY_SIGNIFICANT_DIGITS)
        .context("creating the latency histogram")
}

/// Send→ack latency of every acknowledged record, in microseconds.
#[derive(Debug, Serialize)]
pub struct LatencyUs {
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
    pub count: u64,
    /// `[percentile, µs]` at the points of [`CURVE_PERCENTILES`], for percentile plots.
    pub curve: Vec<(f64, u64)>,
}

/// Where the latency curve is sampled: denser toward the tail, as HdrHistogram plots are.
const CURVE_PERCENTILES: [f64; 12] = [
    0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.99, 100.0,
];

impl LatencyUs {
    pub fn from_histogram(h: &Histogram<u64>) -> LatencyUs {
        LatencyUs {
            p50: h.value_at_quantile(0.50),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
            count: h.len(),
            curve: CURVE_PERCENTILES
                .iter()
                .map(|&p| (p, h.value_at_percentile(p)))
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ProduceReport {
    pub topic: String,
    pub acks: String,
    pub compression: String,
    pub partitions: i32,
    pub producers: u32,
    pub record_bytes: usize,
    /// Distinct keys cycled through (0: no keys) and the fixed rate asked for (0: none).
    pub keys: u64,
    pub rate: u64,
    pub records_requested: u64,
    pub records_sent: u64,
    pub records_acked: u64,
    pub records_failed: u64,
    /// First send to last acknowledgement.
    pub elapsed_s: f64,
    pub records_per_s: f64,
    /// Payload bytes only (record_bytes × records acked), in 10^6 bytes per second.
    pub mb_per_s: f64,
    pub latency_us: LatencyUs,
    pub first_error: Option<String>,
    /// Extra idle connections held open during the run, and how many still answered a
    /// Metadata request at its end.
    pub idle_connections: u32,
    pub idle_connections_answering: Option<usize>,
    /// The broker's memory at the end of the run (`--broker-pid`), KiB.
    pub broker_rss_kib: Option<u64>,
    pub broker_hwm_kib: Option<u64>,
}

impl ProduceReport {
    pub fn print(&self, json: bool) -> anyhow::Result<()> {
        if json {
            println!("{}", serde_json::to_string(self)?);
            return Ok(());
        }
        let l = &self.latency_us;
        println!(
            "produce {} acks={} compression={} partitions={} producers={}: {} of {} records acked \
             ({} failed) in {:.3} s = {:.0} records/s, {:.1} MB/s; latency µs p50 {} p99 {} \
             p99.9 {} max {}",
            self.topic,
            self.acks,
            self.compression,
            self.partitions,
            self.producers,
            self.records_acked,
            self.records_requested,
            self.records_failed,
            self.elapsed_s,
            self.records_per_s,
            self.mb_per_s,
            l.p50,
            l.p99,
            l.p999,
            l.max
        );
        if let Some(e) = &self.first_error {
            println!("first error: {e}");
        }
        if let Some(answering) = self.idle_connections_answering {
            println!(
                "idle connections: {} opened, {answering} still answering at the end",
                self.idle_connections
            );
        }
        if let (Some(rss), Some(hwm)) = (self.broker_rss_kib, self.broker_hwm_kib) {
            println!("broker VmRSS {rss} KiB, VmHWM {hwm} KiB at the end of the run");
        }
        Ok(())
    }
}

#[derive(Debug, Serialize)]
pub struct ConsumeReport {
    pub topic: String,
    pub partitions: usize,
    pub records_requested: u64,
    pub records: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Assignment to the last record read.
    pub elapsed_s: f64,
    pub records_per_s: f64,
    pub mb_per_s: f64,
}

impl ConsumeReport {
    pub fn print(&self, json: bool) -> anyhow::Result<()> {
        if json {
            println!("{}", serde_json::to_string(self)?);
            return Ok(());
        }
        println!(
            "consume {} ({} partitions): {} of {} records, {} payload bytes in {:.3} s = {:.0} \
             records/s, {:.1} MB/s",
            self.topic,
            self.partitions,
            self.records,
            self.records_requested,
            self.bytes,
            self.elapsed_s,
            self.records_per_s,
            self.mb_per_s
        );
        Ok(())
    }
}

#[derive(Debug, Serialize)]
pub struct StartupRun {
    /// Process spawn to the first answered Metadata request.
    pub ready_ms: f64,
    /// VmRSS after `idle_ms` of idleness, in KiB.
    pub idle_rss_kib: u64,
}

#[derive(Debug, Serialize)]
pub struct StartupReport {
    pub command: Vec<String>,
    pub runs: Vec<StartupRun>,
    pub ready_ms_median: f64,
    pub idle_rss_kib_median: u64,
}

impl StartupReport {
    pub fn print(&self, json: bool) -> anyhow::Result<()> {
        if json {
            println!("{}", serde_json::to_string(self)?);
            return Ok(());
        }
        for (i, run) in self.runs.iter().enumerate() {
            println!(
                "run {}: first Metadata answered {:.1} ms after spawn; idle VmRSS {} KiB",
                i + 1,
                run.ready_ms,
                run.idle_rss_kib
            );
        }
        println!(
            "median: {:.1} ms, {} KiB",
            self.ready_ms_median, self.idle_rss_kib_median
        );
        Ok(())
    }
}

pub fn rate(count: u64, elapsed_s: f64) -> f64 {
    if elapsed_s > 0.0 {
        count as f64 / elapsed_s
    } else {
        0.0
    }
}

pub fn mb_rate(bytes: u64, elapsed_s: f64) -> f64 {
    rate(bytes, elapsed_s) / BYTES_PER_MB
}

/// The median of `values` (the mean of the middle two for an even count); 0 when empty.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// One repetition of `rebalance`. Times in ms; `None` when it did not happen in time.
#[derive(Debug, Serialize)]
pub struct RebalanceRun {
    pub group: String,
    /// Members created → the first N all own partitions and read a record.
    pub initial_all_consuming_ms: Option<f64>,
    /// Members created → the first N also saw no rebalance for `settle_ms`.
    pub settled_ms: Option<f64>,
    /// Wait between settling and the join: (rep - ½) / reps of the heartbeat interval.
    pub join_delay_ms: f64,
    /// Creation of the joining member → its first non-empty assignment.
    pub join_to_new_member_assigned_ms: Option<f64>,
    /// Creation of the joining member → all N+1 own partitions and read a record again.
    pub join_to_all_consuming_ms: Option<f64>,
    /// Creation of the joining member → its `subscribe` call, after it learnt its coordinator.
    pub join_to_subscribe_ms: Option<f64>,
    /// `subscribe` of the joining member → its first non-empty assignment.
    pub subscribe_to_new_member_assigned_ms: Option<f64>,
    /// `subscribe` of the joining member → all N+1 consuming: the rebalance alone.
    pub subscribe_to_all_consuming_ms: Option<f64>,
    /// Rebalance callbacks (assign or revoke) across all members between join and all consuming.
    pub rebalance_callbacks_during_join: u64,
    /// The member whose first record after its last rebalance callback came last (times after
    /// the join).
    pub last_to_consume: Option<String>,
    /// Records read by all members during the repetition.
    pub records: u64,
    /// Records the background producer had acknowledged during the repetition.
    pub records_produced: u64,
    /// Client warnings and errors (librdkafka log, poll errors, failed auto-commits).
    pub client_notes: u64,
    pub error: Option<String>,
    /// The first client warnings and errors, when there were any.
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RebalanceReport {
    pub topic: String,
    pub partitions: i32,
    pub members: u32,
    pub assignor: String,
    pub reps: u32,
    pub reps_failed: u32,
    pub produce_interval_ms: u64,
    pub settle_ms: u64,
    /// librdkafka settings of every member.
    pub settings: std::collections::BTreeMap<String, String>,
    pub join_to_all_consuming_ms_median: Option<f64>,
    pub join_to_all_consuming_ms_min: Option<f64>,
    pub join_to_all_consuming_ms_max: Option<f64>,
    pub join_to_new_member_assigned_ms_median: Option<f64>,
    pub subscribe_to_all_consuming_ms_median: Option<f64>,
    pub subscribe_to_all_consuming_ms_min: Option<f64>,
    pub subscribe_to_all_consuming_ms_max: Option<f64>,
    pub join_to_subscribe_ms_median: Option<f64>,
    pub runs: Vec<RebalanceRun>,
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"))
}

impl RebalanceReport {
    pub fn print(&self, json: bool) -> anyhow::Result<()> {
        if json {
            println!("{}", serde_json::to_string(self)?);
            return Ok(());
        }
        println!(
            "rebalance {} ({} partitions): {} members + 1 joining, assignor {}, a record to every \
             partition every {} ms",
            self.topic, self.partitions, self.members, self.assignor, self.produce_interval_ms
        );
        let settings: Vec<String> = self
            .settings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!("member settings: {}", settings.join(" "));
        println!(
            "{:>4} {:>14} {:>12} {:>8} {:>18} {:>18} {:>18} {:>10} {:>8} {:>8} {:>6}",
            "rep",
            "N consuming ms",
            "settled ms",
            "delay ms",
            "join→subscribe ms",
            "join→assigned ms",
            "join→consuming ms",
            "callbacks",
            "read",
            "produced",
            "notes"
        );
        for (i, run) in self.runs.iter().enumerate() {
            println!(
                "{:>4} {:>14} {:>12} {:>8.0} {:>18} {:>18} {:>18} {:>10} {:>8} {:>8} {:>6}",
                i + 1,
                ms(run.initial_all_consuming_ms),
                ms(run.settled_ms),
                run.join_delay_ms,
                ms(run.join_to_subscribe_ms),
                ms(run.join_to_new_member_assigned_ms),
                ms(run.join_to_all_consuming_ms),
                run.rebalance_callbacks_during_join,
                run.records,
                run.records_produced,
                run.client_notes
            );
            if let Some(last) = &run.last_to_consume {
                println!("     last to consume: {last}");
            }
            if let Some(error) = &run.error {
                println!("     error: {error}");
            }
        }
        println!(
            "join → every member consuming again: median {} ms, min {} ms, max {} ms ({} of {} \
             reps failed); join → new member assigned: median {} ms",
            ms(self.join_to_all_consuming_ms_median),
            ms(self.join_to_all_consuming_ms_min),
            ms(self.join_to_all_consuming_ms_max),
            self.reps_failed,
            self.reps,
            ms(self.join_to_new_member_assigned_ms_median)
        );
        println!(
            "subscribe → every member consuming again (the rebalance alone): median {} ms, min {} \
             ms, max {} ms; creation → subscribe (coordinator known): median {} ms",
            ms(self.subscribe_to_all_consuming_ms_median),
            ms(self.subscribe_to_all_consuming_ms_min),
            ms(self.subscribe_to_all_consuming_ms_max),
            ms(self.join_to_subscribe_ms_median)
        );
        Ok(())
    }
}

#[derive(Debug, Serialize)]
pub struct CommitReport {
    pub topic: String,
    pub group: String,
    pub partitions: i32,
    pub commits_requested: u64,
    pub commits: u64,
    pub commits_failed: u64,
    /// First timed commit to the last answer (the untimed first commit excluded).
    pub elapsed_s: f64,
    pub commits_per_s: f64,
    /// The first commit, which also finds and connects to the coordinator.
    pub first_commit_ms: f64,
    /// Per synchronous commit, call to return.
    pub latency_us: LatencyUs,
    /// OffsetFetch afterwards returned the last committed offset for every partition.
    pub offsets_fetched_match: bool,
    pub first_error: Option<String>,
    pub client_notes: u64,
    pub notes: Vec<String>,
}

impl CommitReport {
    pub fn print(&self, json: bool) -> anyhow::Result<()> {
        if json {
            println!("{}", serde_json::to_string(self)?);
            return Ok(());
        }
        let l = &self.latency_us;
        println!(
            "commit {} ({} partitions, group {}): {} of {} synchronous commits ({} failed) in \
             {:.3} s = {:.0} commits/s; latency µs p50 {} p99 {} p99.9 {} max {}; first commit \
             {:.1} ms; OffsetFetch matches: {}",
            self.topic,
            self.partitions,
            self.group,
            self.commits,
            self.commits_requested,
            self.commits_failed,
            self.elapsed_s,
            self.commits_per_s,
            l.p50,
            l.p99,
            l.p999,
            l.max,
            self.first_commit_ms,
            self.offsets_fetched_match
        );
        if let Some(e) = &self.first_error {
            println!("first error: {e}");
        }
        Ok(())
    }
}
