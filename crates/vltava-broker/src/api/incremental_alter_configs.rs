//! IncrementalAlterConfigs (KIP-339): SET a value, DELETE back to the default, APPEND to and
//! SUBTRACT from list configs, per topic; validate_only checks without changing anything.
//! Unknown names and invalid values are INVALID_CONFIG, as in Kafka.

use std::collections::BTreeMap;

use kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::describe_configs::RESOURCE_TOPIC;
use super::str_bytes;
use crate::broker::Broker;
use crate::configs::registry::{ConfigType, registry};
use crate::dispatch::{Reply, RequestContext};
use crate::error::BrokerError;

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

pub async fn handle(context: RequestContext, request: IncrementalAlterConfigsRequest) -> Reply {
    let broker = &context.broker;
    let responses = request
        .resources
        .into_iter()
        .map(|resource| {
            let outcome = alter_resource(
                broker,
                resource.resource_type,
                &resource.resource_name,
                request.validate_only,
                |current| apply(current, &resource.configs),
            );
            let response = AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name);
            match outcome {
                Ok(()) => response,
                Err(error) => response
                    .with_error_code(error.code())
                    .with_error_message(Some(str_bytes(error.message()))),
            }
        })
        .collect();
    IncrementalAlterConfigsResponse::default()
        .with_responses(responses)
        .into()
}

/// The overrides after the operations, in request order; validated by the caller.
fn apply(
    current: &BTreeMap<String, String>,
    operations: &[AlterableConfig],
) -> Result<BTreeMap<String, String>, BrokerError> {
    let mut configs = current.clone();
    for op in operations {
        let name = op.name.to_string();
        let def = registry().topic(&name).ok_or_else(|| {
            BrokerError::InvalidConfig(format!("Unknown topic config name: {name}"))
        })?;
        let value = op.value.as_ref().map(|v| v.to_string());
        match op.config_operation {
            OP_SET => {
                let value = value.ok_or_else(|| {
                    BrokerError::InvalidRequest(format!("Null value not supported for: {name}"))
                })?;
                configs.insert(name, value);
            }
            OP_DELETE => {
                configs.remove(&name);
            }
            OP_APPEND | OP_SUBTRACT => {
                if def.kind != ConfigType::List {
                    return Err(BrokerError::InvalidConfig(format!(
                        "Config value append is not allowed for config key: {name}"
                    )));
                }
                let base = configs
                    .get(&name)
                    .or(def.default.as_ref())
                    .cloned()
                    .unwrap_or_default();
                let mut items: Vec<String> = split_list(&base);
                for item in split_list(value.as_deref().unwrap_or("")) {
                    if op.config_operation == OP_APPEND {
                        if !items.contains(&item) {
                            items.push(item);
                        }
                    } else {
                        items.retain(|i| *i != item);
                    }
                }
                configs.insert(name, items.join(","));
            }
            other => {
                return Err(BrokerError::InvalidRequest(format!(
                    "unknown config operation {other} for {name}"
                )));
            }
        }
    }
    Ok(configs)
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The alteration both config APIs make: `new_configs` computes a topic's overrides from its
/// current ones; they are validated, persisted and applied (or only checked). Broker configs
/// are refused.
pub(super) fn alter_resource(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    validate_only: bool,
    new_configs: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, BrokerError>,
) -> Result<(), BrokerError> {
    if resource_type != RESOURCE_TOPIC {
        return Err(static_broker_configs());
    }
    let topic = broker
        .topics
        .get(name)
        .ok_or(BrokerError::UnknownTopicOrPartition)?;
    let configs = new_configs(&topic.configs)?;
    // Persisting topics.json fsyncs: off the async workers.
    tokio::task::block_in_place(|| broker.topics.set_configs(name, configs, validate_only))
}

/// Broker configs cannot change at run time in vltava yet (Kafka's dynamic broker configs).
fn static_broker_configs() -> BrokerError {
    BrokerError::InvalidRequest(
        "vltava's broker configs are static: set them with flags or vltava.toml".into(),
    )
}
