//! AlterConfigs (the legacy API): replaces all of a topic's config overrides, or all of one
//! level of the dynamic broker configs (this node id, or "" for the cluster-wide default), with
//! the request's set. Kafka tools use IncrementalAlterConfigs; this serves older clients.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::incremental_alter_configs::{alter_resource, kafka_message};
use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};
use crate::error::BrokerError;

pub async fn handle(context: RequestContext, request: AlterConfigsRequest) -> Reply {
    let broker = &context.broker;
    let responses = request
        .resources
        .into_iter()
        .map(|resource| {
            // The request's set replaces the configs whole; a null value is no value.
            let configs: BTreeMap<String, String> = resource
                .configs
                .iter()
                .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                .collect();
            let outcome = alter_resource(
                broker,
                resource.resource_type,
                &resource.resource_name,
                request.validate_only,
                |_, _| Ok(configs),
            );
            response(resource.resource_type, resource.resource_name, outcome)
        })
        .collect();
    AlterConfigsResponse::default()
        .with_responses(responses)
        .into()
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
