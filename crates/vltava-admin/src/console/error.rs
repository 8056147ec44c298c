//! Errors of the console's API: a status and a JSON body `{"error": ..., "kafka_error": ...}`.
//! Bad input is a 4xx with a message saying what was wrong; a Kafka refusal carries Kafka's
//! error name; a cluster that cannot be reached is 502.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    kafka_error: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        ApiError {
            status,
            error: error.into(),
            kafka_error: None,
        }
    }

    pub fn bad_request(error: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, error)
    }

    pub fn unavailable(error: impl Into<String>) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error)
    }

    pub fn too_many(error: impl Into<String>) -> Self {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, error)
    }

    /// Kafka refused: `kafka_error` is its error name (UNKNOWN_MEMBER_ID, ...).
    pub fn kafka(error: impl Into<String>, kafka_error: String) -> Self {
        ApiError {
            status: status_of(&kafka_error),
            error: error.into(),
            kafka_error: Some(kafka_error),
        }
    }

    pub fn from_join(error: tokio::task::JoinError) -> Self {
        tracing::error!(%error, "a console call failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the call failed")
    }

    /// An error of the client: a Kafka refusal when its message ends with Kafka's error name
    /// (how `vltava_client::check` writes them), else the cluster was not reachable or answered
    /// something the client could not read.
    pub fn from_cluster(error: anyhow::Error) -> Self {
        let message = format!("{error:#}");
        match kafka_error_name(&message) {
            Some(name) => ApiError::kafka(message.clone(), name.to_string()),
            None => ApiError::new(StatusCode::BAD_GATEWAY, message),
        }
    }
}

/// The Kafka error name a client error ends with ("topic t: UNKNOWN_TOPIC_OR_PARTITION",
/// possibly followed by the broker's message in parentheses).
fn kafka_error_name(message: &str) -> Option<&str> {
    message.split([' ', ':', '(', ')']).rfind(|word| {
        word.len() > 3
            && word.contains('_')
            && word.chars().all(|c| c.is_ascii_uppercase() || c == '_')
    })
}

fn status_of(kafka_error: &str) -> StatusCode {
    match kafka_error {
        "UNKNOWN_TOPIC_OR_PARTITION" | "GROUP_ID_NOT_FOUND" | "UNKNOWN_TOPIC_ID" => {
            StatusCode::NOT_FOUND
        }
        "TOPIC_AUTHORIZATION_FAILED"
        | "GROUP_AUTHORIZATION_FAILED"
        | "CLUSTER_AUTHORIZATION_FAILED" => StatusCode::FORBIDDEN,
        name if name.starts_with("INVALID_") || name == "POLICY_VIOLATION" => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::CONFLICT,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(&self)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_refusals_are_named_and_mapped_to_4xx() {
        let e = ApiError::from_cluster(anyhow::anyhow!("topic nope: UNKNOWN_TOPIC_OR_PARTITION"));
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert_eq!(e.kafka_error.as_deref(), Some("UNKNOWN_TOPIC_OR_PARTITION"));
        let e = ApiError::from_cluster(anyhow::anyhow!(
            "altering the configs of t (bad value): INVALID_CONFIG"
        ));
        assert_eq!(e.kafka_error.as_deref(), Some("INVALID_CONFIG"));
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = ApiError::from_cluster(anyhow::anyhow!("connecting to 127.0.0.1:1: refused"));
        assert_eq!((e.status, e.kafka_error), (StatusCode::BAD_GATEWAY, None));
    }
}
