//! Metadata: the live brokers and the topics asked for (all when the list is null), creating
//! missing ones when both the request and `auto.create.topics.enable` allow it. Every broker
//! answers from its metadata image, so any of them sends clients to each partition's leader.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use uuid::Uuid;
use vltava_cluster::records::NO_LEADER;
use vltava_cluster::{MetadataImage, PartitionRegistration};

use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::{Reply, RequestContext};
use crate::error::BrokerError;
use crate::security::acl::Authorization;
use crate::topic_name;
use crate::topics::Topic;
use vltava_cluster::acl::{AclOperation, ResourceType};

/// Metadata v12 made a response topic's `name` nullable.
const NULLABLE_NAME_VERSION_MIN: i16 = 12;

pub async fn handle(context: RequestContext, request: MetadataRequest) -> Reply {
    let broker = &context.broker;
    // v0 asks for all topics with an empty list; v1+ with null.
    let all = match &request.topics {
        None => true,
        Some(topics) => topics.is_empty() && context.api_version == 0,
    };
    // v0-v3 have no flag and always allowed auto-creation.
    let allow_auto_create = request.allow_auto_topic_creation || context.api_version < 4;
    let authorization = context.authorization();
    let topics = if all {
        // Topics the principal may not DESCRIBE are left out, as Kafka does.
        broker
            .topics
            .all()
            .iter()
            .filter(|t| authorization.allows_topic(AclOperation::Describe, &t.name))
            .map(|t| describe(broker, t))
            .collect()
    } else {
        let wanted = request.topics.unwrap_or_default();
        let mut topics = Vec::with_capacity(wanted.len());
        for wanted in wanted {
            let topic = match wanted.name {
                Some(name) if !authorization.allows_topic(AclOperation::Describe, &name) => {
                    undescribable(Some(name))
                }
                Some(name) => lookup_by_name(broker, &authorization, name, allow_auto_create).await,
                None => lookup_by_id(broker, wanted.topic_id, context.api_version),
            };
            topics.push(match &topic.name {
                Some(name) if !authorization.allows_topic(AclOperation::Describe, name) => {
                    undescribable(topic.name)
                }
                _ => topic,
            });
        }
        topics
    };
    let topics = with_topic_operations(
        &authorization,
        request.include_topic_authorized_operations,
        topics,
    );
    let cluster_operations =
        authorization.cluster_authorized_operations(request.include_cluster_authorized_operations);
    let image = broker.image();
    let brokers = image
        .live_brokers()
        .filter_map(|b| {
            let endpoint = b.endpoint(&context.session.listener)?;
            let (host, port) = context.session.address_of(
                broker.node_id(),
                b.broker_id,
                (&endpoint.host, i32::from(endpoint.port)),
            );
            Some(
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(b.broker_id))
                    .with_host(str_bytes(host))
                    .with_port(port)
                    .with_rack(b.rack.clone().map(str_bytes)),
            )
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(str_bytes(broker.cluster_id.clone())))
        .with_controller_id(BrokerId(broker.node_id()))
        .with_topics(topics)
        .with_cluster_authorized_operations(cluster_operations)
        .into()
}

/// Kafka's `topic_authorized_operations` (v8+, when asked): the bitfield of every topic
/// answered but those refused, which keep the schema's default.
fn with_topic_operations(
    authorization: &Authorization,
    asked: bool,
    topics: Vec<MetadataResponseTopic>,
) -> Vec<MetadataResponseTopic> {
    let refused = ResponseError::TopicAuthorizationFailed.code();
    topics
        .into_iter()
        .map(|topic| match &topic.name {
            Some(name) if asked && topic.error_code != refused => {
                let operations = authorization.authorized_operations(ResourceType::Topic, name);
                topic.with_topic_authorized_operations(operations)
            }
            _ => topic,
        })
        .collect()
}

/// A topic the principal may not DESCRIBE is TOPIC_AUTHORIZATION_FAILED, whether it exists
/// or not: Kafka shows neither its id nor its partitions, and does not create it.
fn undescribable(name: Option<TopicName>) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(name)
        .with_error_code(ResponseError::TopicAuthorizationFailed.code())
}

async fn lookup_by_name(
    broker: &Broker,
    authorization: &Authorization,
    name: TopicName,
    allow_auto_create: bool,
) -> MetadataResponseTopic {
    // Auto-creation needs CREATE on the cluster or on the topic, as in Kafka; without it a
    // missing topic is TOPIC_AUTHORIZATION_FAILED.
    let allow_auto_create = allow_auto_create && broker.config.auto_create_topics;
    let may_create = allow_auto_create
        && (authorization.allows_cluster(AclOperation::Create)
            || authorization.allows_topic(AclOperation::Create, &name));
    let result = match topic_name::validate(&name) {
        Ok(()) => broker.topic_or_auto_create(&name, may_create).await,
        Err(error) => Err(error),
    };
    let result = match result {
        Err(BrokerError::UnknownTopicOrPartition) if allow_auto_create && !may_create => {
            Err(BrokerError::TopicAuthorizationFailed)
        }
        other => other,
    };
    match result {
        Ok(topic) => describe(broker, &topic),
        Err(error) => MetadataResponseTopic::default()
            .with_name(Some(name))
            .with_error_code(error.code()),
    }
}

fn lookup_by_id(broker: &Broker, id: Uuid, api_version: i16) -> MetadataResponseTopic {
    match broker.topics.get_by_id(&id) {
        Some(topic) => describe(broker, &topic),
        // Kafka names no topic for an id it does not know; `name` is nullable from v12 on.
        None => MetadataResponseTopic::default()
            .with_name((api_version < NULLABLE_NAME_VERSION_MIN).then(TopicName::default))
            .with_topic_id(id)
            .with_error_code(BrokerError::UnknownTopicId.code()),
    }
}

fn describe(broker: &Broker, topic: &Arc<Topic>) -> MetadataResponseTopic {
    let image = broker.image();
    let partitions = topic
        .image
        .partitions
        .iter()
        .map(|(&index, p)| {
            let view = PartitionView::of(&image, p);
            MetadataResponsePartition::default()
                .with_error_code(view.error_code())
                .with_partition_index(index)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(view.replicas)
                .with_isr_nodes(view.isr)
                .with_offline_replicas(view.offline)
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(topic.name.to_string()))))
        .with_topic_id(topic.id)
        .with_is_internal(topic.is_internal())
        .with_partitions(partitions)
}

/// One partition's placement as clients are shown it (Metadata, DescribeTopicPartitions).
pub struct PartitionView {
    pub leader: BrokerId,
    pub replicas: Vec<BrokerId>,
    pub isr: Vec<BrokerId>,
    /// Replicas on brokers that are fenced or gone.
    pub offline: Vec<BrokerId>,
}

impl PartitionView {
    pub fn of(image: &MetadataImage, p: &PartitionRegistration) -> PartitionView {
        let ids = |brokers: &[i32]| brokers.iter().copied().map(BrokerId).collect();
        let offline: Vec<i32> = p
            .replicas
            .iter()
            .copied()
            .filter(|id| image.brokers.get(id).is_none_or(|b| b.fenced))
            .collect();
        PartitionView {
            leader: BrokerId(p.leader),
            replicas: ids(&p.replicas),
            isr: ids(&p.isr),
            offline: ids(&offline),
        }
    }

    /// A partition without a leader is LEADER_NOT_AVAILABLE, as Kafka answers it: clients
    /// retry until an election gives it one.
    pub fn error_code(&self) -> i16 {
        if self.leader.0 == NO_LEADER {
            ResponseError::LeaderNotAvailable.code()
        } else {
            0
        }
    }
}
