//! SASL on a SASL_PLAINTEXT or SASL_SSL connection, as Kafka's `SaslServerAuthenticator`:
//! ApiVersions and SaslHandshake first, then SaslAuthenticate until the mechanism completes.
//! Nothing else is served before that; anything else, a failed exchange or an unknown
//! mechanism closes the connection after its answer. Pure: the connection feeds it decoded
//! requests and the time, and sends back what it returns.
//!
//! KIP-368: a session may have a lifetime (`connections.max.reauth.ms`, and for OAUTHBEARER the
//! token's). The connection then starts a new `Authenticator::reauthenticating` on a
//! SaslHandshake; it must use the same mechanism and end with the same principal.

pub mod jaas;
pub mod oauthbearer;
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
use oauthbearer::{INVALID_TOKEN_CHALLENGE, OAuthBearerConfig};
use scram::{ScramServer, ScramStep};

/// Kafka's `sasl.server.max.receive.size` default: the largest frame before authentication
/// (CVE-2022-34917: a broker that allocated what an unauthenticated length claimed).
pub const SASL_SERVER_MAX_RECEIVE_BYTES_DEFAULT: usize = 524_288;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Scram(ScramMechanism),
    OAuthBearer,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Scram(scram) => scram.name(),
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    pub fn from_name(name: &str) -> Option<Mechanism> {
        match name {
            "PLAIN" => Some(Mechanism::Plain),
            "OAUTHBEARER" => Some(Mechanism::OAuthBearer),
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
    /// OAUTHBEARER's keys and claims; `None` refuses every token.
    pub oauthbearer: Option<OAuthBearerConfig>,
    /// `connections.max.reauth.ms` (KIP-368): a session's longest life; 0 for no limit but
    /// the credential's own (an OAUTHBEARER token's `exp`).
    pub connections_max_reauth_ms: u64,
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
            oauthbearer: None,
            connections_max_reauth_ms: 0,
        }
    }
}

/// An authenticated session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub principal: KafkaPrincipal,
    pub mechanism: Mechanism,
    /// KIP-368: how long the session lasts, in milliseconds from its answer; `None` for ever.
    pub session_lifetime_ms: Option<u64>,
}

/// What the connection does after answering.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Wait for the next SASL request.
    Continue,
    /// Serve every API from now on, as this principal.
    Authenticated(Authenticated),
    /// Close the connection once the answer is written.
    Close,
}

#[derive(Debug)]
enum State {
    Handshake,
    Authenticate(Mechanism),
    Scram(ScramServer),
    /// OAUTHBEARER sent `{"status":"invalid_token"}`; the client's `%x01` gets this failure.
    OAuthBearerFailed(String),
    /// Re-authentication asked for another mechanism than the session's: the next request
    /// closes the connection unanswered.
    BadMechanism,
    Complete,
}

#[derive(Debug)]
pub struct Authenticator {
    state: State,
    /// The session being re-authenticated (KIP-368): its mechanism and principal must stay.
    previous: Option<(Mechanism, KafkaPrincipal)>,
}

impl Default for Authenticator {
    fn default() -> Self {
        Authenticator {
            state: State::Handshake,
            previous: None,
        }
    }
}

impl Authenticator {
    /// Re-authentication of `session`, started by a SaslHandshake (KIP-368).
    pub fn reauthenticating(session: &Authenticated) -> Authenticator {
        Authenticator {
            state: State::Handshake,
            previous: Some((session.mechanism, session.principal.clone())),
        }
    }

    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Complete)
    }

    /// Whether `key` may be served in the current state; any other request closes the
    /// connection unanswered, as Kafka does.
    pub fn allows(&self, key: ApiKey) -> bool {
        match self.state {
            State::Handshake if self.previous.is_some() => key == ApiKey::SaslHandshake,
            State::Handshake => matches!(key, ApiKey::ApiVersions | ApiKey::SaslHandshake),
            State::Authenticate(_) | State::Scram(_) | State::OAuthBearerFailed(_) => {
                key == ApiKey::SaslAuthenticate
            }
            State::BadMechanism => false,
            State::Complete => true,
        }
    }

    fn during(&self) -> &'static str {
        match self.previous {
            Some(_) => "re-authentication",
            None => "authentication",
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
                // Kafka answers a re-authentication with another mechanism as a success, and
                // closes the connection on the next request.
                self.state = match &self.previous {
                    Some((previous, _)) if *previous != mechanism => State::BadMechanism,
                    _ => State::Authenticate(mechanism),
                };
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

    /// One SaslAuthenticate round at `now_ms`; `image` holds the SCRAM credentials.
    pub fn authenticate(
        &mut self,
        config: &SaslConfig,
        image: &MetadataImage,
        request: &SaslAuthenticateRequest,
        now_ms: i64,
    ) -> (SaslAuthenticateResponse, Outcome) {
        let state = std::mem::replace(&mut self.state, State::Complete);
        let mut scram = match state {
            State::Authenticate(Mechanism::Plain) => {
                return match plain::authenticate(&config.plain_users, &request.auth_bytes) {
                    Ok(user) => self.complete(config, Mechanism::Plain, user, None, now_ms),
                    Err(message) => failed(message.to_string()),
                };
            }
            State::Authenticate(Mechanism::OAuthBearer) => {
                return self.oauthbearer(config, &request.auth_bytes, now_ms);
            }
            State::OAuthBearerFailed(message) => {
                // RFC 7628 §3.2.2: the client acknowledges the error with %x01; anything else
                // is taken as a new first message, as Kafka does.
                if request.auth_bytes[..] == [0x01] {
                    return failed(message);
                }
                return self.oauthbearer(config, &request.auth_bytes, now_ms);
            }
            State::Authenticate(Mechanism::Scram(mechanism)) => {
                ScramServer::new(mechanism, server_nonce())
            }
            State::Scram(scram) => scram,
            State::Handshake | State::Complete | State::BadMechanism => {
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
                let (response, outcome) =
                    self.complete(config, Mechanism::Scram(mechanism), user, None, now_ms);
                let response = match outcome {
                    Outcome::Authenticated(_) => {
                        response.with_auth_bytes(Bytes::from(server_final))
                    }
                    _ => response,
                };
                (response, outcome)
            }
            Err(error) => {
                tracing::debug!(%error, mechanism = mechanism.name(), "SCRAM authentication failed");
                failed(self.invalid_credentials(Mechanism::Scram(mechanism)))
            }
        }
    }

    /// Kafka's answer to every SaslException: the reason stays on the server.
    fn invalid_credentials(&self, mechanism: Mechanism) -> String {
        format!(
            "Authentication failed during {} due to invalid credentials with SASL mechanism {}",
            self.during(),
            mechanism.name()
        )
    }

    fn oauthbearer(
        &mut self,
        config: &SaslConfig,
        message: &[u8],
        now_ms: i64,
    ) -> (SaslAuthenticateResponse, Outcome) {
        let Some((authzid, token)) = oauthbearer::client_first_message(message) else {
            tracing::debug!("invalid OAUTHBEARER client first message");
            return failed(self.invalid_credentials(Mechanism::OAuthBearer));
        };
        let validated = match &config.oauthbearer {
            Some(oauth) => oauth.validate(&token, now_ms),
            None => Err(oauthbearer::InvalidToken::NoKey(None)),
        };
        let token = match validated {
            Ok(token) => token,
            Err(error) => {
                tracing::debug!(%error, "OAUTHBEARER token refused");
                self.state = State::OAuthBearerFailed(INVALID_TOKEN_CHALLENGE.to_string());
                return (
                    SaslAuthenticateResponse::default()
                        .with_auth_bytes(Bytes::from_static(INVALID_TOKEN_CHALLENGE.as_bytes())),
                    Outcome::Continue,
                );
            }
        };
        if !authzid.is_empty() && authzid != token.principal {
            return failed(format!(
                "Authentication failed: Client requested an authorization id ({authzid}) that \
                 is different from the token's principal name ({})",
                token.principal
            ));
        }
        self.complete(
            config,
            Mechanism::OAuthBearer,
            token.principal,
            Some(token.expires_ms),
            now_ms,
        )
    }

    /// The exchange succeeded as `user`: the principal must be the session's on
    /// re-authentication, and the session lasts as Kafka's
    /// `calcCompletionTimesAndReturnSessionLifetimeMs` says.
    fn complete(
        &mut self,
        config: &SaslConfig,
        mechanism: Mechanism,
        user: String,
        credential_expires_ms: Option<i64>,
        now_ms: i64,
    ) -> (SaslAuthenticateResponse, Outcome) {
        let principal = KafkaPrincipal::user(user);
        if let Some((_, previous)) = &self.previous
            && *previous != principal
        {
            return failed(format!(
                "Cannot change principals during re-authentication from {}.{}: {}.{}",
                previous.kind, previous.name, principal.kind, principal.name
            ));
        }
        self.state = State::Complete;
        let session_lifetime_ms = session_lifetime_ms(
            config.connections_max_reauth_ms,
            credential_expires_ms,
            now_ms,
        );
        (
            SaslAuthenticateResponse::default()
                .with_session_lifetime_ms(session_lifetime_ms.map_or(0, saturating_i64)),
            Outcome::Authenticated(Authenticated {
                principal,
                mechanism,
                session_lifetime_ms,
            }),
        )
    }
}

/// KIP-368: the lesser of `connections.max.reauth.ms` (when above 0) and the credential's
/// remaining life (when it has one), never below 0; `None` when neither applies.
pub fn session_lifetime_ms(
    connections_max_reauth_ms: u64,
    credential_expires_ms: Option<i64>,
    now_ms: i64,
) -> Option<u64> {
    let remaining = credential_expires_ms
        .map(|expires| u64::try_from(expires.saturating_sub(now_ms)).unwrap_or(0));
    match (remaining, connections_max_reauth_ms) {
        (None, 0) => None,
        (None, max) => Some(max),
        (Some(remaining), 0) => Some(remaining),
        (Some(remaining), max) => Some(remaining.min(max)),
    }
}

fn saturating_i64(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
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

#[cfg(test)]
mod tests {
    //! The SASL exchange's KIP-368 rules and OAUTHBEARER's error challenge, as Kafka's
    //! `SaslServerAuthenticator` and `OAuthBearerSaslServer`. Guards against a session that
    //! never expires, a re-authentication that changes the principal or the mechanism, and an
    //! OAUTHBEARER failure answered otherwise than RFC 7628 §3.2.2 says.

    use super::*;

    fn plain_config(max_reauth_ms: u64) -> SaslConfig {
        SaslConfig {
            plain_users: BTreeMap::from([
                ("alice".to_string(), "a".to_string()),
                ("bob".to_string(), "b".to_string()),
            ]),
            connections_max_reauth_ms: max_reauth_ms,
            ..SaslConfig::default()
        }
    }

    fn handshake(auth: &mut Authenticator, config: &SaslConfig, mechanism: &'static str) {
        let request =
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
        let (response, outcome) = auth.handshake(config, &request);
        assert_eq!((response.error_code, outcome), (0, Outcome::Continue));
    }

    fn authenticate(
        auth: &mut Authenticator,
        config: &SaslConfig,
        bytes: &'static [u8],
    ) -> (SaslAuthenticateResponse, Outcome) {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(bytes));
        auth.authenticate(config, &MetadataImage::empty(), &request, 1_000)
    }

    /// SASL_AUTHENTICATION_FAILED with `message`, and the connection closed.
    fn assert_failed((response, outcome): (SaslAuthenticateResponse, Outcome), message: &str) {
        assert_eq!(outcome, Outcome::Close);
        assert_eq!(
            response.error_code,
            ResponseError::SaslAuthenticationFailed.code()
        );
        assert_eq!(response.error_message.as_deref(), Some(message));
    }

    #[test]
    fn session_lifetime_is_the_lesser_of_the_limit_and_the_credential() {
        assert_eq!(session_lifetime_ms(0, None, 1_000), None);
        assert_eq!(session_lifetime_ms(3_000, None, 1_000), Some(3_000));
        assert_eq!(session_lifetime_ms(0, Some(61_000), 1_000), Some(60_000));
        assert_eq!(session_lifetime_ms(3_000, Some(61_000), 1_000), Some(3_000));
        assert_eq!(session_lifetime_ms(3_000, Some(2_000), 1_000), Some(1_000));
        assert_eq!(session_lifetime_ms(3_000, Some(500), 1_000), Some(0));
    }

    #[test]
    fn a_session_reports_its_lifetime_when_connections_max_reauth_ms_is_set() {
        let config = plain_config(3_000);
        let mut auth = Authenticator::default();
        handshake(&mut auth, &config, "PLAIN");
        let (response, outcome) = authenticate(&mut auth, &config, b"\0alice\0a");
        assert_eq!(response.session_lifetime_ms, 3_000);
        assert_eq!(
            outcome,
            Outcome::Authenticated(Authenticated {
                principal: KafkaPrincipal::user("alice"),
                mechanism: Mechanism::Plain,
                session_lifetime_ms: Some(3_000),
            })
        );
        let (response, _) = {
            let mut auth = Authenticator::default();
            let config = plain_config(0);
            handshake(&mut auth, &config, "PLAIN");
            authenticate(&mut auth, &config, b"\0alice\0a")
        };
        assert_eq!(response.session_lifetime_ms, 0);
    }

    #[test]
    fn reauthentication_keeps_the_principal_or_fails() {
        let config = plain_config(3_000);
        let session = Authenticated {
            principal: KafkaPrincipal::user("alice"),
            mechanism: Mechanism::Plain,
            session_lifetime_ms: Some(3_000),
        };
        let mut auth = Authenticator::reauthenticating(&session);
        assert!(!auth.allows(ApiKey::ApiVersions));
        handshake(&mut auth, &config, "PLAIN");
        let (_, outcome) = authenticate(&mut auth, &config, b"\0alice\0a");
        assert!(matches!(outcome, Outcome::Authenticated(_)));

        let mut auth = Authenticator::reauthenticating(&session);
        handshake(&mut auth, &config, "PLAIN");
        assert_failed(
            authenticate(&mut auth, &config, b"\0bob\0b"),
            "Cannot change principals during re-authentication from User.alice: User.bob",
        );
    }

    #[test]
    fn reauthentication_with_another_mechanism_closes_on_the_next_request() {
        let config = plain_config(3_000);
        let session = Authenticated {
            principal: KafkaPrincipal::user("alice"),
            mechanism: Mechanism::Scram(ScramMechanism::ScramSha512),
            session_lifetime_ms: Some(3_000),
        };
        let mut auth = Authenticator::reauthenticating(&session);
        handshake(&mut auth, &config, "PLAIN");
        assert!(!auth.allows(ApiKey::SaslAuthenticate));
    }

    #[test]
    fn a_refused_token_gets_the_invalid_token_challenge_then_the_failure() {
        let config = SaslConfig {
            enabled_mechanisms: vec![Mechanism::OAuthBearer],
            ..SaslConfig::default()
        };
        let mut auth = Authenticator::default();
        handshake(&mut auth, &config, "OAUTHBEARER");
        let (response, outcome) =
            authenticate(&mut auth, &config, b"n,,\x01auth=Bearer a.b.c\x01\x01");
        assert_eq!((response.error_code, outcome), (0, Outcome::Continue));
        assert_eq!(&response.auth_bytes[..], br#"{"status":"invalid_token"}"#);
        assert_failed(
            authenticate(&mut auth, &config, b"\x01"),
            r#"{"status":"invalid_token"}"#,
        );
    }

    #[test]
    fn a_malformed_oauthbearer_message_fails_at_once() {
        let config = SaslConfig {
            enabled_mechanisms: vec![Mechanism::OAuthBearer],
            ..SaslConfig::default()
        };
        let mut auth = Authenticator::default();
        handshake(&mut auth, &config, "OAUTHBEARER");
        assert_failed(
            authenticate(&mut auth, &config, b"garbage"),
            "Authentication failed during authentication due to invalid credentials with SASL \
             mechanism OAUTHBEARER",
        );
    }
}
