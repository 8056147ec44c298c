//! CreateTopics: validate every topic, then create it (or, with validate_only, only validate).

use std::collections::BTreeMap;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::str_bytes;
use crate::broker::{Broker, now_ms};
use crate::dispatch::{Reply, RequestContext};
use crate::error::{BrokerError, Result};
use crate::topics::TopicSpec;

/// Kafka's `DYNAMIC_TOPIC_CONFIG` source id in CreateTopics v5+ responses.
const CONFIG_SOURCE_DYNAMIC_TOPIC: i8 = 1;

pub async fn handle(context: RequestContext, request: CreateTopicsRequest) -> Reply {
    let broker = &context.broker;
    let results = tokio::task::block_in_place(|| {
        request
            .topics
            .into_iter()
            .map(|topic| create(broker, topic, request.validate_only))
            .collect()
    });
    CreateTopicsResponse::default().with_topics(results).into()
}

fn create(broker: &Broker, topic: CreatableTopic, validate_only: bool) -> CreatableTopicResult {
    let name = topic.name.clone();
    let result = resolve(broker, topic).and_then(|spec| {
        broker.topics.validate(&spec)?;
        if validate_only {
            return Ok((spec, None));
        }
        let created = broker.topics.create(spec.clone(), now_ms())?;
        Ok((spec, Some(created.id)))
    });
    match result {
        Ok((spec, id)) => {
            let configs = spec
                .configs
                .iter()
                .map(|(name, value)| {
                    CreatableTopicConfigs::default()
                        .with_name(str_bytes(name.clone()))
                        .with_value(Some(str_bytes(value.clone())))
                        .with_config_source(CONFIG_SOURCE_DYNAMIC_TOPIC)
                })
                .collect();
            CreatableTopicResult::default()
                .with_name(name)
                .with_topic_id(id.unwrap_or_default())
                .with_num_partitions(spec.partitions)
                .with_replication_factor(1)
                .with_configs(Some(configs))
        }
        Err(error) => CreatableTopicResult::default()
            .with_name(name)
            .with_error_code(error.code())
            .with_error_message(Some(str_bytes(error.message())))
            .with_num_partitions(-1)
            .with_replication_factor(-1),
    }
}

/// Turns the wire request into a spec: -1 means the broker default.
fn resolve(broker: &Broker, topic: CreatableTopic) -> Result<TopicSpec> {
    let replication_factor = topic.replication_factor;
    if replication_factor != -1 && replication_factor != 1 {
        return Err(BrokerError::InvalidReplicationFactor(replication_factor));
    }
    let partitions = if !topic.assignments.is_empty() {
        if topic.num_partitions != -1 || replication_factor != -1 {
            return Err(BrokerError::InvalidRequest(
                "both replica assignments and partitions/replication factor given".into(),
            ));
        }
        let node = broker.node_id();
        for (expected, assignment) in topic.assignments.iter().enumerate() {
            if assignment.partition_index != expected as i32
                || assignment.broker_ids.iter().any(|b| b.0 != node)
                || assignment.broker_ids.len() != 1
            {
                return Err(BrokerError::InvalidReplicaAssignment);
            }
        }
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
                "null value for {}",
                config.name.as_str()
            )));
        };
        configs.insert(config.name.to_string(), value.to_string());
    }
    Ok(TopicSpec {
        name: topic.name.0.to_string(),
        partitions,
        configs,
    })
}
