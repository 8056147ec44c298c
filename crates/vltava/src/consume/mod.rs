//! `vltava consume TOPIC`: records of a topic's partitions to stdout, as kcat's `-C` mode does:
//! from where `-o` says, each partition fetched from its leader, printed with kcat's format
//! tokens or as JSON; `-e` stops at the end, `-c` after a count, Ctrl-C between fetches.
//!
//! With `-g GROUP` the positions are committed to the group (every `COMMIT_INTERVAL` and at
//! exit) from outside it, generation -1 and no member id, as a consumer that assigns its own
//! partitions commits: no rebalance, no heartbeats. The broker accepts such commits only while
//! the group has no members, so this suits a group used by the command line (or stopped
//! consumers), and several commands can share one group on different partitions.

mod commits;
mod offsets;
mod print;
mod progress;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufWriter, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use kafka_protocol::error::ResponseError;

use crate::batches::{self, now_ms};
use crate::client::{
    Client, Connections, FetchOptions, Fetched, Leaders, TopicPartition, error_name,
    leadership_error,
};
use crate::format::{DEFAULT_FORMAT, Format};
use crate::interrupt::{self, Interrupted};
use crate::output::Bootstrap;
use commits::GroupCommits;
use offsets::OffsetSpec;
use print::Printer;
use progress::ReadProgress;

/// How long one Fetch waits for data when this command reads from one leader; from several,
/// `FETCH_WAIT_SHARED_MS`, so that a quiet leader does not hold up the others for long.
const FETCH_WAIT_MS: i32 = 500;
const FETCH_WAIT_SHARED_MS: i32 = 100;
/// Kafka's consumer defaults: fetch.max.bytes is 50 MiB, max.partition.fetch.bytes 1 MiB.
const FETCH_BYTES_MAX: i32 = 16 * 1024 * 1024;
const FETCH_PARTITION_BYTES_MAX: i32 = 1024 * 1024;
/// How long partitions may have no reachable leader (a leader moving, a broker down) before
/// the command gives up.
const LEADERLESS_TIMEOUT: Duration = Duration::from_secs(30);
const REFRESH_BACKOFF: Duration = Duration::from_millis(100);

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// The topic.
    topic: String,
    /// Where to start: beginning, end, N (offset), -N (N before the end), @MS (first record at
    /// or after a time), @-1h / @-15m / @-30s (relative to now), stored (the group's committed
    /// offsets, with -g) [default: stored with -g, else beginning].
    #[arg(short = 'o', long, value_name = "OFFSET", allow_hyphen_values = true)]
    offset: Option<OffsetSpec>,
    /// Only these partitions (comma-separated or repeated) [default: all].
    #[arg(short = 'p', long = "partition", value_delimiter = ',')]
    partitions: Vec<i32>,
    /// Commit positions to this consumer group (and start from its committed offsets).
    #[arg(short = 'g', long)]
    group: Option<String>,
    /// Exit after this many records.
    #[arg(short = 'c', long)]
    count: Option<u64>,
    /// Exit once every partition reached its end (its high watermark when reached).
    #[arg(short = 'e', long = "exit-at-end")]
    exit_at_end: bool,
    /// How to print each record, with kcat's tokens: %t %p %o %k %s %h %T %K %S %%, \n \t \r \\.
    #[arg(short = 'f', long, default_value = DEFAULT_FORMAT, conflicts_with = "json")]
    format: String,
    /// One JSON object per line: topic, partition, offset, timestamp, timestamp_type, key,
    /// value, headers [{key, value}] (non-UTF-8 bytes become U+FFFD).
    #[arg(long)]
    json: bool,
    /// Only records of committed transactions, up to the last stable offset (isolation level 1).
    #[arg(long)]
    read_committed: bool,
    /// Print a null key or value as NULL instead of nothing (kcat's -Z).
    #[arg(short = 'Z', long)]
    null_as_text: bool,
    #[command(flatten)]
    broker: Bootstrap,
}

pub fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    let format = Format::parse(&args.format)?;
    let interrupted = interrupt::install()?;
    let mut bootstrap = Client::connect(&args.broker.bootstrap)?;
    let leaders = leaders_of(&mut bootstrap, &args.topic)?;
    let partitions = chosen_partitions(&args, &leaders)?;
    let mut group = match &args.group {
        Some(group) => Some(GroupCommits::new(&mut bootstrap, group)?),
        None => None,
    };
    let positions = start_positions(&mut bootstrap, &args, &partitions, group.as_ref())?;
    let mut consumer = Consumer {
        bootstrap,
        topic: args.topic.clone(),
        leaders,
        connections: Connections::default(),
        positions,
        done: BTreeSet::new(),
        printer: Printer {
            out: BufWriter::new(std::io::stdout().lock()),
            format,
            json: args.json,
            null: if args.null_as_text { b"NULL" } else { b"" },
            printed: 0,
            limit: args.count,
            closed: false,
        },
        isolation_level: i8::from(args.read_committed),
        exit_at_end: args.exit_at_end,
        leaderless_since: None,
        progress: ReadProgress::new(args.exit_at_end || args.count.is_some(), args.count),
    };
    let result = consumer.run(&interrupted, group.as_mut());
    consumer.progress.finish();
    let flushed = consumer.printer.flush();
    if let Some(group) = group.as_mut() {
        group.commit(&consumer.positions)?;
    }
    result.and(flushed)
}

fn leaders_of(client: &mut Client, topic: &str) -> anyhow::Result<Leaders> {
    let leaders = client.leaders(&[topic.to_string()], false)?;
    if let Some(code) = leaders.topic_errors.get(topic) {
        bail!("topic {topic}: {}", error_name(*code));
    }
    Ok(leaders)
}

fn chosen_partitions(args: &ConsumeArgs, leaders: &Leaders) -> anyhow::Result<Vec<TopicPartition>> {
    let all: Vec<TopicPartition> = leaders.partitions.keys().cloned().collect();
    if args.partitions.is_empty() {
        return Ok(all);
    }
    let mut chosen = Vec::new();
    for partition in &args.partitions {
        let tp = TopicPartition {
            topic: args.topic.clone(),
            partition: *partition,
        };
        anyhow::ensure!(
            all.contains(&tp),
            "{tp} does not exist: the topic has {} partitions (UNKNOWN_TOPIC_OR_PARTITION)",
            all.len()
        );
        chosen.push(tp);
    }
    Ok(chosen)
}

fn start_positions(
    client: &mut Client,
    args: &ConsumeArgs,
    partitions: &[TopicPartition],
    group: Option<&GroupCommits>,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    let now = now_ms();
    match args.offset {
        Some(OffsetSpec::Stored) if group.is_none() => {
            bail!("-o stored starts from a group's committed offsets: give -g GROUP")
        }
        Some(OffsetSpec::Stored) | None => {}
        Some(spec) => return offsets::resolve(client, partitions, spec, now),
    }
    let mut positions = offsets::resolve(client, partitions, OffsetSpec::Beginning, now)?;
    if let Some(group) = group {
        for (p, position) in positions.iter_mut() {
            if let Some(committed) = group.committed.get(p) {
                *position = *committed;
            }
        }
    }
    Ok(positions)
}

#[derive(Debug)]
struct Consumer<W: Write> {
    bootstrap: Client,
    topic: String,
    leaders: Leaders,
    connections: Connections,
    /// The next offset to read of each partition.
    positions: BTreeMap<TopicPartition, i64>,
    /// Partitions that reached their end, with `-e`.
    done: BTreeSet<TopicPartition>,
    printer: Printer<W>,
    isolation_level: i8,
    exit_at_end: bool,
    /// When fetching stopped going well, if it did.
    leaderless_since: Option<Instant>,
    progress: ReadProgress,
}

impl<W: Write> Consumer<W> {
    fn run(
        &mut self,
        interrupted: &Interrupted,
        mut group: Option<&mut GroupCommits>,
    ) -> anyhow::Result<()> {
        while !interrupted.is_set() && !self.printer.finished() {
            if self.exit_at_end && self.done.len() == self.positions.len() {
                break;
            }
            if self.fetch_round()? {
                self.leaderless_since = None;
            } else {
                self.refresh()?;
            }
            self.printer.flush()?;
            self.progress.update(self.printer.printed, &self.positions);
            if let Some(group) = group.as_deref_mut().filter(|g| g.due()) {
                group.commit(&self.positions)?;
            }
        }
        Ok(())
    }

    /// One Fetch to each leader of a partition still read. False when a leader could not be
    /// reached or is no longer the leader: the metadata needs a refresh.
    fn fetch_round(&mut self) -> anyhow::Result<bool> {
        let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, i64)>> = BTreeMap::new();
        let mut healthy = true;
        for (p, position) in &self.positions {
            if self.done.contains(p) {
                continue;
            }
            match self.leaders.partitions.get(p) {
                Some(l) if self.leaders.brokers.contains_key(l) => {
                    by_leader
                        .entry(*l)
                        .or_default()
                        .push((p.clone(), *position));
                }
                _ => healthy = false,
            }
        }
        let options = FetchOptions {
            max_wait_ms: if by_leader.len() > 1 {
                FETCH_WAIT_SHARED_MS
            } else {
                FETCH_WAIT_MS
            },
            response_bytes_max: FETCH_BYTES_MAX,
            partition_bytes_max: FETCH_PARTITION_BYTES_MAX,
            isolation_level: self.isolation_level,
        };
        for (leader, positions) in by_leader {
            let fetched = match self.connections.to(leader, &self.leaders) {
                Ok(client) => client.fetch(&positions, options),
                Err(e) => Err(e),
            };
            match fetched {
                Ok(fetched) => {
                    for partition in fetched {
                        healthy &= self.take(partition)?;
                        if self.printer.finished() {
                            return Ok(true);
                        }
                    }
                }
                Err(e) => {
                    eprintln!("vltava: fetching from broker {leader}: {e:#}");
                    self.connections.close(leader);
                    healthy = false;
                }
            }
        }
        Ok(healthy)
    }

    /// Prints one partition's records and moves its position; false if its leader moved.
    fn take(&mut self, fetched: Fetched) -> anyhow::Result<bool> {
        let p = fetched.partition;
        let Some(position) = self.positions.get(&p).copied() else {
            return Ok(true);
        };
        match ResponseError::try_from_code(fetched.error_code) {
            None => {}
            Some(
                ResponseError::NotLeaderOrFollower
                | ResponseError::LeaderNotAvailable
                | ResponseError::FencedLeaderEpoch
                | ResponseError::UnknownLeaderEpoch
                | ResponseError::UnknownTopicOrPartition,
            ) => return Ok(false),
            Some(ResponseError::OffsetOutOfRange) => bail!(
                "{p}: offset {position} is outside [{}, {}] (OFFSET_OUT_OF_RANGE)",
                fetched.log_start_offset,
                fetched.high_watermark
            ),
            Some(_) => bail!("fetching {p}: {}", error_name(fetched.error_code)),
        }
        let decoded = batches::decode(fetched.records, position, fetched.aborted)
            .with_context(|| format!("the records of {p}"))?;
        let mut next = decoded.next_offset.unwrap_or(position).max(position);
        for record in &decoded.records {
            if self.printer.finished() {
                next = record.offset;
                break;
            }
            self.printer.print(&self.topic, p.partition, record)?;
        }
        self.positions.insert(p.clone(), next);
        let end = if self.isolation_level == 1 {
            fetched.last_stable_offset
        } else {
            fetched.high_watermark
        };
        self.progress.saw_end(&p, end);
        if self.exit_at_end && next >= end {
            self.done.insert(p);
        }
        Ok(true)
    }

    /// Asks again where the partitions are led (of another broker if need be), for at most
    /// `LEADERLESS_TIMEOUT` after fetching stopped going well.
    fn refresh(&mut self) -> anyhow::Result<()> {
        let since = *self.leaderless_since.get_or_insert_with(Instant::now);
        if since.elapsed() > LEADERLESS_TIMEOUT {
            bail!(
                "{}: no reachable leader for {LEADERLESS_TIMEOUT:?}",
                self.topic
            );
        }
        std::thread::sleep(REFRESH_BACKOFF);
        let topics = [self.topic.clone()];
        if let Ok(leaders) = self
            .bootstrap
            .leaders_failing_over(&self.leaders, &topics, false)
        {
            match leaders.topic_errors.get(&self.topic) {
                None => self.leaders = leaders,
                Some(code) if leadership_error(*code) => {}
                Some(code) => bail!("topic {}: {}", self.topic, error_name(*code)),
            }
        }
        Ok(())
    }
}
