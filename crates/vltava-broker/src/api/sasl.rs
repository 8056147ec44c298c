//! SaslHandshake and SaslAuthenticate outside an exchange: on a listener without SASL, or
//! after authentication. The exchange itself is the connection's (security/sasl), which
//! answers these requests while it authenticates. Kafka answers ILLEGAL_SASL_STATE here too.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};

use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};

pub async fn handshake(_context: RequestContext, _request: SaslHandshakeRequest) -> Reply {
    SaslHandshakeResponse::default()
        .with_error_code(ResponseError::IllegalSaslState.code())
        .into()
}

pub async fn authenticate(_context: RequestContext, _request: SaslAuthenticateRequest) -> Reply {
    SaslAuthenticateResponse::default()
        .with_error_code(ResponseError::IllegalSaslState.code())
        .with_error_message(Some(str_bytes(
            "SaslAuthenticate request received outside a SASL exchange".to_string(),
        )))
        .into()
}
