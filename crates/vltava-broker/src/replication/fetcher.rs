//! Follower fetching (Kafka's `ReplicaFetcherThread`): one task per leader broker fetches every
//! partition this broker follows there, in one Fetch request at a time with the follower's
//! replica id. Each answer is appended as fetched, fsynced, and only then is the next request
//! sent: the offset it asks for tells the leader that everything before it is durable here.
//!
//! A fetch from an epoch the leader's log does not continue is answered with where that epoch
//! ends there (KIP-320's diverging epoch); the follower truncates to it and fetches again, so a
//! deposed leader's unacknowledged suffix never survives. A follower whose log ends below the
//! leader's log start (it was away while retention ran) starts over at the leader's log start.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId as WireBrokerId, FetchRequest, FetchResponse, ListOffsetsRequest,
    ListOffsetsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;
use vltava_cluster::records::BrokerId;
use vltava_wire::nonblocking::Connection;

use crate::broker::now_ms;
use crate::config::FlushPolicy;
use crate::partition::Partition;
use crate::topics::Topics;

/// Fetch v16: topic ids, the replica id in ReplicaState (KIP-903), diverging epochs.
const FETCH_VERSION: i16 = 16;
const LIST_OFFSETS_VERSION: i16 = 7;
/// How long the leader holds a fetch that finds nothing new (Kafka's `replica.fetch.wait.max.ms`).
const FETCH_WAIT_MS: i32 = 500;
/// Bytes per partition and per response (Kafka's `replica.fetch.max.bytes` and
/// `replica.fetch.response.max.bytes`).
const PARTITION_FETCH_BYTES: i32 = 1024 * 1024;
const RESPONSE_FETCH_BYTES: i32 = 10 * 1024 * 1024;
/// A response frame larger than this is refused before it is read.
const RESPONSE_FRAME_BYTES_MAX: usize = 2 * RESPONSE_FETCH_BYTES as usize;
/// A leader that does not answer within this is taken for gone: the connection is dropped.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The wait before fetching again after an error (Kafka's `replica.fetch.backoff.ms`).
const BACKOFF: Duration = Duration::from_millis(100);
const CLIENT_ID: &str = "vltava-replica-fetcher";
/// ListOffsets' timestamp for the log start offset.
const EARLIEST_TIMESTAMP: i64 = -2;

/// One partition this broker follows.
#[derive(Debug, Clone)]
pub struct Followed {
    pub topic: Arc<str>,
    pub topic_id: Uuid,
    pub partition: Arc<Partition>,
    pub leader_epoch: i32,
}

type FollowedSet = Arc<Vec<Followed>>;

#[derive(Debug)]
struct Fetcher {
    address: String,
    followed: watch::Sender<FollowedSet>,
    task: JoinHandle<()>,
}

/// The fetcher tasks of this broker, one per leader it follows partitions of.
#[derive(Debug)]
pub struct ReplicaFetchers {
    node_id: BrokerId,
    flush: FlushPolicy,
    /// `inter.broker.listener.name`: the leaders' listener followers connect to.
    listener: String,
    /// Bytes appended from leaders' answers (`BrokerMetrics::replication_bytes_in`).
    bytes_in: Counter,
    fetchers: Mutex<BTreeMap<BrokerId, Fetcher>>,
}

impl ReplicaFetchers {
    pub fn new(
        node_id: BrokerId,
        flush: FlushPolicy,
        listener: String,
        bytes_in: Counter,
    ) -> ReplicaFetchers {
        ReplicaFetchers {
            node_id,
            flush,
            listener,
            bytes_in,
            fetchers: Mutex::default(),
        }
    }

    /// Makes the fetchers follow what the image published in `topics` says: a task per
    /// leader with the partitions followed there; tasks of leaders no longer followed (or
    /// reachable elsewhere now) stop.
    pub fn follow(&self, topics: &Topics) {
        let image = topics.published_image();
        let mut wanted: BTreeMap<BrokerId, Vec<Followed>> = BTreeMap::new();
        for topic in topics.all() {
            for partition in &topic.partitions {
                let Some(registration) = topic.image.partitions.get(&partition.index) else {
                    continue;
                };
                if registration.leader == self.node_id || !registration.has_leader() {
                    continue;
                }
                wanted
                    .entry(registration.leader)
                    .or_default()
                    .push(Followed {
                        topic: topic.name.clone(),
                        topic_id: topic.id,
                        partition: partition.clone(),
                        leader_epoch: registration.leader_epoch,
                    });
            }
        }
        let address = |leader: &BrokerId| {
            let broker = image.brokers.get(leader)?;
            let endpoint = broker.endpoint(&self.listener)?;
            Some(format!("{}:{}", endpoint.host, endpoint.port))
        };
        let mut fetchers = self.fetchers.lock().unwrap_or_else(|e| e.into_inner());
        fetchers.retain(|leader, fetcher| {
            let keep =
                wanted.contains_key(leader) && address(leader) == Some(fetcher.address.clone());
            if !keep {
                fetcher.task.abort();
            }
            keep
        });
        for (leader, followed) in wanted {
            let followed = Arc::new(followed);
            if let Some(fetcher) = fetchers.get(&leader) {
                fetcher.followed.send_replace(followed);
                continue;
            }
            let Some(address) = address(&leader) else {
                continue;
            };
            let (sender, receiver) = watch::channel(followed);
            let run = FetchLoop {
                node_id: self.node_id,
                leader,
                address: address.clone(),
                flush: self.flush,
                bytes_in: self.bytes_in.clone(),
                connection: None,
            };
            tracing::info!(leader, %address, "replica fetcher started");
            fetchers.insert(
                leader,
                Fetcher {
                    address,
                    followed: sender,
                    task: tokio::spawn(run.run(receiver)),
                },
            );
        }
    }

    /// Stops every fetcher (shutdown).
    pub fn stop(&self) {
        let mut fetchers = self.fetchers.lock().unwrap_or_else(|e| e.into_inner());
        for (_, fetcher) in std::mem::take(&mut *fetchers) {
            fetcher.task.abort();
        }
    }
}

impl Drop for ReplicaFetchers {
    fn drop(&mut self) {
        self.stop();
    }
}

struct FetchLoop {
    node_id: BrokerId,
    leader: BrokerId,
    address: String,
    flush: FlushPolicy,
    bytes_in: Counter,
    connection: Option<Connection>,
}

/// What one fetch did to the partitions it named.
#[derive(Debug, Default)]
struct Applied {
    /// Some partition got data or truncated: fetch again at once.
    progress: bool,
    /// Some partition was answered with an error: back off before the next fetch.
    errors: bool,
    /// Partitions whose fetch offset is below the leader's log start.
    out_of_range: Vec<Followed>,
    /// Record bytes appended.
    bytes: u64,
}

impl FetchLoop {
    /// Runs until aborted. Bounded per round: each fetch has a timeout, each error a backoff.
    async fn run(mut self, mut changes: watch::Receiver<FollowedSet>) {
        loop {
            let followed = changes.borrow_and_update().clone();
            if followed.is_empty() {
                if changes.changed().await.is_err() {
                    return;
                }
                continue;
            }
            // Each partition's fetch offset as sent: an answer applies only to a log that still
            // ends there.
            let offsets: Vec<i64> = followed
                .iter()
                .map(|f| f.partition.log_end_offset())
                .collect();
            let fetched = tokio::select! {
                fetched = self.fetch(&followed, &offsets) => fetched,
                // Leadership moved: drop the request in flight with its connection.
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    self.connection = None;
                    continue;
                }
            };
            // Not raced against changes: an apply runs to its end before the next fetch.
            let round = match fetched {
                Ok(response) => self.apply(followed, offsets, response).await,
                Err(error) => Err(error),
            };
            match round {
                Ok(applied) if applied.progress && !applied.errors => {}
                Ok(_) => back_off(&mut changes).await,
                Err(error) => {
                    tracing::debug!(leader = self.leader, %error, "replica fetch failed");
                    self.connection = None;
                    back_off(&mut changes).await;
                }
            }
        }
    }

    async fn connection(&mut self) -> anyhow::Result<&mut Connection> {
        if self.connection.is_none() {
            let connection =
                Connection::connect(&self.address, CLIENT_ID, RESPONSE_FRAME_BYTES_MAX).await?;
            self.connection = Some(connection);
        }
        Ok(self.connection.as_mut().expect("set above"))
    }

    async fn fetch(
        &mut self,
        followed: &[Followed],
        offsets: &[i64],
    ) -> anyhow::Result<FetchResponse> {
        let request = fetch_request(self.node_id, followed, offsets);
        let connection = self.connection().await?;
        let response: FetchResponse = tokio::time::timeout(
            FETCH_TIMEOUT,
            connection.exchange(ApiKey::Fetch, FETCH_VERSION, &request),
        )
        .await??;
        if response.error_code != 0 {
            anyhow::bail!("fetch refused with error code {}", response.error_code);
        }
        Ok(response)
    }

    async fn apply(
        &mut self,
        followed: FollowedSet,
        offsets: Vec<i64>,
        response: FetchResponse,
    ) -> anyhow::Result<Applied> {
        let flush = self.flush;
        let set = followed.clone();
        let applied =
            tokio::task::spawn_blocking(move || apply(&set, &offsets, response, flush)).await?;
        self.bytes_in.inc_by(applied.bytes);
        for partition in &applied.out_of_range {
            self.start_over(partition).await?;
        }
        Ok(applied)
    }

    /// The fetch offset is out of the leader's range: if the leader's log now starts past
    /// this copy's end, this copy starts over there.
    async fn start_over(&mut self, followed: &Followed) -> anyhow::Result<()> {
        let request = ListOffsetsRequest::default()
            .with_replica_id(WireBrokerId(self.node_id))
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(followed.topic.to_string())))
                    .with_partitions(vec![
                        ListOffsetsPartition::default()
                            .with_partition_index(followed.partition.index)
                            .with_current_leader_epoch(followed.leader_epoch)
                            .with_timestamp(EARLIEST_TIMESTAMP),
                    ]),
            ]);
        let connection = self.connection().await?;
        let response: ListOffsetsResponse = tokio::time::timeout(
            FETCH_TIMEOUT,
            connection.exchange(ApiKey::ListOffsets, LIST_OFFSETS_VERSION, &request),
        )
        .await??;
        let Some(answer) = response
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .filter(|p| p.error_code == 0)
        else {
            anyhow::bail!("the leader did not say where its log starts");
        };
        let leader_start = answer.offset;
        let partition = followed.partition.clone();
        if partition.log_end_offset() < leader_start {
            tracing::warn!(
                topic = %followed.topic,
                partition = partition.index,
                leader_start,
                "this replica is behind the leader's log start; starting over there"
            );
            tokio::task::spawn_blocking(move || {
                partition.truncate_fully_and_start_at(leader_start, now_ms())
            })
            .await??;
        } else {
            tracing::warn!(
                topic = %followed.topic,
                partition = partition.index,
                leader_start,
                "fetch out of range although the leader's log starts below this replica's end"
            );
        }
        Ok(())
    }
}

/// Waits `BACKOFF`, or less if what is followed changes.
async fn back_off(changes: &mut watch::Receiver<FollowedSet>) {
    let _ = tokio::time::timeout(BACKOFF, changes.changed()).await;
}

fn fetch_request(node_id: BrokerId, followed: &[Followed], offsets: &[i64]) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for (f, &offset) in followed.iter().zip(offsets) {
        let partition = FetchPartition::default()
            .with_partition(f.partition.index)
            .with_current_leader_epoch(f.leader_epoch)
            .with_fetch_offset(offset)
            .with_last_fetched_epoch(f.partition.last_fetched_epoch())
            .with_log_start_offset(-1)
            .with_partition_max_bytes(PARTITION_FETCH_BYTES);
        match topics.last_mut() {
            Some(topic) if topic.topic_id == f.topic_id => topic.partitions.push(partition),
            _ => topics.push(
                FetchTopic::default()
                    .with_topic_id(f.topic_id)
                    .with_partitions(vec![partition]),
            ),
        }
    }
    FetchRequest::default()
        .with_replica_state(
            ReplicaState::default()
                .with_replica_id(WireBrokerId(node_id))
                .with_replica_epoch(-1),
        )
        .with_max_wait_ms(FETCH_WAIT_MS)
        .with_min_bytes(1)
        .with_max_bytes(RESPONSE_FETCH_BYTES)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics)
}

/// Applies a fetch response to the followed partitions: truncation at a diverging epoch,
/// appends, one fsync per partition that got data, then the leader's high watermark and log
/// start. Blocking (disk I/O).
fn apply(
    followed: &[Followed],
    offsets: &[i64],
    response: FetchResponse,
    flush: FlushPolicy,
) -> Applied {
    let mut applied = Applied::default();
    let now = now_ms();
    for topic in response.responses {
        for data in topic.partitions {
            let Some((f, &fetch_offset)) = followed.iter().zip(offsets).find(|(f, _)| {
                f.topic_id == topic.topic_id && f.partition.index == data.partition_index
            }) else {
                continue;
            };
            let partition = &f.partition;
            if data.error_code == ResponseError::OffsetOutOfRange.code() {
                applied.out_of_range.push(f.clone());
                continue;
            }
            if data.error_code != 0 {
                tracing::debug!(topic = %f.topic, partition = partition.index, code = data.error_code, "replica fetch answered with an error");
                applied.errors = true;
                continue;
            }
            let result =
                apply_partition(partition, fetch_offset, &data, flush, now).map(|change| {
                    if let Change::Appended(bytes) = change {
                        applied.bytes += bytes;
                    }
                    change != Change::None
                });
            match result {
                Ok(progress) => applied.progress |= progress,
                Err(error) => {
                    tracing::error!(topic = %f.topic, partition = partition.index, %error, "cannot apply replicated data");
                    applied.errors = true;
                }
            }
        }
    }
    applied
}

/// Applies one partition's answer to a fetch from `fetch_offset`; an answer to a log that no
/// longer ends there (another fetcher of this partition, for an older leader, got there
/// first) is dropped, as Kafka drops answers that do not match its fetch state.
fn apply_partition(
    partition: &Partition,
    fetch_offset: i64,
    data: &kafka_protocol::messages::fetch_response::PartitionData,
    flush: FlushPolicy,
    now: i64,
) -> crate::error::Result<Change> {
    let diverging = &data.diverging_epoch;
    if diverging.epoch >= 0 && diverging.end_offset >= 0 {
        // Kafka's `getOffsetTruncationState`: as far as both logs agree on that epoch; the
        // next fetch checks again from there.
        // A log with no epoch at or below the leader's (end -1) keeps nothing.
        let (_, end) = partition.end_offset_for_epoch(diverging.epoch)?;
        let target = diverging.end_offset.min(end.max(0));
        tracing::info!(
            topic = %partition.topic,
            partition = partition.index,
            target,
            "truncating a suffix the leader does not have"
        );
        let truncated = partition.truncate_diverged(fetch_offset, target, now)?;
        return Ok(if truncated {
            Change::Truncated
        } else {
            Change::None
        });
    }
    let records: &Bytes = match &data.records {
        Some(records) if !records.is_empty() => records,
        _ => {
            partition.follow_high_watermark(data.high_watermark);
            return Ok(Change::None);
        }
    };
    if !partition.append_as_follower(records, fetch_offset, now)? {
        return Ok(Change::None);
    }
    if flush == FlushPolicy::Always {
        partition.flush()?;
    }
    partition.follow_high_watermark(data.high_watermark);
    if data.log_start_offset >= 0 {
        partition.follow_log_start_offset(data.log_start_offset)?;
    }
    Ok(Change::Appended(records.len() as u64))
}

/// What one partition's answer changed in its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    None,
    Truncated,
    /// This many record bytes.
    Appended(u64),
}
