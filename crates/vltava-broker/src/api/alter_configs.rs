//! AlterConfigs (the legacy API): replaces all of a topic's config overrides, or all of one
//! level of the dynamic broker configs (this node id, or "" for the cluster-wide default), with
//! the request's set. Kafka tools use IncrementalAlterConfigs; this serves older clients.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_configs_request::AlterableConfig;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use vltava_cluster::acl::AclOperation;

use super::describe_configs::config_authorization;
use super::incremental_alter_configs::{alter_resource, kafka_message};
use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};
use crate::error::BrokerError;

pub async fn handle(context: RequestContext, request: AlterConfigsRequest) -> Reply {
    let broker = &context.broker;
    let authorization = context.authorization();
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let (type_, name) = (resource.resource_type, &resource.resource_name);
        if let Err(refused) =
            config_authorization(&authorization, AclOperation::AlterConfigs, type_, name)
        {
            // Kafka answers a refusal with no message.
            responses.push(
                AlterConfigsResourceResponse::default()
                    .with_resource_type(type_)
                    .with_resource_name(resource.resource_name)
                    .with_error_code(refused.code())
                    .with_error_message(None),
            );
            continue;
        }
        // The request's set replaces the configs whole.
        let configs = new_set(&resource.configs);
        let outcome = alter_resource(
            broker,
            resource.resource_type,
            &resource.resource_name,
            request.validate_only,
            |_, _| configs,
        )
        .await;
        responses.push(response(
            resource.resource_type,
            resource.resource_name,
            outcome,
        ));
    }
    AlterConfigsResponse::default()
        .with_responses(responses)
        .into()
}

/// The configs a request sets; a null value is INVALID_REQUEST, as Kafka answers it.
fn new_set(configs: &[AlterableConfig]) -> Result<BTreeMap<String, String>, BrokerError> {
    configs
        .iter()
        .map(|c| {
            let value = c.value.as_ref().ok_or_else(|| {
                BrokerError::InvalidRequest(format!("Null value not supported for : {}", c.name))
            })?;
            Ok((c.name.to_string(), value.to_string()))
        })
        .collect()
}

fn response(
    resource_type: i8,
    resource_name: kafka_protocol::protocol::StrBytes,
    outcome: Result<(), BrokerError>,
) -> AlterConfigsResourceResponse {
    let response = AlterConfigsResourceResponse::default()
        .with_resource_type(resource_type)
        .with_resource_name(resource_name);
    match outcome {
        // Kafka sends a null message on success (the generated default is "").
        Ok(()) => response.with_error_message(None),
        Err(error) => response
            .with_error_code(error.code())
            .with_error_message(Some(str_bytes(kafka_message(&error)))),
    }
}
