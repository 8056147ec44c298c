//! DescribeConfigs (KIP-133), the subset a single-node broker needs today: a topic's configs
//! (its overrides, then the broker defaults vltava applies) and the broker's own settings.
//! The full registry of every Kafka config is issue 7's work.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::{Reply, RequestContext};

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// Kafka's `ConfigSource` ids.
const SOURCE_DYNAMIC_TOPIC: i8 = 1;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

pub async fn handle(context: RequestContext, request: DescribeConfigsRequest) -> Reply {
    let results = request
        .resources
        .into_iter()
        .map(|resource| describe(&context.broker, resource))
        .collect();
    DescribeConfigsResponse::default()
        .with_results(results)
        .into()
}

fn describe(broker: &Broker, resource: DescribeConfigsResource) -> DescribeConfigsResult {
    let result = DescribeConfigsResult::default()
        .with_resource_type(resource.resource_type)
        .with_resource_name(resource.resource_name.clone());
    let entries = match resource.resource_type {
        RESOURCE_TOPIC => match broker.topics.get(&resource.resource_name) {
            Some(topic) => topic_configs(broker, &topic.configs),
            None => return result.with_error_code(ResponseError::UnknownTopicOrPartition.code()),
        },
        RESOURCE_BROKER => broker_configs(broker),
        _ => {
            return result
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_error_message(Some(str_bytes("unsupported resource type")));
        }
    };
    let wanted = resource.configuration_keys;
    let configs = entries
        .into_iter()
        .filter(|(name, _, _)| {
            wanted
                .as_ref()
                .is_none_or(|keys| keys.iter().any(|k| k.as_str() == name))
        })
        .map(|(name, value, source)| {
            DescribeConfigsResourceResult::default()
                .with_name(str_bytes(name))
                .with_value(Some(str_bytes(value)))
                .with_config_source(source)
        })
        .collect();
    result.with_configs(configs)
}

/// `(name, value, source)` for a topic: its overrides win over the broker's defaults.
fn topic_configs(
    broker: &Broker,
    overrides: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, String, i8)> {
    let log = &broker.config.log;
    let defaults = [
        ("cleanup.policy", "delete".to_string()),
        ("index.interval.bytes", log.index_interval_bytes.to_string()),
        ("max.message.bytes", log.max_message_bytes.to_string()),
        ("retention.bytes", log.retention_bytes.to_string()),
        ("retention.ms", log.retention_ms.to_string()),
        ("segment.bytes", log.segment_bytes.to_string()),
        ("segment.ms", log.segment_ms.to_string()),
    ];
    let mut entries: Vec<(String, String, i8)> = overrides
        .iter()
        .map(|(name, value)| (name.clone(), value.clone(), SOURCE_DYNAMIC_TOPIC))
        .collect();
    for (name, value) in defaults {
        if !overrides.contains_key(name) {
            entries.push((name.to_string(), value, SOURCE_DEFAULT));
        }
    }
    entries.sort();
    entries
}

fn broker_configs(broker: &Broker) -> Vec<(String, String, i8)> {
    let config = &broker.config;
    [
        (
            "auto.create.topics.enable",
            config.auto_create_topics.to_string(),
        ),
        ("log.retention.ms", config.log.retention_ms.to_string()),
        ("log.segment.bytes", config.log.segment_bytes.to_string()),
        ("node.id", config.node_id.to_string()),
        ("num.partitions", config.num_partitions.to_string()),
        (
            "socket.request.max.bytes",
            config.frame_bytes_max.to_string(),
        ),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value, SOURCE_STATIC_BROKER))
    .collect()
}
