//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) on the server side, as Kafka's
//! `ScramSaslServer`: two round trips, the stored credential checked in constant time, and the
//! client's final nonce required to be exactly the one the server sent (CVE-2024-56128: a
//! server that only checked its prefix accepted a replayed exchange).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;
use vltava_cluster::scram::{ScramCredential, ScramMechanism};

/// Kafka's bounds on `iterations` for a credential (`ScramMechanism.minIterations` and the
/// broker's `MAX_ITERATIONS`).
pub const ITERATIONS_MIN: i32 = 4096;
pub const ITERATIONS_MAX: i32 = 16384;

/// HMAC with the mechanism's hash.
pub fn hmac(mechanism: ScramMechanism, key: &[u8], data: &[u8]) -> Vec<u8> {
    match mechanism {
        ScramMechanism::ScramSha256 => {
            let mut mac =
                <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable_hmac());
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        ScramMechanism::ScramSha512 => {
            let mut mac =
                <Hmac<Sha512> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable_hmac());
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
    }
}

/// HMAC takes keys of any length; its `InvalidLength` error cannot happen.
fn unreachable_hmac<T>() -> T {
    unreachable!("HMAC accepts keys of every length")
}

pub fn hash(mechanism: ScramMechanism, data: &[u8]) -> Vec<u8> {
    match mechanism {
        ScramMechanism::ScramSha256 => Sha256::digest(data).to_vec(),
        ScramMechanism::ScramSha512 => Sha512::digest(data).to_vec(),
    }
}

/// RFC 5802's SaltedPassword: PBKDF2 with the mechanism's HMAC.
pub fn salted_password(
    mechanism: ScramMechanism,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Vec<u8> {
    match mechanism {
        ScramMechanism::ScramSha256 => {
            pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations).to_vec()
        }
        ScramMechanism::ScramSha512 => {
            pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password, salt, iterations).to_vec()
        }
    }
}

/// What the server keeps of a salted password: StoredKey and ServerKey (RFC 5802 section 3).
pub fn credential(
    user: &str,
    mechanism: ScramMechanism,
    salt: Vec<u8>,
    salted_password: &[u8],
    iterations: i32,
) -> ScramCredential {
    let client_key = hmac(mechanism, salted_password, b"Client Key");
    ScramCredential {
        user: user.to_string(),
        mechanism,
        stored_key: hash(mechanism, &client_key),
        server_key: hmac(mechanism, salted_password, b"Server Key"),
        salt,
        iterations,
    }
}

/// Why an exchange failed. Clients see only Kafka's generic message; this is for the log.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScramError {
    #[error("malformed client-first message")]
    MalformedFirst,
    #[error("malformed client-final message")]
    MalformedFinal,
    #[error("unknown user or no credential for this mechanism")]
    UnknownUser,
    #[error("the authorization id differs from the user name")]
    AuthorizationId,
    #[error("channel binding does not match the client-first message")]
    ChannelBinding,
    #[error("the final nonce is not the server's")]
    Nonce,
    #[error("invalid proof")]
    Proof,
    #[error("the exchange is over")]
    Done,
}

/// One step of the exchange.
#[derive(Debug, PartialEq, Eq)]
pub enum ScramStep {
    /// server-first-message; the client answers with its final message.
    Challenge(Vec<u8>),
    /// server-final-message: the client is `user`.
    Complete { server_final: Vec<u8>, user: String },
}

#[derive(Debug)]
enum State {
    ClientFirst,
    ClientFinal(Box<Exchange>),
    Done,
}

/// What the server remembers between the two messages.
#[derive(Debug)]
struct Exchange {
    credential: ScramCredential,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

#[derive(Debug)]
pub struct ScramServer {
    mechanism: ScramMechanism,
    /// Random, printable, without ','; made by the caller so tests can fix it.
    server_nonce: String,
    state: State,
}

impl ScramServer {
    pub fn new(mechanism: ScramMechanism, server_nonce: String) -> ScramServer {
        ScramServer {
            mechanism,
            server_nonce,
            state: State::ClientFirst,
        }
    }

    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// Feeds the client's next message; `lookup` finds a user's credential.
    pub fn evaluate(
        &mut self,
        message: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<ScramStep, ScramError> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::ClientFirst => {
                let exchange = self.client_first(message, lookup)?;
                let challenge = exchange.server_first.clone().into_bytes();
                self.state = State::ClientFinal(Box::new(exchange));
                Ok(ScramStep::Challenge(challenge))
            }
            State::ClientFinal(exchange) => self.client_final(&exchange, message),
            State::Done => Err(ScramError::Done),
        }
    }

    fn client_first(
        &self,
        message: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<Exchange, ScramError> {
        let message = std::str::from_utf8(message).map_err(|_| ScramError::MalformedFirst)?;
        // gs2-header: "n" or "y" (no channel binding; "p=" asks for one we do not offer),
        // then an optional authzid.
        let mut parts = message.splitn(3, ',');
        let (Some(flag), Some(authzid), Some(bare)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(ScramError::MalformedFirst);
        };
        if flag != "n" && flag != "y" {
            return Err(ScramError::MalformedFirst);
        }
        let mut attributes = bare.split(',');
        let user = attributes
            .next()
            .and_then(|a| a.strip_prefix("n="))
            .and_then(sasl_name)
            .ok_or(ScramError::MalformedFirst)?;
        let client_nonce = attributes
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .filter(|n| !n.is_empty())
            .ok_or(ScramError::MalformedFirst)?;
        if !authzid.is_empty() {
            let authzid = authzid
                .strip_prefix("a=")
                .and_then(sasl_name)
                .ok_or(ScramError::MalformedFirst)?;
            if authzid != user {
                return Err(ScramError::AuthorizationId);
            }
        }
        let credential = lookup(&user).ok_or(ScramError::UnknownUser)?;
        let nonce = format!("{client_nonce}{}", self.server_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&credential.salt),
            credential.iterations
        );
        Ok(Exchange {
            credential,
            gs2_header: format!("{flag},{authzid},"),
            client_first_bare: bare.to_string(),
            server_first,
            nonce,
        })
    }

    fn client_final(
        &mut self,
        exchange: &Exchange,
        message: &[u8],
    ) -> Result<ScramStep, ScramError> {
        let message = std::str::from_utf8(message).map_err(|_| ScramError::MalformedFinal)?;
        let (without_proof, proof) = message
            .rsplit_once(",p=")
            .ok_or(ScramError::MalformedFinal)?;
        let mut attributes = without_proof.split(',');
        let channel_binding = attributes
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or(ScramError::MalformedFinal)?;
        let nonce = attributes
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramError::MalformedFinal)?;
        let proof = BASE64
            .decode(proof)
            .map_err(|_| ScramError::MalformedFinal)?;
        if BASE64.decode(channel_binding).ok().as_deref() != Some(exchange.gs2_header.as_bytes()) {
            return Err(ScramError::ChannelBinding);
        }
        if nonce != exchange.nonce {
            return Err(ScramError::Nonce);
        }
        let mechanism = self.mechanism;
        let credential = &exchange.credential;
        let auth_message = format!(
            "{},{},{without_proof}",
            exchange.client_first_bare, exchange.server_first
        );
        let client_signature = hmac(mechanism, &credential.stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err(ScramError::Proof);
        }
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(p, s)| p ^ s)
            .collect();
        let stored_key = hash(mechanism, &client_key);
        if !bool::from(stored_key.ct_eq(&credential.stored_key)) {
            return Err(ScramError::Proof);
        }
        let server_signature = hmac(mechanism, &credential.server_key, auth_message.as_bytes());
        Ok(ScramStep::Complete {
            server_final: format!("v={}", BASE64.encode(server_signature)).into_bytes(),
            user: credential.user.clone(),
        })
    }
}

/// RFC 5802 saslname: ',' and '=' come as "=2C" and "=3D"; any other '=' is malformed.
fn sasl_name(encoded: &str) -> Option<String> {
    let mut name = String::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some(at) = rest.find('=') {
        name.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3)?;
        name.push(match escape {
            "=2C" => ',',
            "=3D" => '=',
            _ => return None,
        });
        rest = &rest[at + 3..];
    }
    name.push_str(rest);
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    //! RFC 7677 section 3's SCRAM-SHA-256 exchange, byte for byte, and what a tampered final
    //! message must not get past.
    use super::*;

    const SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
    const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                                p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn rfc7677_credential() -> ScramCredential {
        let mechanism = ScramMechanism::ScramSha256;
        let salt = BASE64.decode(SALT).unwrap_or_default();
        let salted = salted_password(mechanism, b"pencil", &salt, 4096);
        credential("user", mechanism, salt, &salted, 4096)
    }

    fn server_after_first() -> ScramServer {
        let mut server = ScramServer::new(ScramMechanism::ScramSha256, SERVER_NONCE.into());
        let first = server.evaluate(CLIENT_FIRST.as_bytes(), |_| Some(rfc7677_credential()));
        assert_eq!(
            first,
            Ok(ScramStep::Challenge(SERVER_FIRST.as_bytes().to_vec()))
        );
        server
    }

    #[test]
    fn rfc7677_exchange_completes_with_the_rfcs_server_signature() {
        let mut server = server_after_first();
        assert_eq!(
            server.evaluate(CLIENT_FINAL.as_bytes(), |_| None),
            Ok(ScramStep::Complete {
                server_final: SERVER_FINAL.as_bytes().to_vec(),
                user: "user".into()
            })
        );
        assert_eq!(server.evaluate(b"again", |_| None), Err(ScramError::Done));
    }

    #[test]
    fn a_wrong_password_is_refused() {
        let mut server = ScramServer::new(ScramMechanism::ScramSha256, SERVER_NONCE.into());
        let mechanism = ScramMechanism::ScramSha256;
        let salt = BASE64.decode(SALT).unwrap_or_default();
        let other = credential(
            "user",
            mechanism,
            salt.clone(),
            &salted_password(mechanism, b"pen", &salt, 4096),
            4096,
        );
        let _ = server.evaluate(CLIENT_FIRST.as_bytes(), |_| Some(other));
        assert_eq!(
            server.evaluate(CLIENT_FINAL.as_bytes(), |_| None),
            Err(ScramError::Proof)
        );
    }

    #[test]
    fn a_final_nonce_other_than_the_servers_is_refused() {
        // Only the client's part, and the server's part with a byte appended (CVE-2024-56128).
        for nonce in [
            "rOprNGfwEbeRWgbNEkqO",
            "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0x",
        ] {
            let mut server = server_after_first();
            let tampered = CLIENT_FINAL.replace(
                "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
                &format!("r={nonce}"),
            );
            assert_eq!(
                server.evaluate(tampered.as_bytes(), |_| None),
                Err(ScramError::Nonce)
            );
        }
    }

    #[test]
    fn malformed_and_unknown_users_are_refused() {
        for first in [
            "",
            "n",
            "p=tls-unique,,n=user,r=x",
            "n,,n=user",
            "n,,n=us=er,r=x",
            "n,a=other,n=user,r=x",
        ] {
            let mut server = ScramServer::new(ScramMechanism::ScramSha256, SERVER_NONCE.into());
            assert!(
                server
                    .evaluate(first.as_bytes(), |_| Some(rfc7677_credential()))
                    .is_err(),
                "{first:?}"
            );
        }
        let mut server = ScramServer::new(ScramMechanism::ScramSha256, SERVER_NONCE.into());
        assert_eq!(
            server.evaluate(CLIENT_FIRST.as_bytes(), |_| None),
            Err(ScramError::UnknownUser)
        );
        let mut server = server_after_first();
        assert_eq!(
            server.evaluate(b"c=biws,r=x", |_| None),
            Err(ScramError::MalformedFinal)
        );
    }

    #[test]
    fn escaped_sasl_names_are_decoded() {
        assert_eq!(sasl_name("a=2Cb=3Dc").as_deref(), Some("a,b=c"));
        assert_eq!(sasl_name("a=2"), None);
        assert_eq!(sasl_name(""), None);
    }
}
