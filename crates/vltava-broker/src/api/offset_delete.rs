//! OffsetDelete (KIP-496): drops a group's committed offsets for some partitions. Refused
//! per partition with GROUP_SUBSCRIBED_TO_TOPIC while an active consumer subscribes to the
//! topic, and for the whole group with NON_EMPTY_GROUP when its members are not consumers.
//! As in Kafka, the group needs DELETE (else GROUP_AUTHORIZATION_FAILED) and each topic READ
//! (else TOPIC_AUTHORIZATION_FAILED on its partitions).

use std::collections::HashSet;

use bytes::{Buf, Bytes};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{
    ConsumerProtocolSubscription, OffsetDeleteRequest, OffsetDeleteResponse,
};
use kafka_protocol::protocol::{Decodable, Message};
use vltava_group::{GroupId, TopicPartition};

use vltava_cluster::acl::AclOperation;

use crate::dispatch::{Reply, RequestContext};
use crate::error::coordinator_write_error_code;

const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

pub async fn handle(context: RequestContext, request: OffsetDeleteRequest) -> Reply {
    let broker = context.broker.clone();
    let authorization = context.authorization();
    if !authorization.allows_group(AclOperation::Delete, &request.group_id.0) {
        return error(ResponseError::GroupAuthorizationFailed);
    }
    let group_id = GroupId::new(request.group_id.0.to_string());
    if broker.groups.coordinates(&group_id).is_err() {
        return error(ResponseError::NotCoordinator);
    }
    let consumer_group = broker.groups.consumer_subscribed_topics(&group_id);
    let classic_members = broker.groups.active_member_metadata(&group_id);
    let known = consumer_group.is_some()
        || classic_members.is_some()
        || !broker.groups.committed_all(&group_id).is_empty();
    if !known {
        return error(ResponseError::GroupIdNotFound);
    }
    let subscribed: HashSet<String> = match classic_members {
        None => consumer_group.unwrap_or_default().into_iter().collect(),
        Some((protocol_type, metadata)) if protocol_type == CONSUMER_PROTOCOL_TYPE => {
            subscribed_topics(&metadata)
        }
        Some(_) => return error(ResponseError::NonEmptyGroup),
    };
    let mut to_delete = Vec::new();
    let mut topics = Vec::new();
    for topic in &request.topics {
        let known = broker.topics.get(&topic.name.0);
        let readable = authorization.allows_topic(AclOperation::Read, &topic.name.0);
        let mut partitions = Vec::new();
        for p in &topic.partitions {
            let code = if !readable {
                ResponseError::TopicAuthorizationFailed.code()
            } else if !known
                .as_ref()
                .is_some_and(|t| t.has_partition(p.partition_index))
            {
                ResponseError::UnknownTopicOrPartition.code()
            } else if subscribed.contains(topic.name.0.as_str()) {
                ResponseError::GroupSubscribedToTopic.code()
            } else {
                let partition = TopicPartition {
                    topic: topic.name.0.to_string(),
                    partition: p.partition_index,
                };
                if broker.groups.committed(&group_id, &partition).is_some() {
                    to_delete.push(partition);
                }
                0
            };
            partitions.push(
                OffsetDeleteResponsePartition::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(code),
            );
        }
        topics.push(
            OffsetDeleteResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions),
        );
    }
    Reply::Later(Box::pin(async move {
        match broker
            .groups
            .delete_offsets(&broker, &group_id, &to_delete)
            .await
        {
            Ok(()) => OffsetDeleteResponse::default().with_topics(topics).into(),
            Err(e) => OffsetDeleteResponse::default()
                .with_error_code(coordinator_write_error_code(&e))
                .into(),
        }
    }))
}

fn error(error: ResponseError) -> Reply {
    OffsetDeleteResponse::default()
        .with_error_code(error.code())
        .into()
}

/// The topics the members' ConsumerProtocol subscriptions name. A subscription that cannot be
/// read subscribes to nothing we can name, as Kafka treats it.
fn subscribed_topics(metadata: &[Bytes]) -> HashSet<String> {
    let mut topics = HashSet::new();
    for bytes in metadata {
        let mut buf = bytes.clone();
        let Ok(version) = buf.try_get_i16() else {
            continue;
        };
        // Newer versions only add fields: read them as the newest we know (Kafka's rule).
        let version = version.clamp(0, ConsumerProtocolSubscription::VERSIONS.max);
        if let Ok(subscription) = ConsumerProtocolSubscription::decode(&mut buf, version) {
            topics.extend(subscription.topics.iter().map(|t| t.to_string()));
        }
    }
    topics
}
