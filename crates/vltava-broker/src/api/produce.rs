//! Produce: append each partition's batches in request order, then answer at once (acks 0/1)
//! or once the batches are durable (acks=all: fsynced, group-committed by the flusher).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_request::TopicProduceData;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse,
    TopicProduceResponse,
};
use kafka_protocol::messages::{BrokerId, ProduceRequest, ProduceResponse};

use vltava_storage::{INVALID_TIMESTAMP_MESSAGE, StorageError};

use super::current_leader::{LeaderEndpoints, current_leader, node_endpoints};
use super::str_bytes;
use crate::broker::{Broker, now_ms};
use crate::dispatch::{Reply, RequestContext};
use crate::error::BrokerError;
use crate::partition::{Durability, Partition};
use crate::security::acl::Authorization;
use crate::topics::Topic;
use crate::txn_coordinator::implicit;
use crate::txn_coordinator::state::ProducerRef;
use vltava_cluster::acl::AclOperation;

const ACKS_NONE: i16 = 0;
const ACKS_LEADER: i16 = 1;
const ACKS_ALL: i16 = -1;
/// The first Produce version of transaction version 2 (KIP-890 part 2).
const TXN_V2_VERSION: i16 = 12;
/// Kafka's `ProduceResponse.INVALID_OFFSET`.
const INVALID_OFFSET: i64 = -1;

/// A partition whose acks=all answer waits for its high watermark to pass `last_offset`.
struct AwaitDurable {
    partition: Arc<Partition>,
    last_offset: i64,
    topic: usize,
    index: usize,
}

pub async fn handle(context: RequestContext, request: ProduceRequest) -> Reply {
    let broker = &context.broker;
    let acks = request.acks;
    if !matches!(acks, ACKS_NONE | ACKS_LEADER | ACKS_ALL) {
        return error_response(request, ResponseError::InvalidRequiredAcks.code()).into();
    }
    let authorization = context.authorization();
    if !transactional_write_allowed(&authorization, &request) {
        let code = ResponseError::TransactionalIdAuthorizationFailed.code();
        return error_response(request, code).into();
    }
    let by_id = context.api_version >= 13;
    // Transaction version 2 clients add a partition to their transaction by writing to it.
    let implicit_txn = match context.api_version >= TXN_V2_VERSION {
        true => request.transactional_id.as_ref().map(|id| id.0.to_string()),
        false => None,
    };
    let mut waits = Vec::new();
    let mut leaders = LeaderEndpoints::default();
    let mut responses = Vec::with_capacity(request.topic_data.len());
    for (topic_index, data) in request.topic_data.into_iter().enumerate() {
        let topic = if by_id {
            broker
                .topics
                .get_by_id(&data.topic_id)
                .ok_or(BrokerError::UnknownTopicId)
        } else {
            broker
                .topics
                .get(&data.name.0)
                .ok_or(BrokerError::UnknownTopicOrPartition)
        };
        // Kafka checks WRITE before the topic's existence, so a name the principal may not
        // write reveals nothing; a topic id is checked once it is known.
        let name = match (&topic, by_id) {
            (Ok(t), _) => Some(t.name.to_string()),
            (Err(_), false) => Some(data.name.0.to_string()),
            (Err(_), true) => None,
        };
        let denied = name.is_some_and(|n| !authorization.allows_topic(AclOperation::Write, &n));
        let mut partitions = Vec::with_capacity(data.partition_data.len());
        for (index, partition_data) in data.partition_data.into_iter().enumerate() {
            // Kafka answers a refused partition with base offset -1 (INVALID_OFFSET); an
            // append overwrites it.
            let response = PartitionProduceResponse::default()
                .with_index(partition_data.index)
                .with_base_offset(INVALID_OFFSET);
            if denied {
                let code = ResponseError::TopicAuthorizationFailed.code();
                partitions.push(response.with_error_code(code));
                continue;
            }
            // Only the broker writes its internal topics: a record its loader cannot read
            // must not get in from a client. Kafka 4.4 refuses the same way, before looking
            // for the partition (its one exception, client id `__admin_client`, is not
            // copied: any client can send that id).
            if let Ok(t) = &topic
                && t.is_internal()
            {
                let refused = BrokerError::InternalTopicAppend(t.name.to_string());
                partitions.push(with_error(response, &refused));
                continue;
            }
            let target = topic.as_ref().map_err(|e| e.code()).and_then(|t| {
                t.led_here(partition_data.index)
                    .cloned()
                    .map_err(|e| e.code())
            });
            let partition = match target {
                Ok(partition) => partition,
                Err(code) => {
                    let mut response = response.with_error_code(code);
                    if code == ResponseError::NotLeaderOrFollower.code()
                        && let Ok(t) = &topic
                        && let Some(leader) = current_leader(
                            broker,
                            &context.session.listener,
                            t,
                            partition_data.index,
                        )
                    {
                        leaders.add(&leader);
                        response = response.with_current_leader(
                            LeaderIdAndEpoch::default()
                                .with_leader_id(BrokerId(leader.id))
                                .with_leader_epoch(leader.epoch),
                        );
                    }
                    partitions.push(response);
                    continue;
                }
            };

            let Some(records) = partition_data.records else {
                partitions.push(response.with_error_code(ResponseError::CorruptMessage.code()));
                continue;
            };
            // Markers are the coordinator's to write: Kafka refuses a control batch from a
            // client (INVALID_RECORD).
            if vltava_storage::BatchHeader::parse(&records).is_ok_and(|h| h.is_control()) {
                partitions.push(response.with_error_code(ResponseError::InvalidRecord.code()));
                continue;
            }
            if let Some(transactional_id) = &implicit_txn
                && let Ok(t) = &topic
                && let Err(code) =
                    add_implicitly(broker, transactional_id, t, partition_data.index, &records)
                        .await
            {
                partitions.push(response.with_error_code(code));
                continue;
            }
            // Kafka refuses acks=all before the append while the ISR is too small.
            if acks == ACKS_ALL
                && let Err(error) = partition.check_enough_replicas()
            {
                partitions.push(with_error(response, &error));
                continue;
            }
            let metrics = topic.as_ref().map(|t| &t.metrics).ok();
            if let Some(metrics) = metrics {
                metrics.produce_requests.inc();
            }
            match partition.append(&records, now_ms()) {
                Ok(appended) => {
                    if !appended.duplicate {
                        broker.flusher.request(&partition);
                        if let Some(metrics) = metrics {
                            let records_in = appended.last_offset - appended.base_offset + 1;
                            metrics.messages_in.inc_by(records_in.max(0) as u64);
                            metrics.bytes_in.inc_by(records.len() as u64);
                        }
                    }
                    if acks == ACKS_ALL && partition.high_watermark() <= appended.last_offset {
                        waits.push(AwaitDurable {
                            partition,
                            last_offset: appended.last_offset,
                            topic: topic_index,
                            index,
                        });
                    }
                    partitions.push(
                        response
                            .with_base_offset(appended.base_offset)
                            .with_log_append_time_ms(appended.log_append_time_ms)
                            .with_log_start_offset(appended.log_start_offset),
                    );
                }
                Err(error) => {
                    if let Some(metrics) = metrics {
                        metrics.failed_produce_requests.inc();
                    }
                    partitions.push(with_error(response, &error))
                }
            }
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(data.name)
                .with_topic_id(data.topic_id)
                .with_partition_responses(partitions),
        );
    }
    if acks == ACKS_NONE {
        return Reply::Nothing;
    }
    let response = ProduceResponse::default()
        .with_responses(responses)
        .with_node_endpoints(node_endpoints!(leaders, NodeEndpoint));
    if waits.is_empty() {
        return response.into();
    }
    let timeout = Duration::from_millis(u64::try_from(request.timeout_ms).unwrap_or(0));
    Reply::Later(Box::pin(await_durable(response, waits, timeout)))
}

/// Adds the partition to the transaction of a transactional batch before it is appended
/// (transaction version 2: the client never names it in an AddPartitionsToTxn). Other
/// batches pass unchecked. The error is the code to answer.
async fn add_implicitly(
    broker: &Broker,
    transactional_id: &str,
    topic: &Topic,
    index: i32,
    records: &[u8],
) -> Result<(), i16> {
    let Ok(header) = vltava_storage::BatchHeader::parse(records) else {
        return Ok(()); // the append refuses it with the precise reason
    };
    if !header.is_transactional() {
        return Ok(());
    }
    let producer = ProducerRef {
        producer_id: header.producer_id,
        epoch: header.producer_epoch,
    };
    let partitions = BTreeSet::from([(topic.name.to_string(), index)]);
    implicit::add_partitions(broker, transactional_id, producer, &partitions)
        .await
        .map_err(|error| implicit::produce_error_code(&error))
}

/// Answers once every awaited partition's high watermark has passed its batch, with
/// KAFKA_STORAGE_ERROR for those whose log directory went offline meanwhile and
/// REQUEST_TIMED_OUT for those that were not durable within the request's timeout.
async fn await_durable(
    mut response: ProduceResponse,
    waits: Vec<AwaitDurable>,
    timeout: Duration,
) -> crate::dispatch::Response {
    let deadline = tokio::time::Instant::now() + timeout;
    for wait in waits {
        let durable = tokio::time::timeout_at(
            deadline,
            wait.partition.await_high_watermark_past(wait.last_offset),
        )
        .await;
        let error = match durable {
            Ok(Durability::Durable) => continue,
            // A failed write or fsync: answered at once, as Kafka does for an offline log dir.
            Ok(Durability::LogDirOffline) => ResponseError::KafkaStorageError,
            Ok(Durability::NotLeader) => ResponseError::NotLeaderOrFollower,
            Ok(Durability::NotEnoughReplicas) => ResponseError::NotEnoughReplicasAfterAppend,
            Ok(Durability::Gone) | Err(_) => ResponseError::RequestTimedOut,
        };
        let slot = &mut response.responses[wait.topic].partition_responses[wait.index];
        slot.error_code = error.code();
    }
    response.into()
}

/// A refused append as Kafka reports it: the code, the message and, for records refused one
/// by one (INVALID_TIMESTAMP), each record's index in its batch with its reason.
fn with_error(response: PartitionProduceResponse, error: &BrokerError) -> PartitionProduceResponse {
    let response = response.with_error_code(error.code());
    match error {
        BrokerError::Storage(StorageError::InvalidTimestamp { record_errors }) => {
            let record_errors = record_errors
                .iter()
                .map(|e| {
                    BatchIndexAndErrorMessage::default()
                        .with_batch_index(e.batch_index)
                        .with_batch_index_error_message(Some(str_bytes(e.message.clone())))
                })
                .collect();
            response
                .with_record_errors(record_errors)
                .with_error_message(Some(str_bytes(INVALID_TIMESTAMP_MESSAGE.to_string())))
        }
        _ => response.with_error_message(Some(str_bytes(error.message()))),
    }
}

/// Kafka's check of transactional records (CVE-2018-17196): they need WRITE on the
/// transactional id the request names. Idempotence is checked at InitProducerId (KIP-679).
fn transactional_write_allowed(authorization: &Authorization, request: &ProduceRequest) -> bool {
    let transactional = request.topic_data.iter().any(|data| {
        data.partition_data.iter().any(|p| {
            p.records.as_ref().is_some_and(|records| {
                vltava_storage::BatchHeader::parse(records).is_ok_and(|h| h.is_transactional())
            })
        })
    });
    if !transactional {
        return true;
    }
    request
        .transactional_id
        .as_ref()
        .is_some_and(|id| authorization.allows_transactional_id(AclOperation::Write, id))
}

fn error_response(request: ProduceRequest, code: i16) -> ProduceResponse {
    let responses = request
        .topic_data
        .into_iter()
        .map(|data: TopicProduceData| {
            let partitions = data
                .partition_data
                .iter()
                .map(|p| {
                    // As Kafka's `PartitionResponse(error)`: no offset was assigned.
                    PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_error_code(code)
                        .with_base_offset(INVALID_OFFSET)
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(data.name)
                .with_topic_id(data.topic_id)
                .with_partition_responses(partitions)
        })
        .collect();
    ProduceResponse::default().with_responses(responses)
}
