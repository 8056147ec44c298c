//! Reads a topic's partitions from their leaders, wherever they are in the cluster, for the
//! search and the live tail: positions per partition, one Fetch per leader per round, leaders
//! looked up again when one moves or cannot be reached. Blocking; runs on the blocking pool.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use vltava_client::batches::{self, InRecord};
use vltava_client::{
    Client, Connections, EARLIEST_TIMESTAMP, FetchOptions, LATEST_TIMESTAMP, Leaders,
    TopicPartition, error_name, leadership_error,
};

use super::CLIENT_ID;

/// One Fetch's size limits (Kafka's consumer defaults are larger: this is a console).
const FETCH_BYTES_MAX: i32 = 4 * 1024 * 1024;
const FETCH_PARTITION_BYTES_MAX: i32 = 1024 * 1024;
/// Kafka's OFFSET_OUT_OF_RANGE: the position fell out of the log (retention); start again at
/// the log start offset.
const OFFSET_OUT_OF_RANGE: i16 = 1;
/// Rounds in a row in which some leader could not be read before the reader gives up.
const FAILED_ROUNDS_MAX: u32 = 50;
const REFRESH_BACKOFF: Duration = Duration::from_millis(100);

/// A topic being read from per-partition positions.
#[derive(Debug)]
pub struct Reader {
    bootstrap: Client,
    topic: String,
    leaders: Leaders,
    connections: Connections,
    /// The next offset to read of each partition read.
    pub positions: BTreeMap<i32, i64>,
    failed_rounds: u32,
}

/// Where reading starts in each partition.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    /// This offset, moved into [log start, log end].
    Offset(i64),
    /// The first record at or after this time (ms), or the log end.
    Timestamp(i64),
    /// The log end: records produced from now on.
    End,
}

impl Reader {
    /// `partitions` of `topic` (all when `None`), positioned at `start`.
    pub fn open(
        bootstrap: &str,
        topic: &str,
        partitions: Option<i32>,
        start: Start,
    ) -> anyhow::Result<Reader> {
        let mut bootstrap = Client::connect_as(bootstrap, CLIENT_ID)?;
        let leaders = bootstrap.leaders(&[topic.to_string()], false)?;
        if let Some(code) = leaders.topic_errors.get(topic) {
            anyhow::bail!("topic {topic}: {}", error_name(*code));
        }
        let chosen: Vec<TopicPartition> = leaders
            .partitions
            .keys()
            .filter(|p| partitions.is_none_or(|only| only == p.partition))
            .cloned()
            .collect();
        if chosen.is_empty() {
            let which = partitions.map_or("s".to_string(), |p| format!(" {p}"));
            anyhow::bail!("topic {topic} has no partition{which}: UNKNOWN_TOPIC_OR_PARTITION");
        }
        let ends = offsets(&mut bootstrap, &chosen, LATEST_TIMESTAMP)?;
        let positions = match start {
            Start::End => ends,
            Start::Offset(offset) => {
                let starts = offsets(&mut bootstrap, &chosen, EARLIEST_TIMESTAMP)?;
                starts
                    .into_iter()
                    .map(|(p, low)| (p, offset.clamp(low, ends.get(&p).copied().unwrap_or(low))))
                    .collect()
            }
            Start::Timestamp(ms) => offsets(&mut bootstrap, &chosen, ms)?
                .into_iter()
                // -1: no record at or after that time.
                .map(|(p, at)| {
                    (
                        p,
                        if at < 0 {
                            ends.get(&p).copied().unwrap_or(0)
                        } else {
                            at
                        },
                    )
                })
                .collect(),
        };
        Ok(Reader {
            bootstrap,
            topic: topic.to_string(),
            leaders,
            connections: Connections::new(CLIENT_ID),
            positions,
            failed_rounds: 0,
        })
    }

    /// The log end offset of each partition read, now.
    pub fn end_offsets(&mut self) -> anyhow::Result<BTreeMap<i32, i64>> {
        let partitions = self.partitions(self.positions.keys().copied());
        offsets(&mut self.bootstrap, &partitions, LATEST_TIMESTAMP)
    }

    fn partitions(&self, indexes: impl Iterator<Item = i32>) -> Vec<TopicPartition> {
        indexes
            .map(|partition| TopicPartition {
                topic: self.topic.clone(),
                partition,
            })
            .collect()
    }

    /// One round: a Fetch to each leader of the partitions `wanted` says to read, waiting up to
    /// `max_wait_ms` for data. The records read, by partition, in offset order; the positions
    /// move past them.
    pub fn fetch_round(
        &mut self,
        wanted: impl Fn(i32, i64) -> bool,
        max_wait_ms: i32,
    ) -> anyhow::Result<Vec<(i32, InRecord)>> {
        let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, i64)>> = BTreeMap::new();
        let mut leaderless = false;
        for (&partition, &offset) in &self.positions {
            if !wanted(partition, offset) {
                continue;
            }
            let key = TopicPartition {
                topic: self.topic.clone(),
                partition,
            };
            match self.leaders.partitions.get(&key) {
                Some(leader) if self.leaders.brokers.contains_key(leader) => {
                    by_leader.entry(*leader).or_default().push((key, offset));
                }
                _ => leaderless = true,
            }
        }
        let options = FetchOptions {
            max_wait_ms: if by_leader.len() > 1 {
                max_wait_ms / 4
            } else {
                max_wait_ms
            },
            response_bytes_max: FETCH_BYTES_MAX,
            partition_bytes_max: FETCH_PARTITION_BYTES_MAX,
            isolation_level: 0,
        };
        let mut records = Vec::new();
        let mut refresh = leaderless;
        for (leader, positions) in by_leader {
            let fetched = self
                .connections
                .to(leader, &self.leaders)
                .and_then(|connection| connection.fetch(&positions, options));
            let fetched = match fetched {
                Ok(fetched) => fetched,
                Err(error) => {
                    tracing::debug!(%error, leader, "console: a fetch failed");
                    self.connections.close(leader);
                    refresh = true;
                    continue;
                }
            };
            for part in fetched {
                let index = part.partition.partition;
                let Some(position) = self.positions.get(&index).copied() else {
                    continue;
                };
                match part.error_code {
                    0 => {}
                    OFFSET_OUT_OF_RANGE => {
                        self.positions.insert(index, part.log_start_offset.max(0));
                        continue;
                    }
                    code if leadership_error(code) => {
                        refresh = true;
                        continue;
                    }
                    code => anyhow::bail!("fetching {}: {}", part.partition, error_name(code)),
                }
                let decoded = batches::decode(part.records, position, Vec::new())
                    .with_context(|| format!("reading {}", part.partition))?;
                if let Some(next) = decoded.next_offset {
                    self.positions.insert(index, next.max(position));
                }
                records.extend(decoded.records.into_iter().map(|r| (index, r)));
            }
        }
        if refresh {
            self.refresh_leaders()?;
        } else {
            self.failed_rounds = 0;
        }
        Ok(records)
    }

    fn refresh_leaders(&mut self) -> anyhow::Result<()> {
        self.failed_rounds += 1;
        anyhow::ensure!(
            self.failed_rounds <= FAILED_ROUNDS_MAX,
            "the leaders of topic {} could not be read for {FAILED_ROUNDS_MAX} rounds",
            self.topic
        );
        std::thread::sleep(REFRESH_BACKOFF);
        let known = std::mem::take(&mut self.leaders);
        self.leaders = match self.bootstrap.leaders_failing_over(
            &known,
            std::slice::from_ref(&self.topic),
            false,
        ) {
            Ok(leaders) => leaders,
            Err(error) => {
                self.leaders = known;
                return Err(error);
            }
        };
        Ok(())
    }
}

/// The offset of each partition at `timestamp`; a partition whose leader answered an error
/// makes it an error.
fn offsets(
    client: &mut Client,
    partitions: &[TopicPartition],
    timestamp: i64,
) -> anyhow::Result<BTreeMap<i32, i64>> {
    client
        .list_offsets(partitions, timestamp)?
        .into_iter()
        .map(|(p, offset)| match offset {
            Ok(offset) => Ok((p.partition, offset)),
            Err(name) => Err(anyhow::anyhow!("the offsets of {p}: {name}")),
        })
        .collect()
}
