//! SASL/OAUTHBEARER (RFC 7628) as Kafka's `OAuthBearerSaslServer` with its secured validator
//! (`OAuthBearerValidatorCallbackHandler`): the client's first message carries a JWT, which must
//! be signed (JWS) by a key of the configured JWKS file and carry the claims Kafka requires.
//!
//! Kafka (4.4's `BrokerJwtValidator`) validates with jose4j; the rules kept here are its: `exp`
//! and `iat` required, `exp` and `nbf` checked with the clock skew, `aud` checked against the
//! expected audience and `iss` against the expected issuer (both required by the configuration
//! unless `allow.unverified.audience` / `allow.unverified.issuer` waive the check), the
//! principal from the subject claim (trimmed, not empty), scopes well-formed.
//! Signatures: RS256/384/512, PS256/384/512, ES256/384 and EdDSA (Ed25519) with ring; `none`
//! and the HMAC algorithms are refused (the keys are public keys).

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey, VerificationAlgorithm};
use serde_json::{Map, Value};

/// Kafka's `sasl.oauthbearer.clock.skew.seconds` default.
pub const CLOCK_SKEW_SECONDS_DEFAULT: u64 = 30;
/// Kafka's `sasl.oauthbearer.sub.claim.name` default.
pub const SUB_CLAIM_NAME_DEFAULT: &str = "sub";
/// Kafka's `sasl.oauthbearer.scope.claim.name` default.
pub const SCOPE_CLAIM_NAME_DEFAULT: &str = "scope";
/// The largest JWKS file read at start-up.
pub const JWKS_FILE_BYTES_MAX: u64 = 1 << 20;
/// What the server sends in place of a failure (RFC 7628 §3.2.2), as Kafka's validator does for
/// every token it refuses; the client answers `%x01` and is then told SASL_AUTHENTICATION_FAILED.
pub const INVALID_TOKEN_CHALLENGE: &str = r#"{"status":"invalid_token"}"#;

/// The `sasl.oauthbearer.*` settings and the keys of the JWKS file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthBearerConfig {
    pub keys: Vec<Jwk>,
    /// `sasl.oauthbearer.expected.audience`: a token's `aud` must name one of these; empty
    /// when `sasl.oauthbearer.allow.unverified.audience` waives the check.
    pub expected_audience: Vec<String>,
    /// `sasl.oauthbearer.expected.issuer`; `None` when `allow.unverified.issuer` waives it.
    pub expected_issuer: Option<String>,
    /// `sasl.oauthbearer.clock.skew.seconds`.
    pub clock_skew_seconds: u64,
    /// `sasl.oauthbearer.sub.claim.name`: the claim that names the principal.
    pub sub_claim_name: String,
    /// `sasl.oauthbearer.scope.claim.name`.
    pub scope_claim_name: String,
}

impl OAuthBearerConfig {
    pub fn new(keys: Vec<Jwk>) -> OAuthBearerConfig {
        OAuthBearerConfig {
            keys,
            expected_audience: Vec::new(),
            expected_issuer: None,
            clock_skew_seconds: CLOCK_SKEW_SECONDS_DEFAULT,
            sub_claim_name: SUB_CLAIM_NAME_DEFAULT.to_string(),
            scope_claim_name: SCOPE_CLAIM_NAME_DEFAULT.to_string(),
        }
    }
}

/// One public key of a JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    pub kid: Option<String>,
    /// The key's `alg`, when the JWKS names one: then only that algorithm may use it.
    pub alg: Option<String>,
    pub key: PublicKey,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// Modulus and exponent, big-endian.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// An uncompressed point (0x04 || x || y).
    Ec {
        curve: Curve,
        point: Vec<u8>,
    },
    Ed25519(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
}

/// A token that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidToken {
    pub principal: String,
    pub scopes: Vec<String>,
    /// `exp`, in milliseconds since the epoch: the credential's end (KIP-368).
    pub expires_ms: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwksError {
    #[error("the JWKS is not JSON: {0}")]
    Json(String),
    #[error("the JWKS has no \"keys\" array")]
    NoKeys,
    #[error("the JWKS has no public key vltava can verify with (RSA, EC P-256/P-384, Ed25519)")]
    NoUsableKey,
}

/// Why a token is refused; logged at debug level, never sent (the client gets `invalid_token`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidToken {
    #[error("malformed JWT: {0}")]
    Malformed(&'static str),
    #[error("the JWS algorithm {0:?} is not accepted")]
    Algorithm(String),
    #[error("no key of the JWKS matches the token (kid {0:?})")]
    NoKey(Option<String>),
    #[error("the signature does not verify")]
    Signature,
    #[error("the {0} claim is missing or not a number")]
    MissingTime(&'static str),
    #[error("the token expired at {exp} (now {now}, skew {skew} s)")]
    Expired { exp: i64, now: i64, skew: u64 },
    #[error("the token is not valid before {nbf} (now {now}, skew {skew} s)")]
    NotYetValid { nbf: i64, now: i64, skew: u64 },
    #[error("the audience does not match the expected audience")]
    Audience,
    #[error("the issuer does not match the expected issuer")]
    Issuer,
    #[error("the {0} claim (the principal) is missing, not a string or empty")]
    Subject(String),
    #[error("the {0} claim holds an empty scope")]
    Scope(String),
}

/// Where the JWKS is read: `sasl.oauthbearer.jwks.endpoint.url` as a `file:` URL (or a plain
/// path). An http(s) URL is refused: unless it is on the allow-list (Kafka 4's
/// `org.apache.kafka.sasl.oauthbearer.allowed.urls`, CVE-2025-27817), and even then, because
/// vltava does not fetch keys over the network.
pub fn jwks_path(url: &str, allowed_urls: &[String]) -> Result<PathBuf, String> {
    if let Some(path) = url.strip_prefix("file://") {
        return Ok(PathBuf::from(path));
    }
    if let Some(path) = url.strip_prefix("file:") {
        return Ok(PathBuf::from(path));
    }
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        if !allowed_urls.iter().any(|allowed| allowed == url) {
            return Err(format!(
                "{url} is not in the allowed URLs (sasl-oauthbearer-allowed-urls, Kafka's \
                 org.apache.kafka.sasl.oauthbearer.allowed.urls)"
            ));
        }
        return Err(format!(
            "{url}: vltava does not fetch JWKS over the network; give the keys as a file: URL"
        ));
    }
    if url.contains("://") {
        return Err(format!("{url}: only file: URLs are supported"));
    }
    Ok(PathBuf::from(url))
}

/// The public keys of a JWKS (RFC 7517); keys for encryption (`"use": "enc"`), symmetric keys
/// and unknown types are skipped.
pub fn parse_jwks(text: &str) -> Result<Vec<Jwk>, JwksError> {
    let jwks: Value = serde_json::from_str(text).map_err(|e| JwksError::Json(e.to_string()))?;
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(JwksError::NoKeys)?;
    let keys: Vec<Jwk> = keys.iter().filter_map(parse_jwk).collect();
    if keys.is_empty() {
        return Err(JwksError::NoUsableKey);
    }
    Ok(keys)
}

fn parse_jwk(jwk: &Value) -> Option<Jwk> {
    let text = |name: &str| jwk.get(name).and_then(Value::as_str);
    let bytes = |name: &str| text(name).and_then(|v| URL_SAFE_NO_PAD.decode(v).ok());
    if text("use").is_some_and(|u| u != "sig") {
        return None;
    }
    let key = match (text("kty")?, text("crv")) {
        ("RSA", _) => PublicKey::Rsa {
            n: bytes("n")?,
            e: bytes("e")?,
        },
        ("EC", Some(crv)) => {
            let (curve, size) = match crv {
                "P-256" => (Curve::P256, 32),
                "P-384" => (Curve::P384, 48),
                _ => return None,
            };
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != size || y.len() != size {
                return None;
            }
            let mut point = vec![0x04];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            PublicKey::Ec { curve, point }
        }
        ("OKP", Some("Ed25519")) => PublicKey::Ed25519(bytes("x")?),
        _ => return None,
    };
    Some(Jwk {
        kid: text("kid").map(str::to_string),
        alg: text("alg").map(str::to_string),
        key,
    })
}

/// The token of a client's first message, `n,[a=authzid],^Aauth=Bearer <token>^A[k=v^A]*^A`:
/// `(authzid, token)`, or `None` if the message is not one (Kafka's
/// `OAuthBearerClientInitialResponse`).
pub fn client_first_message(message: &[u8]) -> Option<(String, String)> {
    let message = std::str::from_utf8(message).ok()?;
    let rest = message.strip_prefix("n,")?;
    let (authzid, rest) = rest.split_once(',')?;
    let authzid = match authzid {
        "" => String::new(),
        a => a.strip_prefix("a=").filter(|a| !a.is_empty())?.to_string(),
    };
    let pairs = rest.strip_prefix('\x01')?.strip_suffix('\x01')?;
    let mut auth = None;
    // Each pair ends with ^A; what is left before the final ^A is empty.
    for pair in pairs.strip_suffix('\x01')?.split('\x01') {
        let (key, value) = pair.split_once('=')?;
        let key_ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphabetic());
        let value_ok = !value.is_empty()
            && value
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) || b" \t\r\n".contains(&b));
        if !key_ok || !value_ok {
            return None;
        }
        if key == "auth" {
            auth = Some(value);
        }
    }
    let (scheme, token) = auth?.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    let token_ok = !token.is_empty()
        && token
            .trim_end_matches('=')
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_~+/.".contains(&b));
    if !scheme.eq_ignore_ascii_case("bearer") || !token_ok {
        return None;
    }
    Some((authzid, token.to_string()))
}

impl OAuthBearerConfig {
    /// Checks the token's signature and claims at `now_ms`.
    pub fn validate(&self, token: &str, now_ms: i64) -> Result<ValidToken, InvalidToken> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(InvalidToken::Malformed("not three dot-separated parts"));
        };
        let header = json_object(header).ok_or(InvalidToken::Malformed("header"))?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| InvalidToken::Malformed("signature encoding"))?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(InvalidToken::Malformed("no alg"))?;
        if header.contains_key("crit") {
            return Err(InvalidToken::Malformed("critical header parameters"));
        }
        let kid = header.get("kid").and_then(Value::as_str);
        let signed = &token.as_bytes()[..header_and_payload_len(token)];
        self.verify(alg, kid, signed, &signature)?;
        let claims = json_object(payload).ok_or(InvalidToken::Malformed("claims"))?;
        self.check_claims(&claims, now_ms)
    }

    fn verify(
        &self,
        alg: &str,
        kid: Option<&str>,
        signed: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidToken> {
        let (rsa, ec) = (rsa_algorithm(alg), ec_algorithm(alg));
        if rsa.is_none() && ec.is_none() && alg != "EdDSA" {
            return Err(InvalidToken::Algorithm(alg.to_string()));
        }
        let mut candidates = self
            .keys
            .iter()
            .filter(|jwk| kid.is_none_or(|kid| jwk.kid.as_deref() == Some(kid)))
            .filter(|jwk| jwk.alg.as_deref().is_none_or(|a| a == alg))
            .filter_map(|jwk| match (&jwk.key, rsa, ec) {
                (PublicKey::Rsa { n, e }, Some(params), _) => Some(
                    RsaPublicKeyComponents { n, e }
                        .verify(params, signed, signature)
                        .is_ok(),
                ),
                (PublicKey::Ec { curve, point }, _, Some((want, algorithm))) if *curve == want => {
                    Some(verify(algorithm, point, signed, signature))
                }
                (PublicKey::Ed25519(x), _, _) if alg == "EdDSA" => {
                    Some(verify(&signature::ED25519, x, signed, signature))
                }
                _ => None,
            })
            .peekable();
        if candidates.peek().is_none() {
            return Err(InvalidToken::NoKey(kid.map(str::to_string)));
        }
        if candidates.any(|verified| verified) {
            Ok(())
        } else {
            Err(InvalidToken::Signature)
        }
    }

    fn check_claims(
        &self,
        claims: &Map<String, Value>,
        now_ms: i64,
    ) -> Result<ValidToken, InvalidToken> {
        let now = now_ms.div_euclid(1000);
        let skew = self.clock_skew_seconds;
        let skew_s = i64::try_from(skew).unwrap_or(i64::MAX);
        let time = |name: &'static str| claims.get(name).and_then(Value::as_f64);
        let exp = time("exp").ok_or(InvalidToken::MissingTime("exp"))?;
        time("iat").ok_or(InvalidToken::MissingTime("iat"))?;
        let exp_s = exp as i64;
        if now.saturating_sub(skew_s) >= exp_s {
            return Err(InvalidToken::Expired {
                exp: exp_s,
                now,
                skew,
            });
        }
        if let Some(nbf) = time("nbf").map(|nbf| nbf as i64)
            && nbf > now.saturating_add(skew_s)
        {
            return Err(InvalidToken::NotYetValid { nbf, now, skew });
        }
        self.check_audience(claims.get("aud"))?;
        if let Some(issuer) = &self.expected_issuer
            && claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str())
        {
            return Err(InvalidToken::Issuer);
        }
        let subject = claims
            .get(&self.sub_claim_name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| InvalidToken::Subject(self.sub_claim_name.clone()))?;
        Ok(ValidToken {
            principal: subject.to_string(),
            scopes: self.scopes(claims.get(&self.scope_claim_name))?,
            expires_ms: (exp * 1000.0) as i64,
        })
    }

    fn check_audience(&self, aud: Option<&Value>) -> Result<(), InvalidToken> {
        if self.expected_audience.is_empty() {
            return Ok(());
        }
        let audiences: Vec<&str> = match aud {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if audiences
            .iter()
            .any(|a| self.expected_audience.iter().any(|e| e == a))
        {
            Ok(())
        } else {
            Err(InvalidToken::Audience)
        }
    }

    fn scopes(&self, scope: Option<&Value>) -> Result<Vec<String>, InvalidToken> {
        let raw: Vec<&str> = match scope {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        raw.into_iter()
            .map(|s| {
                let s = s.trim();
                if s.is_empty() {
                    Err(InvalidToken::Scope(self.scope_claim_name.clone()))
                } else {
                    Ok(s.to_string())
                }
            })
            .collect()
    }
}

fn header_and_payload_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

fn json_object(part: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

fn verify(
    algorithm: &'static dyn VerificationAlgorithm,
    key: &[u8],
    signed: &[u8],
    signature: &[u8],
) -> bool {
    UnparsedPublicKey::new(algorithm, key)
        .verify(signed, signature)
        .is_ok()
}

fn rsa_algorithm(alg: &str) -> Option<&'static signature::RsaParameters> {
    Some(match alg {
        "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
        "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
        "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
        "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
        "PS384" => &signature::RSA_PSS_2048_8192_SHA384,
        "PS512" => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn ec_algorithm(alg: &str) -> Option<(Curve, &'static dyn VerificationAlgorithm)> {
    Some(match alg {
        "ES256" => (Curve::P256, &signature::ECDSA_P256_SHA256_FIXED),
        "ES384" => (Curve::P384, &signature::ECDSA_P384_SHA384_FIXED),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    //! Token validation against keys made here: an RSA key from testdata (ring cannot make
    //! one) and a fresh P-256 key. Guards against a token accepted with a bad signature, past
    //! its `exp`, for another audience or issuer, or without the claims Kafka requires.

    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, RsaKeyPair};
    use serde_json::json;

    /// PKCS#1 DER, made with `openssl genpkey -algorithm RSA` (test key only).
    const RSA_PKCS1: &[u8] = include_bytes!("../testdata/jwt-rsa-2048.der");
    const NOW_MS: i64 = 1_800_000_000_000;
    const NOW_S: i64 = NOW_MS / 1000;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn rsa() -> RsaKeyPair {
        RsaKeyPair::from_der(RSA_PKCS1).expect("test RSA key")
    }

    fn rsa_jwk(kid: &str) -> Value {
        let public: RsaPublicKeyComponents<Vec<u8>> = rsa().public().into();
        json!({"kty": "RSA", "kid": kid, "use": "sig", "n": b64(&public.n), "e": b64(&public.e)})
    }

    fn ec() -> EcdsaKeyPair {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("P-256 key");
        EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("P-256 key")
    }

    fn ec_jwk(key: &EcdsaKeyPair, kid: &str) -> Value {
        let point = key.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": b64(&point[1..33]), "y": b64(&point[33..])})
    }

    fn config(jwks: Value) -> OAuthBearerConfig {
        OAuthBearerConfig::new(parse_jwks(&jwks.to_string()).expect("JWKS"))
    }

    fn claims(sub: &str) -> Value {
        json!({"sub": sub, "iat": NOW_S - 10, "exp": NOW_S + 600})
    }

    fn rs256(kid: &str, claims: &Value) -> String {
        let signed = format!(
            "{}.{}",
            b64(json!({"alg": "RS256", "kid": kid, "typ": "JWT"})
                .to_string()
                .as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut signature = vec![0; rsa().public().modulus_len()];
        rsa()
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .expect("RSA signature");
        format!("{signed}.{}", b64(&signature))
    }

    fn es256(key: &EcdsaKeyPair, kid: &str, claims: &Value) -> String {
        let signed = format!(
            "{}.{}",
            b64(json!({"alg": "ES256", "kid": kid}).to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = key
            .sign(&SystemRandom::new(), signed.as_bytes())
            .expect("ECDSA signature");
        format!("{signed}.{}", b64(signature.as_ref()))
    }

    #[test]
    fn an_rs256_token_signed_by_a_jwks_key_names_its_subject() {
        let config = config(json!({"keys": [rsa_jwk("r1")]}));
        let token = config
            .validate(&rs256("r1", &claims("alice")), NOW_MS)
            .expect("valid token");
        assert_eq!(token.principal, "alice");
        assert_eq!(token.expires_ms, (NOW_S + 600) * 1000);
    }

    #[test]
    fn an_es256_token_is_checked_against_the_key_its_kid_names() {
        let (k1, k2) = (ec(), ec());
        let config = config(json!({"keys": [ec_jwk(&k1, "e1"), ec_jwk(&k2, "e2")]}));
        assert!(
            config
                .validate(&es256(&k2, "e2", &claims("bob")), NOW_MS)
                .is_ok()
        );
        assert_eq!(
            config.validate(&es256(&k2, "e1", &claims("bob")), NOW_MS),
            Err(InvalidToken::Signature)
        );
        assert_eq!(
            config.validate(&es256(&k2, "e3", &claims("bob")), NOW_MS),
            Err(InvalidToken::NoKey(Some("e3".into())))
        );
    }

    #[test]
    fn a_token_altered_after_signing_is_refused() {
        let config = config(json!({"keys": [rsa_jwk("r1")]}));
        let token = rs256("r1", &claims("alice"));
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64(claims("admin").to_string().as_bytes()),
            parts[2]
        );
        assert_eq!(
            config.validate(&forged, NOW_MS),
            Err(InvalidToken::Signature)
        );
    }

    #[test]
    fn alg_none_and_hmac_are_refused() {
        let config = config(json!({"keys": [rsa_jwk("r1")]}));
        for alg in ["none", "HS256"] {
            let token = format!(
                "{}.{}.",
                b64(json!({"alg": alg}).to_string().as_bytes()),
                b64(claims("alice").to_string().as_bytes())
            );
            assert_eq!(
                config.validate(&token, NOW_MS),
                Err(InvalidToken::Algorithm(alg.into()))
            );
        }
    }

    #[test]
    fn exp_and_nbf_are_checked_with_the_clock_skew() {
        let config = config(json!({"keys": [rsa_jwk("r1")]}));
        let at = |exp: i64, nbf: Option<i64>| {
            let mut c = json!({"sub": "alice", "iat": NOW_S - 100, "exp": exp});
            if let Some(nbf) = nbf {
                c["nbf"] = json!(nbf);
            }
            config.validate(&rs256("r1", &c), NOW_MS)
        };
        // Within the 30 s skew: still valid; at the skew's end: expired (jose4j's rule).
        assert!(at(NOW_S - 29, None).is_ok());
        assert!(matches!(
            at(NOW_S - 30, None),
            Err(InvalidToken::Expired { .. })
        ));
        assert!(at(NOW_S + 60, Some(NOW_S + 30)).is_ok());
        assert!(matches!(
            at(NOW_S + 60, Some(NOW_S + 31)),
            Err(InvalidToken::NotYetValid { .. })
        ));
    }

    #[test]
    fn exp_iat_and_the_subject_are_required() {
        let config = config(json!({"keys": [rsa_jwk("r1")]}));
        let check = |c: Value| config.validate(&rs256("r1", &c), NOW_MS);
        assert_eq!(
            check(json!({"sub": "a", "iat": NOW_S})),
            Err(InvalidToken::MissingTime("exp"))
        );
        assert_eq!(
            check(json!({"sub": "a", "exp": NOW_S + 60})),
            Err(InvalidToken::MissingTime("iat"))
        );
        assert_eq!(
            check(json!({"sub": "  ", "iat": NOW_S, "exp": NOW_S + 60})),
            Err(InvalidToken::Subject("sub".into()))
        );
    }

    #[test]
    fn audience_and_issuer_must_be_the_expected_ones() {
        let mut config = config(json!({"keys": [rsa_jwk("r1")]}));
        let with = |aud: Value, iss: &str| json!({"sub": "a", "iat": NOW_S, "exp": NOW_S + 60, "aud": aud, "iss": iss});
        let token = rs256("r1", &with(json!("kafka"), "https://idp"));
        // Neither expected (allow.unverified.audience and .issuer): neither checked.
        assert!(config.validate(&token, NOW_MS).is_ok());
        config.expected_audience = vec!["vltava".into(), "kafka".into()];
        config.expected_issuer = Some("https://idp".into());
        assert!(config.validate(&token, NOW_MS).is_ok());
        let other_aud = rs256("r1", &with(json!(["billing"]), "https://idp"));
        assert_eq!(
            config.validate(&other_aud, NOW_MS),
            Err(InvalidToken::Audience)
        );
        let other_iss = rs256("r1", &with(json!(["kafka", "x"]), "https://evil"));
        assert_eq!(
            config.validate(&other_iss, NOW_MS),
            Err(InvalidToken::Issuer)
        );
    }

    #[test]
    fn the_principal_and_scopes_come_from_the_configured_claims() {
        let mut config = config(json!({"keys": [rsa_jwk("r1")]}));
        config.sub_claim_name = "client_id".into();
        config.scope_claim_name = "scp".into();
        let c = json!({"client_id": "svc-orders", "scp": ["read", "write"], "iat": NOW_S,
                       "exp": NOW_S + 60, "sub": "ignored"});
        let token = config.validate(&rs256("r1", &c), NOW_MS).expect("valid");
        assert_eq!(token.principal, "svc-orders");
        assert_eq!(token.scopes, vec!["read".to_string(), "write".to_string()]);
    }

    #[test]
    fn the_client_first_message_is_parsed_as_kafka_parses_it() {
        assert_eq!(
            client_first_message(b"n,,\x01auth=Bearer abc.def.ghi\x01\x01"),
            Some((String::new(), "abc.def.ghi".into()))
        );
        assert_eq!(
            client_first_message(b"n,a=alice,\x01host=h\x01auth=bearer a.b.c\x01\x01"),
            Some(("alice".into(), "a.b.c".into()))
        );
        for bad in [
            &b"n,,\x01auth=Bearer a.b.c\x01"[..],
            b"y,,\x01auth=Bearer a.b.c\x01\x01",
            b"n,,\x01auth=Basic a.b.c\x01\x01",
            b"n,,\x01host=h\x01\x01",
            b"n,,\x01auth=Bearer a b\x01\x01",
            b"",
        ] {
            assert_eq!(client_first_message(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_file_urls_are_read_and_http_is_refused_even_when_allowed() {
        assert_eq!(
            jwks_path("file:///etc/jwks.json", &[]),
            Ok(PathBuf::from("/etc/jwks.json"))
        );
        assert_eq!(
            jwks_path("/etc/jwks.json", &[]),
            Ok(PathBuf::from("/etc/jwks.json"))
        );
        let url = "https://idp.example/jwks";
        assert!(jwks_path(url, &[]).is_err_and(|e| e.contains("not in the allowed URLs")));
        assert!(
            jwks_path(url, &[url.to_string()])
                .is_err_and(|e| e.contains("does not fetch JWKS over the network"))
        );
    }

    #[test]
    fn a_jwks_without_a_usable_key_is_refused() {
        assert_eq!(parse_jwks("{}"), Err(JwksError::NoKeys));
        assert_eq!(
            parse_jwks(r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#),
            Err(JwksError::NoUsableKey)
        );
    }
}
