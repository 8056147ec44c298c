//! SASL on a SASL_PLAINTEXT or SASL_SSL connection, as Kafka's `SaslServerAuthenticator`:
//! ApiVersions and SaslHandshake first, then SaslAuthenticate until the mechanism completes.
//! Nothing else is served before that; anything else, a failed exchange or an unknown
//! mechanism closes the connection after its answer. Pure: the connection feeds it decoded
//! requests and sends back what it returns.

pub mod jaas;
pub mod plain;
pub mod scram;

use std::collections::BTreeMap;

use base64::Engine;
use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use vltava_cluster::MetadataImage;
use vltava_cluster::scram::ScramMechanism;

use super::principal::KafkaPrincipal;
use scram::{ScramServer, ScramStep};

/// Kafka's `sasl.server.max.receive.size` default: the largest frame before authentication
/// (CVE-2022-34917: a broker that allocated what an unauthenticated length claimed).
pub const SASL_SERVER_MAX_RECEIVE_BYTES_DEFAULT: usize = 524_288;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Scram(ScramMechanism),
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Scram(scram) => scram.name(),
        }
    }

    pub fn from_name(name: &str) -> Option<Mechanism> {
        match name {
            "PLAIN" => Some(Mechanism::Plain),
            other => ScramMechanism::from_name(other).map(Mechanism::Scram),
        }
    }
}

/// The `sasl.*` settings of the SASL listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslConfig {
    /// `sasl.enabled.mechanisms`, in the order offered.
    pub enabled_mechanisms: Vec<Mechanism>,
    /// PLAIN's users and passwords (`plain.sasl.jaas.config`'s `user_<name>` options).
    pub plain_users: BTreeMap<String, String>,
    /// `sasl.server.max.receive.size`.
    pub max_receive_bytes: usize,
}

impl Default for SaslConfig {
    fn default() -> Self {
        SaslConfig {
            enabled_mechanisms: vec![
                Mechanism::Scram(ScramMechanism::ScramSha512),
                Mechanism::Scram(ScramMechanism::ScramSha256),
                Mechanism::Plain,
            ],
            plain_users: BTreeMap::new(),
            max_receive_bytes: SASL_SERVER_MAX_RECEIVE_BYTES_DEFAULT,
        }
    }
}

/// What the connection does after answering.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Wait for the next SASL request.
    Continue,
    /// Serve every API from now on, as this principal.
    Authenticated(KafkaPrincipal),
    /// Close the connection once the answer is written.
    Close,
}

#[derive(Debug)]
enum State {
    Handshake,
    Authenticate(Mechanism),
    Scram(ScramServer),
    Complete,
}

#[derive(Debug)]
pub struct Authenticator {
    state: State,
}

impl Default for Authenticator {
    fn default() -> Self {
        Authenticator {
            state: State::Handshake,
        }
    }
}

impl Authenticator {
    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Complete)
    }

    /// Whether `key` may be served in the current state; any other request closes the
    /// connection unanswered, as Kafka does.
    pub fn allows(&self, key: ApiKey) -> bool {
        match self.state {
            State::Handshake => matches!(key, ApiKey::ApiVersions | ApiKey::SaslHandshake),
            State::Authenticate(_) | State::Scram(_) => key == ApiKey::SaslAuthenticate,
            State::Complete => true,
        }
    }

    pub fn handshake(
        &mut self,
        config: &SaslConfig,
        request: &SaslHandshakeRequest,
    ) -> (SaslHandshakeResponse, Outcome) {
        let mechanisms = config
            .enabled_mechanisms
            .iter()
            .map(|m| StrBytes::from_static_str(m.name()))
            .collect();
        let response = SaslHandshakeResponse::default().with_mechanisms(mechanisms);
        let wanted = Mechanism::from_name(request.mechanism.as_str())
            .filter(|m| config.enabled_mechanisms.contains(m));
        match (&self.state, wanted) {
            (State::Handshake, Some(mechanism)) => {
                self.state = State::Authenticate(mechanism);
                (response, Outcome::Continue)
            }
            (State::Handshake, None) => (
                response.with_error_code(ResponseError::UnsupportedSaslMechanism.code()),
                Outcome::Close,
            ),
            _ => (
                response.with_error_code(ResponseError::IllegalSaslState.code()),
                Outcome::Close,
            ),
        }
    }

    /// One SaslAuthenticate round; `image` holds the SCRAM credentials.
    pub fn authenticate(
        &mut self,
        config: &SaslConfig,
        image: &MetadataImage,
        request: &SaslAuthenticateRequest,
    ) -> (SaslAuthenticateResponse, Outcome) {
        let state = std::mem::replace(&mut self.state, State::Complete);
        let mut scram = match state {
            State::Authenticate(Mechanism::Plain) => {
                return match plain::authenticate(&config.plain_users, &request.auth_bytes) {
                    Ok(user) => authenticated(Bytes::new(), user),
                    Err(message) => failed(message.to_string()),
                };
            }
            State::Authenticate(Mechanism::Scram(mechanism)) => {
                ScramServer::new(mechanism, server_nonce())
            }
            State::Scram(scram) => scram,
            State::Handshake | State::Complete => {
                self.state = state;
                return (
                    SaslAuthenticateResponse::default()
                        .with_error_code(ResponseError::IllegalSaslState.code())
                        .with_error_message(Some(StrBytes::from_static_str(
                            "Unexpected SaslAuthenticate request",
                        ))),
                    Outcome::Close,
                );
            }
        };
        let mechanism = scram.mechanism();
        match scram.evaluate(&request.auth_bytes, |user| {
            image.scram_credential(user, mechanism).cloned()
        }) {
            Ok(ScramStep::Challenge(challenge)) => {
                self.state = State::Scram(scram);
                (
                    SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(challenge)),
                    Outcome::Continue,
                )
            }
            Ok(ScramStep::Complete { server_final, user }) => {
                authenticated(Bytes::from(server_final), user)
            }
            Err(error) => {
                tracing::debug!(%error, mechanism = mechanism.name(), "SCRAM authentication failed");
                // Kafka's answer to every SaslException: the reason stays on the server.
                failed(format!(
                    "Authentication failed during authentication due to invalid credentials \
                     with SASL mechanism {}",
                    mechanism.name()
                ))
            }
        }
    }
}

fn authenticated(auth_bytes: Bytes, user: String) -> (SaslAuthenticateResponse, Outcome) {
    (
        SaslAuthenticateResponse::default().with_auth_bytes(auth_bytes),
        Outcome::Authenticated(KafkaPrincipal::user(user)),
    )
}

fn failed(message: String) -> (SaslAuthenticateResponse, Outcome) {
    (
        SaslAuthenticateResponse::default()
            .with_error_code(ResponseError::SaslAuthenticationFailed.code())
            .with_error_message(Some(StrBytes::from_string(message))),
        Outcome::Close,
    )
}

/// 32 random bytes in base64: printable and without ',' as RFC 5802 requires.
fn server_nonce() -> String {
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
}
