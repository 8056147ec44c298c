//! What can go wrong on the wire, with the API and cause kept.

use kafka_protocol::messages::ApiKey;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode {key:?} v{version}: {source}")]
    Encode {
        key: ApiKey,
        version: i16,
        #[source]
        source: anyhow::Error,
    },
    #[error("cannot decode the {key:?} v{version} response: {source}")]
    Decode {
        key: ApiKey,
        version: i16,
        #[source]
        source: anyhow::Error,
    },
    #[error("response length {length} out of range (limit {limit} bytes)")]
    ResponseLength { length: i64, limit: usize },
    #[error("request of {0} bytes does not fit a frame")]
    RequestTooLarge(usize),
    #[error("{key:?}: correlation id {got} where {expected} was expected")]
    CorrelationId {
        key: ApiKey,
        expected: i32,
        got: i32,
    },
    /// Bytes left over mean the peer encoded another version than we decoded: the fields we
    /// read may be wrong.
    #[error("{key:?} v{version}: {bytes} bytes after the response")]
    Trailing {
        key: ApiKey,
        version: i16,
        bytes: usize,
    },
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
}

impl WireError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> WireError {
        let what = what.into();
        move |source| WireError::Io { what, source }
    }
}
