//! `wire-produce`: C connections, each resending one pre-encoded batch to its own partition
//! with up to N requests in flight, checking every answer (error code 0, base offsets
//! contiguous). The client work per request is a 4-byte patch and a write, so the figure is
//! the broker's.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use bytes::{Bytes, BytesMut};
use hdrhistogram::Histogram;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

use super::conn::{self, Control};
use super::cpu::CpuSample;
use super::report::WireProduceReport;
use super::{PRODUCE_VERSION, Tally, batch, topic};
use crate::cli::{Acks, WireProduceArgs};
use crate::report::LatencyUs;

/// Produce timeout_ms: how long the broker may wait for acks=all.
const PRODUCE_TIMEOUT_MS: i32 = 30_000;
/// Read buffer per connection: many small answers per read syscall.
const READ_BUFFER_BYTES: usize = 256 * 1024;

/// When a connection stops sending and how fast it sends.
#[derive(Debug, Clone, Copy)]
struct SendPlan {
    /// Requests to send; None: until `send_until`.
    requests: Option<u64>,
    send_until: Option<Instant>,
    start: Instant,
    /// Time between two requests of this connection at a fixed rate.
    period: Option<Duration>,
}

impl SendPlan {
    fn done(&self, sent: u64, now: Instant) -> bool {
        self.requests.is_some_and(|n| sent >= n) || self.send_until.is_some_and(|t| now >= t)
    }

    /// When request number `n` is due (always, without a rate).
    fn due(&self, n: u64) -> Option<Instant> {
        self.period
            .map(|p| self.start + Duration::from_secs_f64(p.as_secs_f64() * n as f64))
    }
}

/// What one connection saw.
struct Outcome {
    sent: u64,
    acked: u64,
    failed: u64,
    latency_us: Histogram<u64>,
    first_error: Option<String>,
    last_answer: Instant,
}

pub fn run(args: &WireProduceArgs) -> Result<()> {
    let report = super::run_with_lines("wire-produce", |tally| produce(args, tally))?;
    report.print(args.json)?;
    report.check()
}

/// Checks the arguments, then sends and checks every answer; `tally` counts the records
/// acknowledged so far. Requests that failed are in the report, not an error.
pub async fn produce(args: &WireProduceArgs, tally: Arc<Tally>) -> Result<WireProduceReport> {
    ensure!(
        args.acks != Acks::Zero,
        "--acks 0 has no answer to check: use 1 or all"
    );
    ensure!(args.connections >= 1, "--connections must be at least 1");
    ensure!(args.in_flight >= 1, "--in-flight must be at least 1");
    ensure!(
        args.batch_records >= 1,
        "--batch-records must be at least 1"
    );
    ensure!(
        args.records.is_some() != args.seconds.is_some(),
        "give exactly one of --records and --seconds"
    );
    send_all(args, tally).await
}

fn produce_frame(args: &WireProduceArgs, partition: i32, records: Bytes) -> Result<BytesMut> {
    let acks = match args.acks {
        Acks::All => -1,
        Acks::One => 1,
        Acks::Zero => 0,
    };
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(PRODUCE_TIMEOUT_MS)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(args.topic.clone())))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ]),
        ]);
    conn::request_frame(ApiKey::Produce, PRODUCE_VERSION, 0, &request)
}

async fn send_all(args: &WireProduceArgs, tally: Arc<Tally>) -> Result<WireProduceReport> {
    let connections = args.connections;
    let mut control = Control::connect(&args.bootstrap).await?;
    let asked = args.partitions.unwrap_or(i32::try_from(connections)?);
    let partitions = topic::ensure(&mut control, &args.topic, asked, &args.topic_configs).await?;
    ensure!(
        u32::try_from(partitions)? >= connections,
        "{} has {partitions} partitions, fewer than the {connections} connections",
        args.topic
    );
    let now_ms = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?;
    let records = batch::encode(args.batch_records, args.record_bytes, now_ms)?;
    let batch_bytes = records.len();
    let per_request = u64::try_from(args.batch_records)?;
    let total_requests = args.records.map(|r| r.div_ceil(per_request));
    let period = (args.rate > 0).then(|| {
        Duration::from_secs_f64(per_request as f64 * f64::from(connections) / args.rate as f64)
    });
    tally.records_total.store(
        total_requests.map_or(0, |n| n * per_request),
        Ordering::Relaxed,
    );
    let cpu = CpuSample::start(args.broker_pid)?;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..connections {
        let plan = SendPlan {
            requests: total_requests.map(|n| {
                n / u64::from(connections) + u64::from(u64::from(i) < n % u64::from(connections))
            }),
            send_until: args.seconds.map(|s| start + Duration::from_secs(s)),
            start,
            period,
        };
        let partition = i32::try_from(i)?;
        let frame = produce_frame(args, partition, records.clone())?;
        let stream = conn::connect(&args.bootstrap).await?;
        tasks.push(tokio::spawn(connection(
            stream,
            frame,
            plan,
            Check {
                partition,
                batch_records: per_request,
                in_flight: args.in_flight,
            },
            tally.clone(),
        )));
    }
    let limit = Duration::from_secs(args.duration_s_max);
    let mut outcomes = Vec::new();
    for task in tasks {
        let left = limit.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, task).await {
            Ok(outcome) => outcomes.push(outcome??),
            Err(_) => bail!("not all answers within --duration-s-max {limit:?}"),
        }
    }
    let end = outcomes
        .iter()
        .map(|o| o.last_answer)
        .max()
        .unwrap_or(start);
    let elapsed_s = end.duration_since(start).as_secs_f64();
    let broker_cores = cpu.map(|c| c.cores_since(elapsed_s)).transpose()?;
    summarise(
        args,
        partitions,
        batch_bytes,
        elapsed_s,
        broker_cores,
        outcomes,
    )
}

fn summarise(
    args: &WireProduceArgs,
    partitions: i32,
    batch_bytes: usize,
    elapsed_s: f64,
    broker_cores: Option<f64>,
    outcomes: Vec<Outcome>,
) -> Result<WireProduceReport> {
    let mut latency = crate::report::new_histogram()?;
    let (mut sent, mut acked, mut failed, mut first_error) = (0, 0, 0, None);
    for o in outcomes {
        latency.add(&o.latency_us)?;
        sent += o.sent;
        acked += o.acked;
        failed += o.failed;
        first_error = first_error.or(o.first_error);
    }
    let records_acked = acked * u64::try_from(args.batch_records)?;
    let per_s = |n: f64| if elapsed_s > 0.0 { n / elapsed_s } else { 0.0 };
    let requests_per_s = per_s(acked as f64);
    Ok(WireProduceReport {
        topic: args.topic.clone(),
        acks: args.acks.as_config().to_owned(),
        connections: args.connections,
        partitions,
        batch_records: args.batch_records,
        record_bytes: args.record_bytes,
        in_flight: args.in_flight,
        batch_bytes,
        rate: args.rate,
        requests_sent: sent,
        requests_acked: acked,
        requests_failed: failed,
        records_acked,
        elapsed_s,
        records_per_s: per_s(records_acked as f64),
        mb_per_s: per_s((records_acked * u64::try_from(args.record_bytes)?) as f64) / 1e6,
        requests_per_s,
        latency_us: LatencyUs::from_histogram(&latency),
        broker_cores,
        requests_per_broker_core_s: broker_cores
            .filter(|&c| c > 0.0)
            .map(|c| requests_per_s / c),
        first_error,
    })
}

/// What every answer of a connection is checked against.
#[derive(Debug, Clone, Copy)]
struct Check {
    partition: i32,
    batch_records: u64,
    in_flight: usize,
}

/// One connection: a writer task sends while this task reads and checks the answers. The
/// channel between them carries the send instant of every request in flight; its capacity is
/// the in-flight limit.
async fn connection(
    stream: tokio::net::TcpStream,
    frame: BytesMut,
    plan: SendPlan,
    check: Check,
    tally: Arc<Tally>,
) -> Result<Outcome> {
    let (read, write) = stream.into_split();
    let (tx, rx) = mpsc::channel(check.in_flight);
    let writer = tokio::spawn(write_loop(write, frame, tx, plan));
    let mut outcome = Outcome {
        sent: 0,
        acked: 0,
        failed: 0,
        latency_us: crate::report::new_histogram()?,
        first_error: None,
        last_answer: plan.start,
    };
    let read_result = read_loop(read, rx, check, &mut outcome, &tally).await;
    // The reader ends when the writer is done and every answer is in, or on a broken
    // connection; then the writer cannot go on either.
    writer.abort();
    let write_result = writer.await;
    outcome.sent = match &write_result {
        Ok(Ok(sent)) => *sent,
        _ => outcome.acked + outcome.failed,
    };
    let broken = match (read_result, write_result) {
        (Err(e), _) => Some(format!("partition {}: {e:#}", check.partition)),
        (_, Ok(Err(e))) => Some(format!("partition {}: send: {e:#}", check.partition)),
        _ => None,
    };
    if let Some(error) = broken {
        // Requests sent but never answered are failures too; the writer's count is lost when it
        // is aborted, so count at least one.
        let unanswered = outcome
            .sent
            .saturating_sub(outcome.acked + outcome.failed)
            .max(1);
        outcome.failed += unanswered;
        outcome.sent = outcome.acked + outcome.failed;
        outcome.first_error = outcome.first_error.or(Some(error));
    }
    Ok(outcome)
}

async fn write_loop(
    mut write: OwnedWriteHalf,
    mut frame: BytesMut,
    tx: mpsc::Sender<(i32, Instant)>,
    plan: SendPlan,
) -> Result<u64> {
    let mut sent: u64 = 0;
    let mut out = Vec::with_capacity(frame.len() * tx.max_capacity());
    while !plan.done(sent, Instant::now()) {
        if let Some(due) = plan.due(sent) {
            // Paced by the timer, never by spinning: a late wake sends every request due.
            tokio::time::sleep_until(due.into()).await;
        }
        let first = tx.reserve().await.context("reader gone")?;
        let now = Instant::now();
        out.clear();
        conn::set_correlation_id(&mut frame, correlation_id(sent));
        out.extend_from_slice(&frame);
        first.send((correlation_id(sent), now));
        sent += 1;
        // Every further request that is due and has a free slot goes in the same write.
        while !plan.done(sent, now) && plan.due(sent).is_none_or(|due| due <= now) {
            let Ok(permit) = tx.try_reserve() else { break };
            conn::set_correlation_id(&mut frame, correlation_id(sent));
            out.extend_from_slice(&frame);
            permit.send((correlation_id(sent), now));
            sent += 1;
        }
        write.write_all(&out).await.context("write requests")?;
    }
    Ok(sent)
}

/// Correlation ids wrap: only their order matters, and at most in-flight are outstanding.
fn correlation_id(n: u64) -> i32 {
    (n % (i32::MAX as u64)) as i32
}

async fn read_loop(
    read: OwnedReadHalf,
    mut rx: mpsc::Receiver<(i32, Instant)>,
    check: Check,
    outcome: &mut Outcome,
    tally: &Tally,
) -> Result<()> {
    let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, read);
    let mut next_offset: Option<i64> = None;
    while let Some((correlation_id, sent_at)) = rx.recv().await {
        let frame = conn::read_frame(&mut reader).await?;
        let now = Instant::now();
        let micros = u64::try_from(now.duration_since(sent_at).as_micros()).unwrap_or(u64::MAX);
        outcome.latency_us.saturating_record(micros.max(1));
        outcome.last_answer = now;
        let response: ProduceResponse =
            conn::decode_response(ApiKey::Produce, PRODUCE_VERSION, correlation_id, frame)?;
        match answer_error(&response, check, &mut next_offset) {
            None => {
                outcome.acked += 1;
                tally
                    .records_done
                    .fetch_add(check.batch_records, Ordering::Relaxed);
            }
            Some(error) => {
                outcome.failed += 1;
                outcome.first_error.get_or_insert(error);
            }
        }
    }
    Ok(())
}

/// Why an answer is not a success: an error code, a missing partition, or a base offset that
/// does not follow the previous answer's batch.
fn answer_error(
    response: &ProduceResponse,
    check: Check,
    next_offset: &mut Option<i64>,
) -> Option<String> {
    let partition = response
        .responses
        .iter()
        .flat_map(|t| t.partition_responses.iter())
        .find(|p| p.index == check.partition);
    let Some(p) = partition else {
        return Some(format!("no answer for partition {}", check.partition));
    };
    if p.error_code != 0 {
        let name = ResponseError::try_from_code(p.error_code)
            .map_or_else(|| "unknown".to_owned(), |e| format!("{e:?}"));
        return Some(format!(
            "partition {}: error {} {name} {}",
            check.partition,
            p.error_code,
            p.error_message.as_deref().unwrap_or("")
        ));
    }
    let expected = *next_offset;
    *next_offset = Some(p.base_offset + i64::try_from(check.batch_records).unwrap_or(i64::MAX));
    match expected {
        Some(e) if e != p.base_offset => Some(format!(
            "partition {}: base offset {}, expected {e}",
            check.partition, p.base_offset
        )),
        _ => None,
    }
}
