//! `wire-fetch`: reads every partition of a topic from offset 0 to the end it had when the run
//! started (ListOffsets), with raw Fetch requests, counting records from the batch headers.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::batch;
use super::conn::Control;
use super::cpu::CpuSample;
use super::report::WireFetchReport;
use super::{FETCH_VERSION, Tally, topic};
use crate::cli::WireFetchArgs;

/// One partition being read: where the next fetch starts and where the read ends.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    partition: i32,
    offset: i64,
    end: i64,
}

/// What one connection read.
#[derive(Debug, Default)]
struct Read {
    records: u64,
    bytes: u64,
    fetches: u64,
}

pub fn run(args: &WireFetchArgs) -> Result<()> {
    let report = super::run_with_lines("wire-fetch", |tally| fetch(args, tally))?;
    report.print(args.json)?;
    report.check()
}

/// Reads the topic from offset 0 to the end offsets it had at the start; `tally` counts the
/// records read so far. A short read is in the report (`records_read`), not an error.
pub async fn fetch(args: &WireFetchArgs, tally: Arc<Tally>) -> Result<WireFetchReport> {
    ensure!(args.connections >= 1, "--connections must be at least 1");
    let mut control = Control::connect(&args.bootstrap).await?;
    let partitions = topic::wait_for_leaders(&mut control, &args.topic).await?;
    let ends = topic::end_offsets(&mut control, &args.topic, partitions).await?;
    // From offset 0: the topic is read whole, so nothing may have been deleted before it.
    let expected: u64 = ends.iter().map(|&e| u64::try_from(e).unwrap_or(0)).sum();
    tally.records_total.store(expected, Ordering::Relaxed);
    let cpu = CpuSample::start(args.broker_pid)?;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.connections {
        let cursors: Vec<Cursor> = (0..partitions)
            .filter(|p| u32::try_from(*p).is_ok_and(|p| p % args.connections == c))
            .map(|p| Cursor {
                partition: p,
                offset: 0,
                end: ends[usize::try_from(p).unwrap_or(0)],
            })
            .collect();
        if cursors.is_empty() {
            continue;
        }
        let control = Control::connect(&args.bootstrap).await?;
        let options = Options {
            topic: args.topic.clone(),
            max_wait_ms: args.max_wait_ms,
            max_bytes: args.max_bytes,
            partition_max_bytes: args.partition_max_bytes,
            verify_crc: args.verify_crc,
        };
        tasks.push(tokio::spawn(read_all(
            control,
            cursors,
            options,
            tally.clone(),
        )));
    }
    let limit = Duration::from_secs(args.duration_s_max);
    let mut total = Read::default();
    for task in tasks {
        let left = limit.saturating_sub(start.elapsed());
        let read = tokio::time::timeout(left, task)
            .await
            .with_context(|| format!("not read within --duration-s-max {limit:?}"))???;
        total.records += read.records;
        total.bytes += read.bytes;
        total.fetches += read.fetches;
    }
    let elapsed_s = start.elapsed().as_secs_f64();
    let broker_cores = cpu.map(|c| c.cores_since(elapsed_s)).transpose()?;
    let per_s = |n: f64| if elapsed_s > 0.0 { n / elapsed_s } else { 0.0 };
    Ok(WireFetchReport {
        topic: args.topic.clone(),
        partitions,
        connections: args.connections,
        records_expected: expected,
        records_read: total.records,
        fetch_requests: total.fetches,
        elapsed_s,
        records_per_s: per_s(total.records as f64),
        mb_per_s: per_s(total.bytes as f64) / 1e6,
        crc_verified: args.verify_crc,
        broker_cores,
    })
}

#[derive(Debug, Clone)]
struct Options {
    topic: String,
    max_wait_ms: i32,
    max_bytes: i32,
    partition_max_bytes: i32,
    verify_crc: bool,
}

fn fetch_request(cursors: &[Cursor], options: &Options) -> FetchRequest {
    let partitions = cursors
        .iter()
        .filter(|c| c.offset < c.end)
        .map(|c| {
            FetchPartition::default()
                .with_partition(c.partition)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(c.offset)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(options.partition_max_bytes)
        })
        .collect();
    // A sessionless full fetch (session id 0, epoch -1), as a consumer that owns no session.
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(options.max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(options.max_bytes)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(options.topic.clone())))
                .with_partitions(partitions),
        ])
}

/// Fetches until every cursor reaches its end. Bounded by the caller's timeout: every fetch
/// that returns data moves a cursor forward.
async fn read_all(
    mut control: Control,
    mut cursors: Vec<Cursor>,
    options: Options,
    tally: Arc<Tally>,
) -> Result<Read> {
    let mut read = Read::default();
    while cursors.iter().any(|c| c.offset < c.end) {
        let request = fetch_request(&cursors, &options);
        let response: FetchResponse = control
            .exchange(ApiKey::Fetch, FETCH_VERSION, &request)
            .await?;
        read.fetches += 1;
        ensure!(
            response.error_code == 0,
            "Fetch: error {}",
            response.error_code
        );
        for data in response.responses.iter().flat_map(|t| t.partitions.iter()) {
            let cursor = cursors
                .iter_mut()
                .find(|c| c.partition == data.partition_index)
                .context("Fetch answered a partition not asked for")?;
            ensure!(
                data.error_code == 0,
                "Fetch partition {}: error {}",
                data.partition_index,
                data.error_code
            );
            let Some(records) = &data.records else {
                continue;
            };
            let walk = batch::walk(records, cursor.offset, options.verify_crc)
                .with_context(|| format!("partition {} at {}", cursor.partition, cursor.offset))?;
            // Records past the end offset taken at the start were produced during the read.
            let past_end = walk
                .next_offset
                .map_or(0, |next| u64::try_from(next - cursor.end).unwrap_or(0));
            let counted = walk.records.saturating_sub(past_end);
            read.records += counted;
            read.bytes += walk.bytes;
            tally.records_done.fetch_add(counted, Ordering::Relaxed);
            if let Some(next) = walk.next_offset {
                cursor.offset = next.max(cursor.offset);
            }
        }
    }
    Ok(read)
}
