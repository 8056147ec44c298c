//! ApiVersions (KIP-35, KIP-511): the versions of every API we serve, from the dispatch table,
//! and the features (KIP-584) as Kafka 4.4 reports them for the one vltava has a say in:
//! `transaction.version` supported 0-2 and finalized at 2, which makes Kafka 4 clients use
//! transactions version 2 (KIP-890 part 2: EndTxn v5, partitions added by writing to them).
//!
//! The features are tagged fields, and librdkafka before 2.2.0 mis-skips non-empty tagged
//! fields in this response (librdkafka PR #4278), which would lock out stock kcat (Debian 12's
//! links librdkafka 2.0.2). So they are left out for a client whose software name or version
//! (ApiVersions v3+) names librdkafka older than 2.2, or names librdkafka without a version
//! we can read. See docs/compatibility.md.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use super::str_bytes;
use crate::dispatch::{Reply, RequestContext, SUPPORTED_APIS};

const TRANSACTION_VERSION_FEATURE: &str = "transaction.version";
const TRANSACTION_VERSION_MAX: i16 = 2;
/// Features never change on a running vltava; clients only compare epochs.
const FINALIZED_FEATURES_EPOCH: i64 = 1;
/// The first librdkafka that skips non-empty tagged fields here correctly.
const LIBRDKAFKA_TAGGED_FIELDS_OK: (u32, u32) = (2, 2);

pub async fn handle(_context: RequestContext, request: ApiVersionsRequest) -> Reply {
    let response = response(0);
    match parses_features(
        &request.client_software_name,
        &request.client_software_version,
    ) {
        true => with_features(response).into(),
        false => response.into(),
    }
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

fn with_features(response: ApiVersionsResponse) -> ApiVersionsResponse {
    let name = || str_bytes(TRANSACTION_VERSION_FEATURE.to_string());
    response
        .with_supported_features(vec![
            SupportedFeatureKey::default()
                .with_name(name())
                .with_min_version(0)
                .with_max_version(TRANSACTION_VERSION_MAX),
        ])
        .with_finalized_features_epoch(FINALIZED_FEATURES_EPOCH)
        .with_finalized_features(vec![
            FinalizedFeatureKey::default()
                .with_name(name())
                .with_min_version_level(TRANSACTION_VERSION_MAX)
                .with_max_version_level(TRANSACTION_VERSION_MAX),
        ])
}

/// Whether the client can be sent tagged fields in this response: anything but a librdkafka
/// older than 2.2 (or one whose version does not say). librdkafka names itself `librdkafka`
/// with its bare version; wrappers such as confluent-kafka-python send their own name and a
/// version ending `-rdkafka-<librdkafka version>`.
fn parses_features(name: &str, version: &str) -> bool {
    let rdkafka_version = match (name, version.rfind("rdkafka-")) {
        (_, Some(at)) => &version[at + "rdkafka-".len()..],
        ("librdkafka", None) => version,
        _ if name.contains("rdkafka") => return false,
        _ => return true,
    };
    let mut numbers = rdkafka_version
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(str::parse::<u32>);
    match (numbers.next(), numbers.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => (major, minor) >= LIBRDKAFKA_TAGGED_FIELDS_OK,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::parses_features;

    #[test]
    fn old_librdkafka_gets_no_tagged_fields() {
        assert!(!parses_features("librdkafka", "2.0.2"));
        assert!(!parses_features("librdkafka", "v2.1.1"));
        assert!(!parses_features("librdkafka", "unknown"));
        assert!(!parses_features(
            "confluent-kafka-go",
            "1.9.2-rdkafka-1.9.2"
        ));
        assert!(!parses_features("node-rdkafka", "2.18.0"));
    }

    #[test]
    fn other_clients_get_the_features() {
        assert!(parses_features("librdkafka", "2.10.0"));
        assert!(parses_features(
            "confluent-kafka-python",
            "2.16.1-rdkafka-2.16.1"
        ));
        assert!(parses_features("apache-kafka-java", "4.4.0"));
        assert!(parses_features("kgo", "unknown"));
        // ApiVersions v0-2 carry no software name.
        assert!(parses_features("", ""));
    }
}
