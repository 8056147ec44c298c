//! FindCoordinator: a group's coordinator is the leader of the group's `__consumer_offsets`
//! partition, a transactional id's the leader of its `__transaction_state` partition (each
//! topic created on first use, as Kafka does), wherever it is in the cluster. v4+ (KIP-699)
//! asks for many keys at once and is answered per key.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use vltava_group::{GroupId, offsets_partition_for};

use super::current_leader::current_leader;
use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::{Reply, RequestContext};
use crate::error::{BrokerError, Result};
use crate::security::Session;
use crate::security::acl::Authorization;
use crate::topics::Topic;
use crate::txn_coordinator::txn_partition_for;
use vltava_cluster::acl::AclOperation;

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;
/// Kafka answers a bad key type with INVALID_REQUEST's default message (`Errors.message()`).
const INVALID_REQUEST_MESSAGE: &str = "This most likely occurs because of a request being \
    malformed by the client library or the message was sent to an incompatible broker. See the \
    broker logs for more details.";

pub async fn handle(context: RequestContext, request: FindCoordinatorRequest) -> Reply {
    let broker = context.broker.clone();
    let session = context.session.clone();
    let api_version = context.api_version;
    let authorization = context.authorization();
    Reply::Later(Box::pin(async move {
        let keys = if api_version >= 4 {
            request.coordinator_keys.clone()
        } else {
            vec![request.key.clone()]
        };
        let mut coordinators = Vec::with_capacity(keys.len());
        for key in keys {
            let refused = refusal(&authorization, request.key_type, &key);
            coordinators.push(match refused {
                Some(code) => Coordinator::default()
                    .with_key(key)
                    .with_node_id(BrokerId(-1))
                    .with_port(-1)
                    .with_error_code(code),
                None => answer(&broker, &session, request.key_type, key).await,
            });
        }
        if api_version >= 4 {
            return FindCoordinatorResponse::default()
                .with_coordinators(coordinators)
                .into();
        }
        let one = coordinators.pop().unwrap_or_default();
        FindCoordinatorResponse::default()
            .with_error_code(one.error_code)
            .with_error_message(one.error_message)
            .with_node_id(one.node_id)
            .with_host(one.host)
            .with_port(one.port)
            .into()
    }))
}

/// The coordinator of `key`, with its address on the client's `listener`.
/// Kafka: DESCRIBE on the group, or on the transactional id.
fn refusal(authorization: &Authorization, key_type: i8, key: &str) -> Option<i16> {
    let (allowed, error) = match key_type {
        KEY_TYPE_GROUP => (
            authorization.allows_group(AclOperation::Describe, key),
            ResponseError::GroupAuthorizationFailed,
        ),
        KEY_TYPE_TRANSACTION => (
            authorization.allows_transactional_id(AclOperation::Describe, key),
            ResponseError::TransactionalIdAuthorizationFailed,
        ),
        _ => return None,
    };
    (!allowed).then_some(error.code())
}

async fn answer(broker: &Broker, session: &Session, key_type: i8, key: StrBytes) -> Coordinator {
    let listener = &session.listener;
    let valid = matches!(key_type, KEY_TYPE_GROUP | KEY_TYPE_TRANSACTION);
    if !valid || key.is_empty() {
        return Coordinator::default()
            .with_key(key)
            .with_node_id(BrokerId(-1))
            .with_error_code(ResponseError::InvalidRequest.code())
            .with_error_message(Some(str_bytes(INVALID_REQUEST_MESSAGE.to_string())));
    }
    let found = if key_type == KEY_TYPE_GROUP {
        group_coordinator(broker, listener, &key).await
    } else {
        transaction_coordinator(broker, listener, &key).await
    };
    match found {
        Ok((node_id, host, port)) => {
            let (host, port) = session.address_of(broker.node_id(), node_id, (&host, port));
            Coordinator::default()
                .with_key(key)
                .with_node_id(BrokerId(node_id))
                .with_host(str_bytes(host))
                .with_port(port)
        }
        Err(error) => Coordinator::default()
            .with_key(key)
            .with_node_id(BrokerId(-1))
            .with_port(-1)
            .with_error_code(error.code())
            .with_error_message(Some(str_bytes(error.message()))),
    }
}

/// The broker leading the group's `__consumer_offsets` partition, with the address clients
/// reach it at; COORDINATOR_NOT_AVAILABLE while that partition has no live leader.
async fn group_coordinator(
    broker: &Broker,
    listener: &str,
    key: &str,
) -> Result<(i32, String, i32)> {
    // Kafka answers COORDINATOR_NOT_AVAILABLE while it creates the topic; the client retries.
    let topic = broker
        .groups
        .offsets_topic(broker)
        .await
        .map_err(|_| BrokerError::CoordinatorNotAvailable)?;
    let group_id = GroupId::new(key.to_string());
    leader_of(
        broker,
        listener,
        &topic,
        offsets_partition_for(&group_id, topic.partition_count()),
    )
}

/// The broker leading the transactional id's `__transaction_state` partition.
async fn transaction_coordinator(
    broker: &Broker,
    listener: &str,
    key: &str,
) -> Result<(i32, String, i32)> {
    let topic = broker
        .transactions
        .state_topic(broker)
        .await
        .map_err(|_| BrokerError::CoordinatorNotAvailable)?;
    leader_of(
        broker,
        listener,
        &topic,
        txn_partition_for(key, topic.partition_count()),
    )
}

fn leader_of(
    broker: &Broker,
    listener: &str,
    topic: &Topic,
    partition: i32,
) -> Result<(i32, String, i32)> {
    current_leader(broker, listener, topic, partition)
        .and_then(|leader| Some((leader.id, leader.endpoint?)))
        .map(|(id, endpoint)| (id, endpoint.host, endpoint.port))
        .ok_or(BrokerError::CoordinatorNotAvailable)
}
