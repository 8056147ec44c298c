//! `conns`: hold many idle connections and many slow-loris connections (each stopped half-way
//! through a request frame) against a broker, and measure meanwhile what a healthy client
//! sees: acks=all Produce and Fetch latency on its own connection, and the broker's RSS.
//! The same healthy-client probe runs before the connections are opened, as the baseline.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::cli::ConnsArgs;
use crate::report::LatencyUs;
use crate::wire::batch;
use crate::wire::conn::{self, Control};
use crate::wire::topic;

const PRODUCE_VERSION: i16 = 9;
const FETCH_VERSION: i16 = 12;
/// Connections opened at once while building up the held ones.
const CONNECT_CONCURRENCY: usize = 256;
/// What a slow-loris connection announces and how much of it it sends.
const SLOW_LORIS_FRAME_BYTES: i32 = 1_000;
const SLOW_LORIS_SENT_BYTES: usize = 500;

#[derive(Debug, Serialize)]
struct Probe {
    produce_us: LatencyUs,
    fetch_us: LatencyUs,
    rss_kib: Option<u64>,
}

#[derive(Debug, Serialize)]
struct ConnsReport {
    idle: usize,
    slow_loris: usize,
    /// Held connections still open (not reset or closed by the broker) after the probe.
    still_open: usize,
    connect_seconds: f64,
    baseline: Probe,
    held: Probe,
}

pub fn run(args: &ConnsArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = runtime.block_on(measure(args))?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} idle + {} slow-loris connections held ({} still open), opened in {:.1} s",
            report.idle, report.slow_loris, report.still_open, report.connect_seconds
        );
        for (name, probe) in [("baseline", &report.baseline), ("held", &report.held)] {
            println!(
                "{name}: produce p50/p99 {}/{} us, fetch p50/p99 {}/{} us, broker RSS {:?} KiB",
                probe.produce_us.p50,
                probe.produce_us.p99,
                probe.fetch_us.p50,
                probe.fetch_us.p99,
                probe.rss_kib
            );
        }
    }
    Ok(())
}

async fn measure(args: &ConnsArgs) -> Result<ConnsReport> {
    let mut control = Control::connect(&args.bootstrap).await?;
    topic::ensure(&mut control, &args.topic, 1, &[]).await?;
    topic::wait_for_leaders(&mut control, &args.topic).await?;
    let baseline = probe(args, &mut control).await?;

    let address: SocketAddr = conn::first_address(&args.bootstrap)
        .parse()
        .context("--bootstrap must be IP:PORT")?;
    let started = Instant::now();
    let mut held = open_all(address, args.idle, false).await?;
    held.extend(open_all(address, args.slow_loris, true).await?);
    let connect_seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;
    let under_load = probe(args, &mut control).await?;
    let still_open = held.iter().filter(|s| is_open(s)).count();
    Ok(ConnsReport {
        idle: args.idle,
        slow_loris: args.slow_loris,
        still_open,
        connect_seconds,
        baseline,
        held: under_load,
    })
}

/// Opens `count` connections, `CONNECT_CONCURRENCY` at a time; a slow-loris one then sends the
/// first half of a request frame and nothing more.
async fn open_all(address: SocketAddr, count: usize, slow_loris: bool) -> Result<Vec<TcpStream>> {
    let mut streams = Vec::with_capacity(count);
    let mut remaining = count;
    while remaining > 0 {
        let wave = remaining.min(CONNECT_CONCURRENCY);
        let opening = (0..wave).map(|_| async move {
            let mut stream =
                tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(address))
                    .await
                    .context("connect timed out")??;
            if slow_loris {
                let mut half = SLOW_LORIS_FRAME_BYTES.to_be_bytes().to_vec();
                half.resize(4 + SLOW_LORIS_SENT_BYTES, 0);
                stream.write_all(&half).await?;
            }
            Ok::<TcpStream, anyhow::Error>(stream)
        });
        for stream in futures_util::future::join_all(opening).await {
            streams.push(stream?);
        }
        remaining -= wave;
    }
    Ok(streams)
}

/// Open unless the peer has closed or reset it (a read would return 0 or an error).
fn is_open(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// `--requests` acks=all Produce requests of one record, then as many Fetch requests, one at a
/// time on the healthy client's connection.
async fn probe(args: &ConnsArgs, control: &mut Control) -> Result<Probe> {
    let name = TopicName(StrBytes::from_string(args.topic.clone()));
    let mut produce = Histogram::<u64>::new(3)?;
    let mut first_offset = None;
    for _ in 0..args.requests {
        let records = batch::encode(1, 100, now_ms())?;
        let request = produce_request(&name, records);
        let started = Instant::now();
        let response: ProduceResponse = control
            .exchange(ApiKey::Produce, PRODUCE_VERSION, &request)
            .await?;
        produce.record(started.elapsed().as_micros() as u64)?;
        let partition = response
            .responses
            .first()
            .and_then(|t| t.partition_responses.first())
            .context("empty produce response")?;
        anyhow::ensure!(
            partition.error_code == 0,
            "produce error {}",
            partition.error_code
        );
        first_offset.get_or_insert(partition.base_offset);
    }
    let mut fetch = Histogram::<u64>::new(3)?;
    let start = first_offset.unwrap_or(0);
    for i in 0..args.requests as i64 {
        let request = fetch_request(&name, start + i);
        let started = Instant::now();
        let response: FetchResponse = control
            .exchange(ApiKey::Fetch, FETCH_VERSION, &request)
            .await?;
        fetch.record(started.elapsed().as_micros() as u64)?;
        let partition = response
            .responses
            .first()
            .and_then(|t| t.partitions.first())
            .context("empty fetch response")?;
        anyhow::ensure!(
            partition.error_code == 0,
            "fetch error {}",
            partition.error_code
        );
        anyhow::ensure!(
            partition.records.as_ref().is_some_and(|r| !r.is_empty()),
            "fetch at {} returned no records",
            start + i
        );
    }
    Ok(Probe {
        produce_us: LatencyUs::from_histogram(&produce),
        fetch_us: LatencyUs::from_histogram(&fetch),
        rss_kib: args.pid.and_then(rss_kib),
    })
}

fn produce_request(name: &TopicName, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name.clone())
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ])
}

fn fetch_request(name: &TopicName, offset: i64) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1024 * 1024)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(name.clone())
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_current_leader_epoch(-1)
                        .with_fetch_offset(offset)
                        .with_last_fetched_epoch(-1)
                        .with_log_start_offset(-1)
                        .with_partition_max_bytes(1024 * 1024),
                ]),
        ])
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// VmRSS of `pid`, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
