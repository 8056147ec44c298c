//! CreateTopics: validate every topic, then create it (or, with validate_only, only validate).

use std::collections::BTreeMap;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::{replica_assignment, str_bytes};
use crate::broker::Broker;
use crate::configs::describe_topic;
use crate::dispatch::{Reply, RequestContext};
use crate::error::{BrokerError, Result};
use crate::topics::TopicSpec;
use vltava_cluster::acl::AclOperation;

/// Every partition has one replica until partitions are replicated (issue "Cluster II"): a
/// factor above it would promise copies that do not exist.
const REPLICATION_FACTOR: i16 = 1;

pub async fn handle(context: RequestContext, request: CreateTopicsRequest) -> Reply {
    let broker = &context.broker;
    let authorization = context.authorization();
    let cluster_create = authorization.allows_cluster(AclOperation::Create);
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        // Kafka: CREATE on the cluster, or on the topic.
        let allowed =
            cluster_create || authorization.allows_topic(AclOperation::Create, &topic.name);
        results.push(create(broker, topic, request.validate_only, allowed).await);
    }
    CreateTopicsResponse::default().with_topics(results).into()
}

async fn create(
    broker: &Broker,
    topic: CreatableTopic,
    validate_only: bool,
    allowed: bool,
) -> CreatableTopicResult {
    let name = topic.name.clone();
    let resolved = match allowed {
        true => resolve(broker, topic),
        false => Err(BrokerError::TopicAuthorizationFailed),
    };
    let result = match resolved {
        Ok(spec) if validate_only => broker.topics.validate(&spec).map(|()| (spec, None)),
        Ok(spec) => broker
            .create_topic(spec.clone())
            .await
            .map(|created| (spec, Some(created.id))),
        Err(error) => Err(error),
    };
    match result {
        Ok((spec, id)) => CreatableTopicResult::default()
            .with_name(name)
            .with_error_message(None)
            .with_topic_id(id.unwrap_or_default())
            .with_num_partitions(spec.partitions)
            .with_replication_factor(REPLICATION_FACTOR)
            .with_configs(Some(configs(broker, &spec.configs))),
        Err(error) => CreatableTopicResult::default()
            .with_error_code(error.code())
            .with_error_message(Some(str_bytes(error_message(&error, &name.0))))
            .with_name(name)
            .with_num_partitions(-1)
            .with_replication_factor(-1),
    }
}

/// KIP-525 (v5+): every config the new topic has, resolved as DescribeConfigs resolves it
/// (its own values, else the broker's, else the defaults), so a client need not ask again.
fn configs(broker: &Broker, overrides: &BTreeMap<String, String>) -> Vec<CreatableTopicConfigs> {
    describe_topic(&broker.config, &broker.dynamic_configs.current(), overrides)
        .into_iter()
        .map(|entry| {
            CreatableTopicConfigs::default()
                .with_name(str_bytes(entry.name))
                .with_value(entry.value.map(str_bytes))
                .with_read_only(entry.read_only)
                .with_config_source(entry.source as i8)
                .with_is_sensitive(entry.sensitive)
        })
        .collect()
}

/// Turns the wire request into a spec: -1 means the broker default.
fn resolve(broker: &Broker, topic: CreatableTopic) -> Result<TopicSpec> {
    let replication_factor = topic.replication_factor;
    if replication_factor != -1 && replication_factor < 1 {
        return Err(BrokerError::InvalidReplicationFactor(replication_factor));
    }
    let mut assignments = Vec::new();
    let partitions = if !topic.assignments.is_empty() {
        if topic.num_partitions != -1 || replication_factor != -1 {
            return Err(BrokerError::InvalidRequest(
                "both replica assignments and partitions/replication factor given".into(),
            ));
        }
        let numbered = (0..)
            .zip(&topic.assignments)
            .all(|(i, a)| a.partition_index == i);
        if !numbered {
            return Err(BrokerError::InvalidReplicaAssignment);
        }
        let image = broker.image();
        assignments = replica_assignment::check(
            topic.assignments.iter().map(|a| a.broker_ids.as_slice()),
            |id| image.brokers.contains_key(&id),
        )?;
        topic.assignments.len() as i32
    } else if topic.num_partitions == -1 {
        broker.config.num_partitions
    } else {
        topic.num_partitions
    };
    let mut configs = BTreeMap::new();
    for config in topic.configs {
        let Some(value) = config.value else {
            return Err(BrokerError::InvalidConfig(format!(
                "Null value not supported for topic configs: {}",
                config.name.as_str()
            )));
        };
        configs.insert(config.name.to_string(), value.to_string());
    }
    Ok(TopicSpec {
        name: topic.name.0.to_string(),
        partitions,
        replication_factor,
        configs,
        assignments,
    })
}

/// The message beside a refusal, in the words of Kafka's controller where vltava's own
/// error text differs from them.
fn error_message(error: &BrokerError, topic: &str) -> String {
    match error {
        BrokerError::TopicAlreadyExists => format!("Topic '{topic}' already exists."),
        BrokerError::InvalidPartitions(partitions) if *partitions < 1 => {
            "Number of partitions was set to an invalid non-positive value.".to_string()
        }
        BrokerError::InvalidReplicationFactor(factor) if *factor < 1 => {
            "Replication factor must be larger than 0, or -1 to use the default value.".to_string()
        }
        other => other.message(),
    }
}
