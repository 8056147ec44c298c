//! What a run reports, as text for people and JSON for `bench/run-single`.

use hdrhistogram::Histogram;
use serde::Serialize;

const BYTES_PER_MB: f64 = 1_000_000.0;

/// Send→ack latency of every acknowledged record, in microseconds.
#[derive(Debug, Serialize)]
pub struct LatencyUs {
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

impl LatencyUs {
    pub fn from_histogram(h: &Histogram<u64>) -> LatencyUs {
        LatencyUs {
            p50: h.value_at_quantile(0.50),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
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
