//! DescribeClientQuotas (KIP-546): the quotas of the entities the filter matches, from the
//! metadata image (Kafka's `ClientQuotasImage.describe`). Without DESCRIBE_CONFIGS on the
//! cluster the answer is CLUSTER_AUTHORIZATION_FAILED with null entries, as Kafka's.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};
use vltava_cluster::acl::AclOperation;
use vltava_cluster::quotas::{self, QuotaError, QuotaMatch};

use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};

/// Kafka's match types.
const MATCH_TYPE_EXACT: i8 = 0;
const MATCH_TYPE_DEFAULT: i8 = 1;
const MATCH_TYPE_SPECIFIED: i8 = 2;

pub async fn handle(context: RequestContext, request: DescribeClientQuotasRequest) -> Reply {
    let authorization = context.authorization();
    if let Err(refused) = authorization.check_cluster(AclOperation::DescribeConfigs) {
        return refused_with(refused, refused.to_string());
    }
    let mut components = Vec::with_capacity(request.components.len());
    for component in &request.components {
        let name = component._match.as_ref().map(|m| m.to_string());
        let matching = match (component.match_type, name) {
            (MATCH_TYPE_EXACT, Some(name)) => QuotaMatch::Exact(name),
            (MATCH_TYPE_EXACT, None) => {
                return invalid(
                    "Request specified MATCH_TYPE_EXACT, but set match string to null.",
                );
            }
            (MATCH_TYPE_DEFAULT, None) => QuotaMatch::Default,
            (MATCH_TYPE_DEFAULT, Some(_)) => {
                return invalid(
                    "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.",
                );
            }
            (MATCH_TYPE_SPECIFIED, None) => QuotaMatch::Any,
            (MATCH_TYPE_SPECIFIED, Some(_)) => {
                return invalid(
                    "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.",
                );
            }
            (other, _) => return invalid(&format!("Unknown match type {other}")),
        };
        components.push((component.entity_type.to_string(), matching));
    }
    let image = context.broker.image();
    let found = match quotas::describe(&image.client_quotas, &components, request.strict) {
        Ok(found) => found,
        Err(QuotaError::InvalidRequest(message)) => return invalid(&message),
        Err(QuotaError::UnsupportedEntityType(message)) => {
            return refused_with(ResponseError::UnsupportedVersion, message);
        }
    };
    let entries = found
        .into_iter()
        .map(|(entity, values)| {
            EntryData::default()
                .with_entity(
                    entity
                        .iter()
                        .map(|(t, n)| {
                            EntityData::default()
                                .with_entity_type(str_bytes(t.clone()))
                                .with_entity_name(n.clone().map(str_bytes))
                        })
                        .collect(),
                )
                .with_values(
                    values
                        .iter()
                        .map(|(key, value)| {
                            ValueData::default()
                                .with_key(str_bytes(key.clone()))
                                .with_value(value.0)
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeClientQuotasResponse::default()
        .with_entries(Some(entries))
        .into()
}

fn invalid(message: &str) -> Reply {
    refused_with(ResponseError::InvalidRequest, message.to_string())
}

fn refused_with(error: ResponseError, message: String) -> Reply {
    DescribeClientQuotasResponse::default()
        .with_error_code(error.code())
        .with_error_message(Some(str_bytes(message)))
        .with_entries(None)
        .into()
}
