//! Writing a transaction's markers to its partitions: the coordinator's half of
//! WriteTxnMarkers. Partitions led here get the marker appended directly (the same code path
//! the WriteTxnMarkers handler runs); for the others a WriteTxnMarkers request goes to each
//! leader, as Kafka's `TransactionMarkerChannelManager` sends them.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{
    ApiKey, ProducerId, TopicName, WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use vltava_group::OFFSETS_TOPIC;
use vltava_wire::nonblocking::Connection;

use super::state::{TxnMetadata, TxnState};
use crate::api::current_leader::current_leader;
use crate::api::str_bytes;
use crate::broker::{Broker, now_ms};
use crate::control_batch::{ControlType, marker_batch};
use crate::error::{BrokerError, Result};
use crate::internal_topic;

/// How long a marker may take to become durable, and a remote leader to answer.
const MARKER_TIMEOUT: Duration = Duration::from_secs(10);
const WRITE_TXN_MARKERS_VERSION: i16 = 1;
const CLIENT_ID: &str = "vltava-txn-coordinator";
const RESPONSE_BYTES_MAX: usize = 1024 * 1024;

/// One marker to write to one partition.
#[derive(Debug, Clone, Copy)]
pub struct Marker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
    pub kind: ControlType,
}

/// Appends `marker` to `topic`'s partition `index`, led here, and waits until it is durable.
/// A marker reaching `__consumer_offsets` makes the transaction's offsets there take effect
/// (or drops them).
pub async fn write_marker_here(
    broker: &Broker,
    topic: &str,
    index: i32,
    marker: Marker,
) -> Result<()> {
    let partition = broker
        .topics
        .get(topic)
        .ok_or(BrokerError::UnknownTopicOrPartition)?
        .led_here(index)?
        .clone();
    let batch = marker_batch(
        marker.producer_id,
        marker.producer_epoch,
        marker.coordinator_epoch,
        marker.kind,
        now_ms(),
    )?;
    internal_topic::append_durably(
        broker,
        &partition,
        &batch,
        MARKER_TIMEOUT,
        BrokerError::MarkerTimedOut,
    )
    .await?;
    if topic == OFFSETS_TOPIC {
        broker
            .groups
            .complete_transaction(index, marker.producer_id, marker.kind);
    }
    Ok(())
}

/// Writes the markers of `txn` (in PrepareCommit or PrepareAbort) to all its partitions.
/// Partitions of deleted topics are skipped, as in Kafka.
pub async fn write_markers(
    broker: &Broker,
    txn: &TxnMetadata,
    coordinator_epoch: i32,
) -> Result<()> {
    let marker = Marker {
        producer_id: txn.producer_id,
        producer_epoch: txn.producer_epoch,
        coordinator_epoch,
        kind: ControlType::from_commit(txn.state == TxnState::PrepareCommit),
    };
    let mut remote: BTreeMap<String, Vec<(String, i32)>> = BTreeMap::new();
    for (topic_name, index) in &txn.partitions {
        let Some(topic) = broker.topics.get(topic_name) else {
            continue;
        };
        // Markers go broker to broker: the leader's address on the inter-broker listener.
        let listener = broker.config.inter_broker_listener_name.as_str();
        let leader = current_leader(broker, listener, &topic, *index);
        match leader {
            None => continue,
            Some(leader) if leader.id == broker.node_id() => {
                write_marker_here(broker, topic_name, *index, marker).await?;
            }
            Some(leader) => {
                let endpoint = leader.endpoint.ok_or(BrokerError::NotLeaderOrFollower)?;
                let address = format!("{}:{}", endpoint.host, endpoint.port);
                remote
                    .entry(address)
                    .or_default()
                    .push((topic_name.clone(), *index));
            }
        }
    }
    for (address, partitions) in remote {
        send_markers(&address, marker, &partitions).await?;
    }
    Ok(())
}

/// Sends one WriteTxnMarkers request to the leader at `address` for `partitions`.
async fn send_markers(address: &str, marker: Marker, partitions: &[(String, i32)]) -> Result<()> {
    let mut topics: Vec<WritableTxnMarkerTopic> = Vec::new();
    for (topic, index) in partitions {
        match topics.last_mut() {
            Some(last) if last.name.0.as_str() == topic => last.partition_indexes.push(*index),
            _ => topics.push(
                WritableTxnMarkerTopic::default()
                    .with_name(TopicName(str_bytes(topic.clone())))
                    .with_partition_indexes(vec![*index]),
            ),
        }
    }
    let request = WriteTxnMarkersRequest::default().with_markers(vec![
        WritableTxnMarker::default()
            .with_producer_id(ProducerId(marker.producer_id))
            .with_producer_epoch(marker.producer_epoch)
            .with_transaction_result(marker.kind == ControlType::Commit)
            .with_coordinator_epoch(marker.coordinator_epoch)
            .with_topics(topics),
    ]);
    let exchange = async {
        let mut connection = Connection::connect(address, CLIENT_ID, RESPONSE_BYTES_MAX).await?;
        connection
            .exchange::<WriteTxnMarkersResponse>(
                ApiKey::WriteTxnMarkers,
                WRITE_TXN_MARKERS_VERSION,
                &request,
            )
            .await
    };
    let response = tokio::time::timeout(MARKER_TIMEOUT, exchange)
        .await
        .map_err(|_| BrokerError::MarkerTimedOut)?
        .map_err(|error| BrokerError::MarkerNotWritten(error.to_string()))?;
    let failed = response
        .markers
        .iter()
        .flat_map(|m| &m.topics)
        .flat_map(|t| &t.partitions)
        // A partition whose topic was deleted meanwhile needs no marker, as in Kafka.
        .find(|p| {
            p.error_code != 0 && p.error_code != ResponseError::UnknownTopicOrPartition.code()
        });
    match failed {
        Some(p) => Err(BrokerError::MarkerNotWritten(format!(
            "partition {} answered error code {}",
            p.partition_index, p.error_code
        ))),
        None => Ok(()),
    }
}
