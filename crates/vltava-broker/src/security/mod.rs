//! Security (issue 18): listeners with their security protocol, TLS, SASL, and the principal a
//! connection acts as, and the ACLs requests are checked against.

pub mod acl;
pub mod listener;
pub mod principal;
pub mod sasl;
pub mod tls;

use std::sync::Arc;

pub use listener::{ListenerConfig, SecurityProtocol};
pub use principal::KafkaPrincipal;

/// Who a connection is and where it came in: handlers answer with the addresses of the
/// listener the client used, and (later) authorise as the principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub listener: Arc<str>,
    pub principal: KafkaPrincipal,
}
