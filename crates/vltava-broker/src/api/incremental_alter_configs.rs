//! IncrementalAlterConfigs (KIP-339): SET a value, DELETE back to the default, APPEND to and
//! SUBTRACT from list configs, of a topic or of the dynamic broker configs (resource name: this
//! node id, or "" for the cluster-wide default); validate_only checks without changing
//! anything. Errors as Kafka answers them: for topics, unknown names and invalid values are
//! INVALID_CONFIG; for brokers, invalid values and configs that cannot change at run time are
//! INVALID_REQUEST, and unknown names are stored. A resource the principal may not
//! ALTER_CONFIGS is refused first, with no message (`config_authorization`).

use std::collections::BTreeMap;

use kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use vltava_cluster::acl::AclOperation;

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC, config_authorization};
use super::str_bytes;
use crate::broker::Broker;
use crate::configs::dynamic::Level;
use crate::configs::registry::{ConfigDef, ConfigType, Scope, registry};
use crate::dispatch::{Reply, RequestContext};
use crate::error::BrokerError;

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

pub async fn handle(context: RequestContext, request: IncrementalAlterConfigsRequest) -> Reply {
    let broker = &context.broker;
    let authorization = context.authorization();
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let response = AlterConfigsResourceResponse::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        let (type_, name) = (resource.resource_type, &resource.resource_name);
        if let Err(refused) =
            config_authorization(&authorization, AclOperation::AlterConfigs, type_, name)
        {
            // Kafka answers a refusal with no message.
            responses.push(
                response
                    .with_error_code(refused.code())
                    .with_error_message(None),
            );
            continue;
        }
        let outcome = alter_resource(
            broker,
            resource.resource_type,
            &resource.resource_name,
            request.validate_only,
            |scope, current| apply(scope, current, &resource.configs),
        )
        .await;
        responses.push(match outcome {
            // Kafka sends a null message on success (the generated default is "").
            Ok(()) => response.with_error_message(None),
            Err(error) => response
                .with_error_code(error.code())
                .with_error_message(Some(str_bytes(kafka_message(&error)))),
        });
    }
    IncrementalAlterConfigsResponse::default()
        .with_responses(responses)
        .into()
}

/// The message beside the error code: for INVALID_REQUEST the reason alone, worded as Kafka
/// words it (the error's display adds a prefix for logs).
pub(super) fn kafka_message(error: &BrokerError) -> String {
    match error {
        BrokerError::InvalidRequest(why) => why.clone(),
        other => other.message(),
    }
}

/// The definition an operation on `name` works with. Topic configs must exist; a broker config
/// Kafka does not define is still stored (SET and DELETE only: it has no type to append to).
fn definition(scope: Scope, name: &str) -> Result<Option<&'static ConfigDef>, BrokerError> {
    match scope {
        Scope::Topic => registry().topic(name).map(Some).ok_or_else(|| {
            BrokerError::InvalidConfig(format!("Unknown topic config name: {name}"))
        }),
        Scope::Broker => Ok(registry().broker(name)),
    }
}

/// The configs after the operations, in request order; validated by the caller.
fn apply(
    scope: Scope,
    current: &BTreeMap<String, String>,
    operations: &[AlterableConfig],
) -> Result<BTreeMap<String, String>, BrokerError> {
    let mut names: Vec<&str> = operations.iter().map(|op| op.name.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(BrokerError::InvalidRequest(
            "Error due to duplicate config keys".into(),
        ));
    }
    let mut configs = current.clone();
    for op in operations {
        let name = op.name.to_string();
        let def = definition(scope, &name)?;
        let value = op.value.as_ref().map(|v| v.to_string());
        match op.config_operation {
            OP_SET => {
                let value = value.ok_or_else(|| {
                    BrokerError::InvalidRequest(format!("Null value not supported for : {name}"))
                })?;
                configs.insert(name, value);
            }
            OP_DELETE => {
                configs.remove(&name);
            }
            OP_APPEND | OP_SUBTRACT => {
                let def = def.ok_or_else(|| {
                    BrokerError::InvalidConfig(format!("Unknown config name: {name}"))
                })?;
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
                    "Unknown operations type {other}"
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

/// The alteration both config APIs make: `new_configs` computes a topic's overrides, or one
/// level of the dynamic broker configs, from the current ones; they are validated, persisted
/// and applied (or only checked).
pub(super) async fn alter_resource(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    validate_only: bool,
    new_configs: impl FnOnce(
        Scope,
        &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, BrokerError>,
) -> Result<(), BrokerError> {
    match resource_type {
        RESOURCE_TOPIC => {
            let topic = broker
                .topics
                .get(name)
                .ok_or(BrokerError::UnknownTopicOrPartition)?;
            let configs = new_configs(Scope::Topic, &topic.configs)?;
            broker.set_topic_configs(name, configs, validate_only).await
        }
        RESOURCE_BROKER => {
            let level = Level::of_resource(name, broker.node_id())?;
            broker
                .alter_broker_configs(level, validate_only, |current| {
                    new_configs(Scope::Broker, current)
                })
                .await
        }
        other => Err(BrokerError::InvalidRequest(format!(
            "vltava does not alter configs of resource type {other}"
        ))),
    }
}
