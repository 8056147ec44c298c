//! TLS for SSL and SASL_SSL listeners with rustls: Kafka's PEM key store (a file with the
//! private key and certificate chain, or both inline), a PEM trust store for client
//! certificates, and `ssl.client.auth`.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    #[default]
    None,
    /// A certificate is asked for; a client without one connects as `User:ANONYMOUS`.
    Requested,
    /// A client without a certificate the trust store vouches for fails the handshake.
    Required,
}

impl ClientAuth {
    pub fn from_name(name: &str) -> Option<ClientAuth> {
        match name.to_ascii_lowercase().as_str() {
            "none" => Some(ClientAuth::None),
            "requested" => Some(ClientAuth::Requested),
            "required" => Some(ClientAuth::Required),
            _ => None,
        }
    }
}

/// PEM text from a file (`*.location`) or given inline (`ssl.keystore.key` and friends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pem {
    File(PathBuf),
    Inline(String),
}

impl Pem {
    fn bytes(&self) -> Result<Vec<u8>, TlsError> {
        match self {
            Pem::File(path) => std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.clone(),
                source,
            }),
            Pem::Inline(text) => Ok(text.as_bytes().to_vec()),
        }
    }
}

/// The `ssl.*` settings of the SSL and SASL_SSL listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The certificate chain, this broker's first.
    pub certificate_chain: Pem,
    pub private_key: Pem,
    /// CA certificates that sign client certificates (`ssl.truststore.*`).
    pub truststore: Option<Pem>,
    pub client_auth: ClientAuth,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the key store has no certificate")]
    NoCertificate,
    #[error("the key store's private key: {0}")]
    Key(#[source] rustls_pki_types::pem::Error),
    #[error("a certificate: {0}")]
    Certificate(#[source] rustls_pki_types::pem::Error),
    #[error("ssl.client.auth={0:?} needs a trust store (ssl.truststore.location)")]
    NoTruststore(ClientAuth),
    #[error("the trust store has no usable CA certificate")]
    EmptyTruststore,
    #[error("rustls: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

fn certificates(pem: &Pem) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    CertificateDer::pem_slice_iter(&pem.bytes()?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(TlsError::Certificate)
}

/// The rustls configuration every TLS listener shares.
pub fn server_config(config: &TlsConfig) -> Result<Arc<ServerConfig>, TlsError> {
    // ring rather than aws-lc-rs: it builds without cmake. rustls deprecates ring's provider
    // only because it lacks post-quantum key exchange, which Kafka's JSSE does not offer
    // either.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certificates(&config.certificate_chain)?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(&config.private_key.bytes()?).map_err(TlsError::Key)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match (config.client_auth, &config.truststore) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (wanted, None) => return Err(TlsError::NoTruststore(wanted)),
        (wanted, Some(truststore)) => {
            let mut roots = rustls::RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(certificates(truststore)?);
            if added == 0 {
                return Err(TlsError::EmptyTruststore);
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if wanted == ClientAuth::Requested {
                verifier.allow_unauthenticated().build()?
            } else {
                verifier.build()?
            };
            builder.with_client_cert_verifier(verifier)
        }
    };
    Ok(Arc::new(builder.with_single_cert(chain, key)?))
}
