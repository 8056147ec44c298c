//! What `wire-produce` and `wire-fetch` report, as text or one JSON object.

use serde::Serialize;

use crate::report::LatencyUs;

#[derive(Debug, Serialize)]
pub struct WireProduceReport {
    pub topic: String,
    pub acks: String,
    pub connections: u32,
    pub partitions: i32,
    pub batch_records: usize,
    pub record_bytes: usize,
    pub in_flight: usize,
    /// Bytes of the record batch sent in every request.
    pub batch_bytes: usize,
    /// The fixed rate asked for, records/s (0: none).
    pub rate: u64,
    pub requests_sent: u64,
    pub requests_acked: u64,
    pub requests_failed: u64,
    pub records_acked: u64,
    /// First send to last answer.
    pub elapsed_s: f64,
    pub records_per_s: f64,
    /// Payload bytes only (record_bytes × records acked), 10^6 bytes per second.
    pub mb_per_s: f64,
    pub requests_per_s: f64,
    /// Send → answer of every request, µs.
    pub latency_us: LatencyUs,
    /// Cores the broker was busy on average over the run (`--broker-pid`).
    pub broker_cores: Option<f64>,
    pub requests_per_broker_core_s: Option<f64>,
    pub first_error: Option<String>,
}

impl WireProduceReport {
    /// An error if any request failed: a run with failures measured something else.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.requests_failed == 0,
            "{} of {} requests failed: {}",
            self.requests_failed,
            self.requests_sent,
            self.first_error.as_deref().unwrap_or("")
        );
        Ok(())
    }

    pub fn print(&self, json: bool) -> anyhow::Result<()> {
        if json {
            println!("{}", serde_json::to_string(self)?);
            return Ok(());
        }
        let l = &self.latency_us;
        println!(
            "wire-produce {} acks={} connections={} batch={}x{} B in-flight={}: {} records in {} \
             requests acked ({} failed) in {:.3} s = {:.0} records/s, {:.1} MB/s, {:.0} requests/s; \
             latency µs p50 {} p99 {} p99.9 {} max {}",
            self.topic,
            self.acks,
            self.connections,
            self.batch_records,
            self.record_bytes,
            self.in_flight,
            self.records_acked,
            self.requests_acked,
            self.requests_failed,
            self.elapsed_s,
            self.records_per_s,
            self.mb_per_s,
            self.requests_per_s,
            l.p50,
            l.p99,
            l.p999,
            l.max
        );
        if let (Some(cores), Some(per_core)) = (self.broker_cores, self.requests_per_broker_core_s)
        {
            println!("broker busy {cores:.2} cores: {per_core:.0} requests/s per broker core");
        }
        if let Some(e) = &self.first_error {
            println!("first error: {e}");
        }
        Ok(())
    }
}

#[derive(Debug, Serialize)]
pub struct WireFetchReport {
    pub topic: String,
    pub partitions: i32,
    pub connections: u32,
    /// Records between offset 0 and the end offsets ListOffsets gave at the start.
    pub records_expected: u64,
    pub records_read: u64,
    pub fetch_requests: u64,
    pub elapsed_s: f64,
    pub records_per_s: f64,
    /// Record batch bytes read (headers included), 10^6 bytes per second.
    pub mb_per_s: f64,
    pub crc_verified: bool,
    pub broker_cores: Option<f64>,
}

impl WireFetchReport {
    /// An error if the read came short of the end offsets taken at the start.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.records_read == self.records_expected,
            "read {} records where the end offsets promised {}",
            self.records_read,
            self.records_expected
        );
        Ok(())
    }

    pub fn print(&self, json: bool) -> anyhow::Result<()> {
        if json {
            println!("{}", serde_json::to_string(self)?);
            return Ok(());
        }
        println!(
            "wire-fetch {} partitions={} connections={}: {} of {} records in {} fetches, {:.3} s \
             = {:.0} records/s, {:.1} MB/s of batches{}",
            self.topic,
            self.partitions,
            self.connections,
            self.records_read,
            self.records_expected,
            self.fetch_requests,
            self.elapsed_s,
            self.records_per_s,
            self.mb_per_s,
            if self.crc_verified {
                ", CRCs checked"
            } else {
                ""
            }
        );
        if let Some(cores) = self.broker_cores {
            println!("broker busy {cores:.2} cores");
        }
        Ok(())
    }
}
