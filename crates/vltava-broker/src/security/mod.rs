//! Security (issue 18): listeners with their security protocol, TLS, SASL, and the principal a
//! connection acts as, and the ACLs requests are checked against.

pub mod acl;
pub mod listener;
pub mod principal;
pub mod sasl;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

pub use listener::{ListenerConfig, SecurityProtocol};
pub use principal::KafkaPrincipal;

/// Who a connection is and where it came in: handlers answer with the addresses of the
/// listener the client used, and (later) authorise as the principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub listener: Arc<str>,
    pub principal: KafkaPrincipal,
    /// The address the client reached this broker at, when its listener has no advertised
    /// address: answers name this broker by it (`ListenerConfig::answers_with_connection`).
    pub own_address: Option<SocketAddr>,
}

impl Session {
    /// Where this client is told broker `id` is: `registered` (its address on the client's
    /// listener), except for this broker itself when it answers with the connection.
    pub fn address_of(&self, own_id: i32, id: i32, registered: (&str, i32)) -> (String, i32) {
        match self.own_address {
            Some(own) if id == own_id => {
                (own.ip().to_canonical().to_string(), i32::from(own.port()))
            }
            _ => (registered.0.to_string(), registered.1),
        }
    }
}
