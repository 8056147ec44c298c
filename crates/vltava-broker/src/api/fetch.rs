//! Fetch: read whole batches as stored and hand them over unchanged. A fetch that finds fewer
//! than min_bytes waits (long polling) until a high watermark it reads moves, or max_wait_ms.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::select_all;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint,
    PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, ProducerId};
use tokio::sync::watch;
use vltava_storage::ReadSlice;
use vltava_storage::leader_epochs::{UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET};

use super::current_leader::{CurrentLeader, LeaderEndpoints, current_leader, node_endpoints};
use crate::broker::{Broker, now_ms};
use crate::dispatch::{Reply, RequestContext, Response};
use crate::error::BrokerError;
use crate::fetch_session::{FetchTarget, PartitionKey, Payload, Reported, ResolvedFetch};
use crate::leader_epoch::{check_current_leader_epoch, fetch_epoch};
use crate::partition::{Fetched, Partition, ReadBound};
use crate::replication::read_replica::{ReplicaSelector, ReplicaView};
use crate::security::acl::Authorization;
use crate::topics::Topic;
use vltava_cluster::acl::AclOperation;

const READ_COMMITTED: i8 = 1;
/// The first Fetch version with the consumer's rack (KIP-392).
const FROM_ANY_REPLICA_VERSION: i16 = 11;
/// Kafka's `UnifiedLog.UNKNOWN_OFFSET`, in every offset of a partition answered with an error.
const UNKNOWN_OFFSET: i64 = -1;

/// Where and how much to read from one partition.
struct PartitionRead {
    offset: i64,
    max_bytes: usize,
    /// The first partition of a response returns at least one batch, even above `max_bytes`.
    min_one_batch: bool,
    /// Read committed answers carry an aborted-transactions list (empty: none are aborted).
    read_committed: bool,
    current_leader_epoch: i32,
    last_fetched_epoch: i32,
    /// The follower fetching, for a replica's fetch: reads to the log end, and the fetch
    /// offset tells the leader what the follower holds durably.
    replica: Option<i32>,
}

/// One read of every target: what a response would carry, before the session decides which
/// partitions an incremental response leaves out. A long poll may read several times and
/// send only the last, so the session is told only about the pass that is sent.
struct Pass {
    /// Each partition's answer, with its records still in their segment (empty if none).
    partitions: Vec<(PartitionKey, PartitionData, Payload, ReadSlice)>,
    /// Record bytes read.
    bytes: usize,
    /// Some partition answered with an error (which ends long polling, as in Kafka).
    errors: bool,
    /// The leaders named to clients that asked the wrong broker (KIP-951).
    leaders: LeaderEndpoints,
    /// Some partition sent the consumer to another replica (KIP-392), which also ends long
    /// polling, as in Kafka.
    redirects: bool,
}

/// One fetch, resolved against its session and ready to be (re)read.
struct PlannedFetch {
    broker: Arc<Broker>,
    /// The client's listener: leaders are named by their address on it.
    listener: Arc<str>,
    resolved: ResolvedFetch,
    by_id: bool,
    read_committed: bool,
    min_bytes: usize,
    max_bytes: usize,
    max_wait: Duration,
    /// A follower's fetch (Kafka's replica id, from ReplicaState since v15).
    replica: Option<i32>,
    /// A consumer's fetch from v11 on (KIP-392): any replica may serve it, not only the
    /// leader, and the leader may send it to one in `client_rack`.
    from_any_replica: bool,
    client_rack: String,
    /// What the principal may read; a follower needs CLUSTER_ACTION instead.
    authorization: Authorization,
}

pub async fn handle(context: RequestContext, request: FetchRequest) -> Reply {
    let by_id = context.api_version >= 13;
    let replica_id = match context.api_version >= 15 {
        true => request.replica_state.replica_id.0,
        false => request.replica_id.0,
    };
    let mut requested = Vec::new();
    for topic in request.topics {
        for partition in topic.partitions {
            requested.push(FetchTarget {
                key: PartitionKey {
                    topic: topic.topic.clone(),
                    topic_id: topic.topic_id,
                    partition: partition.partition,
                },
                fetch_offset: partition.fetch_offset,
                max_bytes: partition.partition_max_bytes,
                current_leader_epoch: partition.current_leader_epoch,
                last_fetched_epoch: partition.last_fetched_epoch,
            });
        }
    }
    let forgotten = request
        .forgotten_topics_data
        .into_iter()
        .flat_map(|t| {
            t.partitions.into_iter().map(move |partition| PartitionKey {
                topic: t.topic.clone(),
                topic_id: t.topic_id,
                partition,
            })
        })
        .collect();
    let sessions = &context.broker.fetch_sessions;
    let resolved = match sessions.resolve(
        request.session_id,
        request.session_epoch,
        requested,
        forgotten,
    ) {
        Ok(resolved) => resolved,
        Err(code) => return FetchResponse::default().with_error_code(code).into(),
    };
    let plan = PlannedFetch {
        broker: context.broker.clone(),
        listener: context.session.listener.clone(),
        resolved,
        by_id,
        read_committed: request.isolation_level == READ_COMMITTED,
        min_bytes: usize::try_from(request.min_bytes).unwrap_or(0),
        // The broker's fetch.max.bytes caps what the request asks for.
        max_bytes: usize::try_from(request.max_bytes)
            .unwrap_or(0)
            .min(context.broker.config.fetch_response_bytes_max),
        max_wait: Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0)),
        replica: (replica_id >= 0).then_some(replica_id),
        from_any_replica: replica_id < 0 && context.api_version >= FROM_ANY_REPLICA_VERSION,
        client_rack: request.rack_id.to_string(),
        authorization: context.authorization(),
    };
    Reply::Later(Box::pin(plan.run()))
}

impl PlannedFetch {
    async fn run(self) -> Response {
        let deadline = tokio::time::Instant::now() + self.max_wait;
        // Bounded: every pass either returns or waits for a high watermark move or the deadline.
        loop {
            let partitions = self.partitions();
            // A follower waits for new data, a consumer for the high watermark to move.
            let watchers: Vec<watch::Receiver<i64>> = partitions
                .iter()
                .flatten()
                .map(|p| match self.replica {
                    Some(_) => p.watch_log_end(),
                    None => p.watch_high_watermark(),
                })
                .collect();
            let pass = self.read(&partitions);
            let waited_enough = tokio::time::Instant::now() >= deadline;
            let answer_now = pass.errors || pass.redirects || waited_enough;
            if pass.bytes >= self.min_bytes || answer_now || watchers.is_empty() {
                return self.respond(pass);
            }
            let changes = watchers
                .into_iter()
                .map(|mut rx| Box::pin(async move { rx.changed().await }));
            if tokio::time::timeout_at(deadline, select_all(changes))
                .await
                .is_err()
            {
                // Deadline: answer with what there is now (possibly data that just arrived).
                return self.respond(self.read(&self.partitions()));
            }
        }
    }

    /// Kafka's checks: a follower's fetch needs CLUSTER_ACTION on the cluster, a consumer's
    /// READ on each topic; a refused partition is TOPIC_AUTHORIZATION_FAILED either way.
    fn allowed(&self, topic: &str) -> bool {
        match self.replica {
            Some(_) => self
                .authorization
                .allows_cluster(AclOperation::ClusterAction),
            None => self.authorization.allows_topic(AclOperation::Read, topic),
        }
    }

    fn partitions(&self) -> Vec<Result<Arc<Partition>, BrokerError>> {
        let topics = &self.broker.topics;
        self.resolved
            .targets
            .iter()
            .map(|target| {
                let key = &target.key;
                let topic = if self.by_id {
                    topics
                        .get_by_id(&key.topic_id)
                        .ok_or(BrokerError::UnknownTopicId)?
                } else {
                    topics
                        .get(&key.topic.0)
                        .ok_or(BrokerError::UnknownTopicOrPartition)?
                };
                if !self.allowed(&topic.name) {
                    return Err(BrokerError::TopicAuthorizationFailed);
                }
                match self.from_any_replica {
                    true => topic.replica_here(key.partition).cloned(),
                    false => topic.led_here(key.partition).cloned(),
                }
            })
            .collect()
    }

    /// Reads every target once, leaving the session untouched.
    fn read(&self, partitions: &[Result<Arc<Partition>, BrokerError>]) -> Pass {
        let mut read_partitions = Vec::with_capacity(partitions.len());
        let mut total = 0usize;
        let mut errors = false;
        let mut leaders = LeaderEndpoints::default();
        let mut redirects = false;
        for (target, partition) in self.resolved.targets.iter().zip(partitions) {
            let budget = self.max_bytes.saturating_sub(total);
            let partition_max = usize::try_from(target.max_bytes).unwrap_or(0).min(budget);
            let preferred = partition
                .as_ref()
                .ok()
                .and_then(|p| self.preferred_read_replica(p, target.fetch_offset));
            let (data, news, records) = match (partition, preferred) {
                (Ok(partition), Some(replica)) => {
                    redirects = true;
                    let offsets = partition.offsets();
                    let data = PartitionData::default()
                        .with_high_watermark(offsets.high_watermark)
                        .with_last_stable_offset(partition.last_stable_offset())
                        .with_log_start_offset(offsets.log_start_offset)
                        .with_records(Some(Bytes::new()))
                        .with_preferred_read_replica(BrokerId(replica));
                    (data, Payload::RecordsOrError, ReadSlice::empty())
                }
                (Ok(partition), None) => {
                    let read = PartitionRead {
                        offset: target.fetch_offset,
                        max_bytes: partition_max,
                        min_one_batch: total == 0,
                        read_committed: self.read_committed,
                        current_leader_epoch: target.current_leader_epoch,
                        last_fetched_epoch: target.last_fetched_epoch,
                        replica: self.replica,
                    };
                    let (data, records) = read_partition(partition, read);
                    total += records.len();
                    let errored = data.error_code != 0;
                    errors |= errored;
                    let payload = if !records.is_empty() || errored {
                        Payload::RecordsOrError
                    } else {
                        Payload::OffsetsOnly
                    };
                    (data, payload, records)
                }
                (Err(error), _) => {
                    errors = true;
                    // As Kafka's `FetchResponse.partitionResponse(tp, error)` for a partition it
                    // does not have: no offsets, and an empty (not null) aborted list.
                    let mut data =
                        errored_partition(error.code()).with_aborted_transactions(Some(Vec::new()));
                    if let (BrokerError::NotLeaderOrFollower, Some(leader)) =
                        (error, self.current_leader(&target.key))
                    {
                        leaders.add(&leader);
                        data = data.with_current_leader(
                            LeaderIdAndEpoch::default()
                                .with_leader_id(BrokerId(leader.id))
                                .with_leader_epoch(leader.epoch),
                        );
                    }
                    (data, Payload::RecordsOrError, ReadSlice::empty())
                }
            };
            let data = data.with_partition_index(target.key.partition);
            read_partitions.push((target.key.clone(), data, news, records));
        }
        Pass {
            partitions: read_partitions,
            bytes: total,
            errors,
            leaders,
            redirects,
        }
    }

    /// KIP-392: on the leader, the replica in the consumer's rack it should read from
    /// instead, if the broker's replica selector picks one that holds the fetch offset.
    fn preferred_read_replica(&self, partition: &Partition, fetch_offset: i64) -> Option<i32> {
        let selector = self.broker.config.replica_selector;
        if !self.from_any_replica
            || self.client_rack.is_empty()
            || selector == ReplicaSelector::Leader
        {
            return None;
        }
        let holding = partition.followers_holding(fetch_offset, now_ms())?;
        let image = self.broker.image();
        let followers: Vec<ReplicaView> = holding
            .into_iter()
            .filter_map(|(id, log_end_offset, since_caught_up_ms)| {
                // Only a live broker can serve the consumer.
                let broker = image.live_broker(id)?;
                Some(ReplicaView {
                    id,
                    rack: broker.rack.clone(),
                    log_end_offset,
                    since_caught_up_ms,
                })
            })
            .collect();
        let leader = ReplicaView {
            id: self.broker.config.node_id,
            rack: self.broker.config.rack.clone(),
            log_end_offset: partition.log_end_offset(),
            since_caught_up_ms: 0,
        };
        selector.select(&self.client_rack, &leader, &followers)
    }

    /// The partition's leader, for a client that asked this broker instead.
    fn current_leader(&self, key: &PartitionKey) -> Option<CurrentLeader> {
        let topics = &self.broker.topics;
        let topic = if self.by_id {
            topics.get_by_id(&key.topic_id)
        } else {
            topics.get(&key.topic.0)
        }?;
        current_leader(&self.broker, &self.listener, &topic, key.partition)
    }

    /// Adds one partition's answer to its topic's BrokerTopicMetrics (bytes out for consumers
    /// only, as Kafka's BytesOutPerSec leaves replication out). `last` keeps the topic of the
    /// previous partition: a response's partitions come grouped by topic, so the topic map is
    /// read about once a topic, not once a partition.
    fn count(
        &self,
        last: &mut Option<Arc<Topic>>,
        key: &PartitionKey,
        data: &PartitionData,
        records: &ReadSlice,
    ) {
        let same = |t: &Arc<Topic>| match self.by_id {
            true => t.id == key.topic_id,
            false => *t.name == *key.topic.0,
        };
        if !last.as_ref().is_some_and(same) {
            let topics = &self.broker.topics;
            *last = match self.by_id {
                true => topics.get_by_id(&key.topic_id),
                false => topics.get(&key.topic.0),
            };
        }
        let Some(topic) = last.as_ref() else {
            return;
        };
        let metrics = &topic.metrics;
        metrics.fetch_requests.inc();
        if data.error_code != 0 {
            metrics.failed_fetch_requests.inc();
        } else if self.replica.is_none() {
            metrics.bytes_out.inc_by(records.len() as u64);
        } else {
            let replication = &self.broker.metrics.replication_bytes_out;
            replication.inc_by(records.len() as u64);
        }
    }

    /// The response to send for `pass`: the session records what it reports, and an
    /// incremental response leaves out partitions with nothing new. The records stay in
    /// their files, listed beside the response in its partitions' order.
    fn respond(&self, pass: Pass) -> Response {
        let mut topics: Vec<FetchableTopicResponse> = Vec::new();
        let mut slices = Vec::with_capacity(pass.partitions.len());
        let mut counted: Option<Arc<Topic>> = None;
        for (key, data, payload, records) in pass.partitions {
            self.count(&mut counted, &key, &data, &records);
            let reported = Reported {
                high_watermark: data.high_watermark,
                log_start_offset: data.log_start_offset,
            };
            if !self
                .broker
                .fetch_sessions
                .report(self.resolved.session_id, &key, reported, payload)
                && self.resolved.incremental
            {
                continue;
            }
            // `push` appends to the last topic or starts a new one, so the response lists
            // partitions in this loop's order, the order of `slices`.
            push(&mut topics, &key, data);
            slices.push(records);
        }
        let response = FetchResponse::default()
            .with_session_id(self.resolved.session_id)
            .with_responses(topics)
            .with_node_endpoints(node_endpoints!(pass.leaders, NodeEndpoint));
        Response {
            kind: response.into(),
            records: slices,
        }
    }
}

/// Reads one partition: its data (with an empty records field) and where its record bytes
/// are, or the error it is answered with.
fn read_partition(partition: &Partition, read: PartitionRead) -> (PartitionData, ReadSlice) {
    let PartitionRead {
        offset,
        max_bytes,
        min_one_batch,
        read_committed,
        current_leader_epoch,
        last_fetched_epoch,
        replica,
    } = read;
    let leader_epoch = partition.leader_epoch();
    let read = check_current_leader_epoch(fetch_epoch(current_leader_epoch), leader_epoch)
        .map_err(|error| error.code())
        .and_then(|()| match fetch_epoch(last_fetched_epoch) {
            Some(epoch) => diverging_epoch(partition, offset, epoch),
            None => Ok(None),
        })
        .and_then(|diverging| match diverging {
            Some(diverging) => {
                let offsets = partition.offsets();
                let nothing = Fetched {
                    records: ReadSlice::empty(),
                    high_watermark: offsets.high_watermark,
                    log_start_offset: offsets.log_start_offset,
                    last_stable_offset: partition.last_stable_offset(),
                    aborted: Vec::new(),
                };
                Ok((nothing, Some(diverging)))
            }
            None => match replica {
                Some(replica) => partition
                    .follower_fetched(replica, offset, now_ms())
                    .and_then(|()| partition.read_for_follower(offset, max_bytes, min_one_batch)),
                None => {
                    let bound = match read_committed {
                        true => ReadBound::LastStable,
                        false => ReadBound::HighWatermark,
                    };
                    partition.read_to(offset, max_bytes, min_one_batch, bound)
                }
            }
            .map(|fetched| (fetched, None))
            .map_err(|error| error.code()),
        });
    match read {
        Ok((fetched, diverging)) => {
            let aborted = fetched
                .aborted
                .iter()
                .map(|a| {
                    AbortedTransaction::default()
                        .with_producer_id(ProducerId(a.producer_id))
                        .with_first_offset(a.first_offset)
                })
                .collect();
            let mut data = PartitionData::default()
                .with_high_watermark(fetched.high_watermark)
                .with_last_stable_offset(fetched.last_stable_offset)
                .with_log_start_offset(fetched.log_start_offset)
                .with_records(Some(Bytes::new()))
                .with_aborted_transactions(read_committed.then_some(aborted));
            if let Some(diverging) = diverging {
                data = data.with_diverging_epoch(diverging);
            }
            (data, fetched.records)
        }
        // The partition exists, so, as Kafka's replica manager answers a failed read, the
        // aborted list stays null. After OFFSET_OUT_OF_RANGE the client finds the offset to
        // reset to with ListOffsets; Kafka sends no offsets here.
        Err(code) => (
            errored_partition(code).with_aborted_transactions(None),
            ReadSlice::empty(),
        ),
    }
}

/// KIP-320: a fetcher whose last batch is of `last_fetched_epoch` reads on only if this log
/// agrees with it up to `offset`. Otherwise the answer is where that epoch ends here (the
/// fetcher truncates to it), as Kafka's `Partition.readRecords`; a log that cannot say where
/// the epoch ends, or an offset below the log start, is OFFSET_OUT_OF_RANGE.
fn diverging_epoch(
    partition: &Partition,
    offset: i64,
    last_fetched_epoch: i32,
) -> std::result::Result<Option<EpochEndOffset>, i16> {
    let out_of_range = ResponseError::OffsetOutOfRange.code();
    let (epoch, end_offset) = partition
        .end_offset_for_epoch(last_fetched_epoch)
        .map_err(|error| error.code())?;
    if epoch == UNDEFINED_EPOCH || end_offset == UNDEFINED_EPOCH_OFFSET {
        return Err(out_of_range);
    }
    if offset < partition.offsets().log_start_offset {
        return Err(out_of_range);
    }
    let diverged = epoch < last_fetched_epoch || end_offset < offset;
    Ok(diverged.then(|| {
        EpochEndOffset::default()
            .with_epoch(epoch)
            .with_end_offset(end_offset)
    }))
}

/// A partition answered with an error: high watermark, last stable offset and log start
/// offset all -1 (Kafka's unknown offset), and no records.
fn errored_partition(code: i16) -> PartitionData {
    PartitionData::default()
        .with_error_code(code)
        .with_high_watermark(UNKNOWN_OFFSET)
        .with_last_stable_offset(UNKNOWN_OFFSET)
        .with_log_start_offset(UNKNOWN_OFFSET)
        .with_records(Some(Bytes::new()))
}

fn push(topics: &mut Vec<FetchableTopicResponse>, key: &PartitionKey, data: PartitionData) {
    match topics.last_mut() {
        Some(last) if last.topic == key.topic && last.topic_id == key.topic_id => {
            last.partitions.push(data)
        }
        _ => topics.push(
            FetchableTopicResponse::default()
                .with_topic(key.topic.clone())
                .with_topic_id(key.topic_id)
                .with_partitions(vec![data]),
        ),
    }
}
