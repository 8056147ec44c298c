//! FindCoordinator: on one node this broker coordinates every group. v4+ (KIP-699) asks for
//! many keys at once and is answered per key.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;
/// Kafka answers a bad key type with INVALID_REQUEST's default message (`Errors.message()`).
const INVALID_REQUEST_MESSAGE: &str = "This most likely occurs because of a request being \
    malformed by the client library or the message was sent to an incompatible broker. See the \
    broker logs for more details.";

pub async fn handle(context: RequestContext, request: FindCoordinatorRequest) -> Reply {
    let broker = &context.broker;
    let answer = |key: StrBytes| {
        let valid = matches!(request.key_type, KEY_TYPE_GROUP | KEY_TYPE_TRANSACTION);
        if !valid || key.is_empty() {
            let error = ResponseError::InvalidRequest;
            Coordinator::default()
                .with_key(key)
                .with_node_id(BrokerId(-1))
                .with_error_code(error.code())
                .with_error_message(Some(str_bytes(INVALID_REQUEST_MESSAGE.to_string())))
        } else {
            Coordinator::default()
                .with_key(key)
                .with_node_id(BrokerId(broker.node_id()))
                .with_host(str_bytes(broker.config.advertised_host.clone()))
                .with_port(broker.advertised_port)
        }
    };
    if context.api_version >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .cloned()
            .map(answer)
            .collect();
        return FindCoordinatorResponse::default()
            .with_coordinators(coordinators)
            .into();
    }
    let one = answer(request.key.clone());
    FindCoordinatorResponse::default()
        .with_error_code(one.error_code)
        .with_error_message(one.error_message)
        .with_node_id(one.node_id)
        .with_host(one.host)
        .with_port(one.port)
        .into()
}
