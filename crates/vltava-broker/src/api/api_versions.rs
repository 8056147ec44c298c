//! ApiVersions (KIP-35, KIP-511): the versions of every API we serve, from the dispatch table.
//!
//! No tagged fields are sent (supported/finalized features): librdkafka before 2.2.0 mis-skips
//! non-empty tagged fields in this response (librdkafka PR #4278) and would lock out stock kcat.
//! See docs/compatibility.md.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use crate::dispatch::{Reply, RequestContext, SUPPORTED_APIS};

pub async fn handle(_context: RequestContext, _request: ApiVersionsRequest) -> Reply {
    response(0).into()
}

/// The v0-encoded answer to an ApiVersions version we do not know.
pub fn unsupported_version() -> Reply {
    response(ResponseError::UnsupportedVersion.code()).into()
}

fn response(error_code: i16) -> ApiVersionsResponse {
    let api_keys = SUPPORTED_APIS
        .iter()
        .map(|api| {
            ApiVersion::default()
                .with_api_key(api.key as i16)
                .with_min_version(api.min)
                .with_max_version(api.max)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(api_keys)
}
