//! `vltava bench produce` and `vltava bench consume`: load from the command line, as
//! `rpk topic produce`'s benchmarks or Kafka's `kafka-producer-perf-test` /
//! `kafka-consumer-perf-test` give it, with no client library: the raw-wire load generator of
//! `bench/` (`vltava-bench wire-produce` / `wire-fetch`, the library `vltava_bench::wire`),
//! one implementation for both. Its librdkafka workloads stay in the `vltava-bench` binary, so
//! this one links no C library.
//!
//! `produce` resends one pre-encoded batch per request on C connections (connection i writes
//! partition i) and checks every answer: error code 0, base offsets contiguous. `consume` reads
//! every partition from offset 0 to the end offsets it had at the start, counting records from
//! the batch headers. Text for people, `--json` (the `vltava-bench` report) for scripts.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use vltava_bench::cli::{Acks, WireFetchArgs, WireProduceArgs};
use vltava_bench::report::LatencyUs;
use vltava_bench::wire::report::{WireFetchReport, WireProduceReport};
use vltava_bench::wire::{self, Tally};

use crate::output::{Bootstrap, line};
use crate::progress::ProgressLine;

/// Records a produce run sends when neither --records nor --duration is given.
const RECORDS_DEFAULT: u64 = 1_000_000;
/// How often the progress line looks at the counts.
const PROGRESS_POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
    #[command(flatten)]
    broker: Bootstrap,
    /// Print the report as one JSON object.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Produce records as fast as they are acknowledged; throughput and latency per request.
    Produce(ProduceBench),
    /// Read a topic whole, offset 0 to its end; throughput.
    Consume(ConsumeBench),
}

#[derive(Debug, Args)]
struct ProduceBench {
    /// The topic, created with --partitions partitions if it does not exist.
    #[arg(default_value = "vltava-bench")]
    topic: String,
    /// Records to send in all, rounded up to whole batches [default: 1000000].
    #[arg(short = 'n', long, conflicts_with = "duration")]
    records: Option<u64>,
    /// Send for this many seconds instead of a record count.
    #[arg(short = 'd', long, value_name = "SECONDS")]
    duration: Option<u64>,
    /// Value bytes of each record (no key).
    #[arg(short = 's', long, default_value_t = 100)]
    record_size: usize,
    /// TCP connections, each writing its own partition.
    #[arg(short = 'c', long, default_value_t = 4)]
    connections: u32,
    /// Partitions of the topic when it is created [default: --connections]; at least
    /// --connections.
    #[arg(short = 'p', long)]
    partitions: Option<i32>,
    /// 1 or all.
    #[arg(long, value_enum, default_value = "all")]
    acks: Acks,
    /// Records per batch, one batch per Produce request (at most --records).
    #[arg(long, default_value_t = 1000)]
    batch_records: usize,
    /// Requests in flight per connection.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    /// Records per second across all connections; 0: as fast as acknowledged.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Config of the topic when this run creates it, KEY=VALUE, repeatable.
    #[arg(long = "topic-config", value_name = "KEY=VALUE")]
    topic_configs: Vec<String>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_s: u64,
}

#[derive(Debug, Args)]
struct ConsumeBench {
    /// The topic, read from offset 0 to the end it has when the run starts.
    #[arg(default_value = "vltava-bench")]
    topic: String,
    /// TCP connections; partition p is read on connection p mod C.
    #[arg(short = 'c', long, default_value_t = 1)]
    connections: u32,
    /// Check the CRC-32C of every batch.
    #[arg(long)]
    verify_crc: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_s: u64,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start a tokio runtime")?;
    let bootstrap = args.broker.bootstrap;
    match args.command {
        BenchCommand::Produce(bench) => {
            let wire_args = produce_args(bench, bootstrap);
            let report = runtime.block_on(with_progress("bench produce", |tally| {
                wire::produce::produce(&wire_args, tally)
            }))?;
            print_produce(&report, args.json)?;
            report.check()
        }
        BenchCommand::Consume(bench) => {
            let wire_args = fetch_args(bench, bootstrap);
            let report = runtime.block_on(with_progress("bench consume", |tally| {
                wire::fetch::fetch(&wire_args, tally)
            }))?;
            print_consume(&report, args.json)?;
            report.check()
        }
    }
}

/// The `wire-produce` arguments of a `bench produce`.
fn produce_args(bench: ProduceBench, bootstrap: String) -> WireProduceArgs {
    let records = match bench.duration {
        Some(_) => None,
        None => Some(bench.records.unwrap_or(RECORDS_DEFAULT)),
    };
    // A run of fewer records than a batch sends one smaller batch, not a whole one.
    let batch_records = records.map_or(bench.batch_records, |r| {
        bench
            .batch_records
            .min(usize::try_from(r).unwrap_or(usize::MAX))
    });
    WireProduceArgs {
        bootstrap,
        topic: bench.topic,
        connections: bench.connections,
        partitions: bench.partitions,
        batch_records,
        record_bytes: bench.record_size,
        acks: bench.acks,
        in_flight: bench.in_flight,
        records,
        seconds: bench.duration,
        rate: bench.rate,
        topic_configs: bench.topic_configs,
        duration_s_max: bench.timeout_s,
        broker_pid: None,
        json: false,
    }
}

fn fetch_args(bench: ConsumeBench, bootstrap: String) -> WireFetchArgs {
    WireFetchArgs {
        bootstrap,
        topic: bench.topic,
        connections: bench.connections,
        // wire-fetch's defaults: the data is already there, so a short wait and large answers.
        max_wait_ms: 10,
        max_bytes: 50 * 1024 * 1024,
        partition_max_bytes: 8 * 1024 * 1024,
        verify_crc: bench.verify_crc,
        duration_s_max: bench.timeout_s,
        broker_pid: None,
        json: false,
    }
}

/// Runs `work` with a progress line on a terminal, erased before the report is printed.
async fn with_progress<F, Fut, T>(label: &'static str, work: F) -> anyhow::Result<T>
where
    F: FnOnce(Arc<Tally>) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let tally = Arc::new(Tally::default());
    let watched = tally.clone();
    let watcher = tokio::spawn(async move {
        let mut progress = ProgressLine::on_stderr(label);
        let mut interval = tokio::time::interval(PROGRESS_POLL);
        loop {
            interval.tick().await;
            progress.update(watched.done(), Some(watched.total()));
        }
    });
    let result = work(tally).await;
    watcher.abort();
    // The task is dropped, and its line erased, once the aborted handle has answered.
    let _ = watcher.await;
    result
}

fn print_produce(report: &WireProduceReport, json: bool) -> anyhow::Result<()> {
    if json {
        return line(&serde_json::to_string(report)?);
    }
    line(&format!(
        "produced {} records of {} B to {} ({} partitions, {} connections, acks={}) in {:.3} s: \
         {:.0} records/s, {:.1} MB/s",
        report.records_acked,
        report.record_bytes,
        report.topic,
        report.partitions,
        report.connections,
        report.acks,
        report.elapsed_s,
        report.records_per_s,
        report.mb_per_s
    ))?;
    line(&format!(
        "{} requests of {} records acknowledged, {} failed; latency per request {}",
        report.requests_acked,
        report.batch_records,
        report.requests_failed,
        percentiles(&report.latency_us)
    ))?;
    if let Some(error) = &report.first_error {
        line(&format!("first error: {error}"))?;
    }
    Ok(())
}

/// `p50 1.2 ms, p99 ..., p99.9 ..., max ...`
fn percentiles(l: &LatencyUs) -> String {
    let ms = |us: u64| format!("{:.1} ms", us as f64 / 1000.0);
    format!(
        "p50 {}, p99 {}, p99.9 {}, max {}",
        ms(l.p50),
        ms(l.p99),
        ms(l.p999),
        ms(l.max)
    )
}

fn print_consume(report: &WireFetchReport, json: bool) -> anyhow::Result<()> {
    if json {
        return line(&serde_json::to_string(report)?);
    }
    line(&format!(
        "consumed {} of {} records of {} ({} partitions, {} connection{}) in {:.3} s: \
         {:.0} records/s, {:.1} MB/s of batches, {} fetches{}",
        report.records_read,
        report.records_expected,
        report.topic,
        report.partitions,
        report.connections,
        if report.connections == 1 { "" } else { "s" },
        report.elapsed_s,
        report.records_per_s,
        report.mb_per_s,
        report.fetch_requests,
        if report.crc_verified {
            ", CRCs checked"
        } else {
            ""
        }
    ))
}
