//! DescribeConfigs (KIP-133, KIP-226): every config Kafka defines for a topic or the broker,
//! with its value and source (dynamic broker configs included), synonyms (v1+, when asked), and
//! type and documentation (v3+, when asked). The configs come from the registry in `configs/`;
//! the broker entity "" (the cluster-wide default) lists only the configs set there.
//! A resource the principal may not DESCRIBE_CONFIGS is answered with the refusal's code and
//! Kafka's message for it, and no configs (`ConfigHelper`); see [`config_authorization`].

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use vltava_cluster::acl::{AclOperation, ResourceType};

use super::str_bytes;
use crate::broker::Broker;
use crate::configs::dynamic::Level;
use crate::configs::{ConfigEntry, describe_broker, describe_broker_defaults, describe_topic};
use crate::dispatch::{Reply, RequestContext};
use crate::security::acl::Authorization;

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;
pub const RESOURCE_BROKER_LOGGER: i8 = 8;
pub const RESOURCE_CLIENT_METRICS: i8 = 16;
pub const RESOURCE_GROUP: i8 = 32;

/// Kafka's authorization of a config resource (`ConfigHelper`, `ControllerApis.
/// authorizeAlterResource`): a topic's or a group's configs are checked on that topic or group,
/// the broker's (and its loggers' and client metrics') on the cluster. A resource type Kafka
/// does not define is let through, to be answered INVALID_REQUEST by the handler.
pub(super) fn config_authorization(
    authorization: &Authorization,
    operation: AclOperation,
    resource_type: i8,
    name: &str,
) -> Result<(), ResponseError> {
    match resource_type {
        RESOURCE_TOPIC => authorization.check(operation, ResourceType::Topic, name),
        RESOURCE_GROUP => authorization.check(operation, ResourceType::Group, name),
        RESOURCE_BROKER | RESOURCE_BROKER_LOGGER | RESOURCE_CLIENT_METRICS => {
            authorization.check_cluster(operation)
        }
        _ => Ok(()),
    }
}

/// What the request asked to see besides names and values.
#[derive(Debug, Clone, Copy)]
struct Detail {
    synonyms: bool,
    documentation: bool,
}

pub async fn handle(context: RequestContext, request: DescribeConfigsRequest) -> Reply {
    let detail = Detail {
        synonyms: request.include_synonyms,
        documentation: context.api_version >= 3 && request.include_documentation,
    };
    let authorization = context.authorization();
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let name = resource.resource_name.as_str();
            let type_ = resource.resource_type;
            match config_authorization(&authorization, AclOperation::DescribeConfigs, type_, name) {
                Ok(()) => describe(&context.broker, resource, detail),
                Err(refused) => DescribeConfigsResult::default()
                    .with_resource_type(resource.resource_type)
                    .with_resource_name(resource.resource_name)
                    .with_error_code(refused.code())
                    .with_error_message(Some(str_bytes(refused.to_string()))),
            }
        })
        .collect();
    DescribeConfigsResponse::default()
        .with_results(results)
        .into()
}

fn describe(
    broker: &Broker,
    resource: DescribeConfigsResource,
    detail: Detail,
) -> DescribeConfigsResult {
    let result = DescribeConfigsResult::default()
        .with_resource_type(resource.resource_type)
        .with_resource_name(resource.resource_name.clone());
    let entries = match resource.resource_type {
        RESOURCE_TOPIC => match broker.topics.get(&resource.resource_name) {
            Some(topic) => describe_topic(
                &broker.config,
                &broker.dynamic_configs.current(),
                &topic.configs,
            ),
            None => return result.with_error_code(ResponseError::UnknownTopicOrPartition.code()),
        },
        RESOURCE_BROKER => {
            // "" is the cluster-wide default entity; any other name must be this broker.
            let dynamic = broker.dynamic_configs.current();
            match broker_level(&resource.resource_name, broker.node_id()) {
                Ok(Level::PerBroker) => {
                    describe_broker(&broker.config, &dynamic, &broker.endpoints)
                }
                Ok(Level::ClusterDefault) => describe_broker_defaults(&dynamic),
                Err(message) => {
                    return result
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(Some(str_bytes(message)));
                }
            }
        }
        _ => {
            return result
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_error_message(Some(str_bytes("unsupported resource type")));
        }
    };
    // Null or an empty list asks for every config, as in Kafka.
    let wanted = resource.configuration_keys.filter(|keys| !keys.is_empty());
    let configs = entries
        .into_iter()
        .filter(|entry| {
            wanted
                .as_ref()
                .is_none_or(|keys| keys.iter().any(|k| k.as_str() == entry.name))
        })
        .map(|entry| result_entry(entry, detail))
        .collect();
    result.with_configs(configs)
}

/// The entity a BROKER resource name describes, with Kafka's words for a bad name (they differ
/// from AlterConfigs').
fn broker_level(name: &str, node_id: i32) -> Result<Level, String> {
    if name.is_empty() {
        return Ok(Level::ClusterDefault);
    }
    match name.parse::<i32>() {
        Ok(id) if id == node_id => Ok(Level::PerBroker),
        Ok(_) => Err(format!(
            "Unexpected broker id, expected {node_id} or empty string, but received {name}"
        )),
        Err(_) => Err(format!("Broker id must be an integer, but it is: {name}")),
    }
}

fn result_entry(entry: ConfigEntry, detail: Detail) -> DescribeConfigsResourceResult {
    let synonyms = if detail.synonyms {
        entry
            .synonyms
            .into_iter()
            .map(|(name, value, source)| {
                DescribeConfigsSynonym::default()
                    .with_name(str_bytes(name))
                    .with_value(if entry.sensitive {
                        None
                    } else {
                        value.map(str_bytes)
                    })
                    .with_source(source as i8)
            })
            .collect()
    } else {
        Vec::new()
    };
    DescribeConfigsResourceResult::default()
        .with_name(str_bytes(entry.name.clone()))
        .with_value(entry.value.map(str_bytes))
        .with_read_only(entry.read_only)
        .with_config_source(entry.source as i8)
        .with_is_sensitive(entry.sensitive)
        .with_synonyms(synonyms)
        // 0 is UNKNOWN: a name Kafka does not define has no type.
        .with_config_type(entry.def.map_or(0, |def| def.kind as i8))
        .with_documentation(
            detail
                .documentation
                .then(|| entry.def.map(|def| str_bytes(def.documentation.clone())))
                .flatten(),
        )
}
