//! Kafka's listeners: `listeners=NAME://HOST:PORT,...`, `advertised.listeners` in the same form,
//! and `listener.security.protocol.map=NAME:PROTOCOL,...` saying how each one is secured.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// How a listener's connections are secured (Kafka's `SecurityProtocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    pub fn from_name(name: &str) -> Option<SecurityProtocol> {
        [
            SecurityProtocol::Plaintext,
            SecurityProtocol::Ssl,
            SecurityProtocol::SaslPlaintext,
            SecurityProtocol::SaslSsl,
        ]
        .into_iter()
        .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// One listener: where it binds, how it is secured, what clients are told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Upper case, as Kafka normalises listener names.
    pub name: String,
    pub protocol: SecurityProtocol,
    pub bind: SocketAddr,
    pub advertised_host: String,
    /// `None`: the port bound (which differs from `bind`'s when that is 0).
    pub advertised_port: Option<u16>,
    /// Binds every interface and has no advertised address: each client is told this
    /// broker's address as the one it connected to, so the same broker answers right from
    /// the host, a container and a compose network (`advertised_host` keeps the bind address).
    pub answers_with_connection: bool,
}

impl ListenerConfig {
    /// Today's zero-configuration listener: PLAINTEXT on `bind`, advertised as bound.
    pub fn plaintext(bind: SocketAddr) -> ListenerConfig {
        ListenerConfig {
            name: "PLAINTEXT".to_string(),
            protocol: SecurityProtocol::Plaintext,
            bind,
            advertised_host: bind.ip().to_string(),
            advertised_port: None,
            answers_with_connection: bind.ip().is_unspecified(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ListenerError {
    #[error("{0:?} is not NAME://HOST:PORT")]
    Malformed(String),
    #[error("listener {0} is listed twice")]
    Duplicate(String),
    #[error("listener {0} has no security protocol in listener.security.protocol.map")]
    NoProtocol(String),
    #[error("{0:?} is not NAME:PROTOCOL with PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")]
    BadProtocolMapping(String),
    #[error("advertised listener {0} is not one of the listeners")]
    UnknownAdvertised(String),
    #[error("cannot resolve {0}")]
    Unresolved(String),
    #[error("advertised listener {0} is a wildcard address: name one clients can reach")]
    WildcardAdvertised(String),
    #[error("no listener configured")]
    Empty,
}

/// `NAME://HOST:PORT` split; an empty host means every interface, as in Kafka.
fn split_listener(text: &str) -> Result<(String, String, u16), ListenerError> {
    let malformed = || ListenerError::Malformed(text.to_string());
    let (name, address) = text.split_once("://").ok_or_else(malformed)?;
    let (host, port) = address.rsplit_once(':').ok_or_else(malformed)?;
    let port = port.parse::<u16>().map_err(|_| malformed())?;
    let name = name.trim().to_ascii_uppercase();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(malformed());
    }
    // IPv6 literals come bracketed: [::1]:9092.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((name, host.to_string(), port))
}

fn entries(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|e| !e.is_empty())
}

/// `listener.security.protocol.map`; Kafka's default maps each protocol's own name to it.
pub fn parse_protocol_map(
    map: Option<&str>,
) -> Result<BTreeMap<String, SecurityProtocol>, ListenerError> {
    let Some(map) = map else {
        return Ok([
            SecurityProtocol::Plaintext,
            SecurityProtocol::Ssl,
            SecurityProtocol::SaslPlaintext,
            SecurityProtocol::SaslSsl,
        ]
        .into_iter()
        .map(|p| (p.name().to_string(), p))
        .collect());
    };
    let mut parsed = BTreeMap::new();
    for entry in entries(map) {
        let bad = || ListenerError::BadProtocolMapping(entry.to_string());
        let (name, protocol) = entry.split_once(':').ok_or_else(bad)?;
        let protocol = SecurityProtocol::from_name(protocol.trim()).ok_or_else(bad)?;
        parsed.insert(name.trim().to_ascii_uppercase(), protocol);
    }
    Ok(parsed)
}

/// Kafka's three listener settings, checked together.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListenerSettings<'a> {
    pub listeners: &'a str,
    pub advertised_listeners: Option<&'a str>,
    pub protocol_map: Option<&'a str>,
}

pub fn parse_listeners(
    settings: ListenerSettings<'_>,
) -> Result<Vec<ListenerConfig>, ListenerError> {
    let protocols = parse_protocol_map(settings.protocol_map)?;
    let mut listeners: Vec<ListenerConfig> = Vec::new();
    for entry in entries(settings.listeners) {
        let (name, host, port) = split_listener(entry)?;
        if listeners.iter().any(|l| l.name == name) {
            return Err(ListenerError::Duplicate(name));
        }
        let protocol = *protocols
            .get(&name)
            .ok_or_else(|| ListenerError::NoProtocol(name.clone()))?;
        let bind_host = if host.is_empty() { "0.0.0.0" } else { &host };
        let bind = (bind_host, port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addresses| addresses.next())
            .ok_or_else(|| ListenerError::Unresolved(entry.to_string()))?;
        listeners.push(ListenerConfig {
            advertised_host: if host.is_empty() {
                String::new()
            } else {
                host.clone()
            },
            advertised_port: None,
            answers_with_connection: false,
            name,
            protocol,
            bind,
        });
    }
    if listeners.is_empty() {
        return Err(ListenerError::Empty);
    }
    let mut advertised = BTreeSet::new();
    for entry in settings
        .advertised_listeners
        .map(entries)
        .into_iter()
        .flatten()
    {
        let (name, host, port) = split_listener(entry)?;
        advertised.insert(name.clone());
        let listener = listeners
            .iter_mut()
            .find(|l| l.name == name)
            .ok_or_else(|| ListenerError::UnknownAdvertised(name.clone()))?;
        listener.advertised_host = host;
        listener.advertised_port = (port != 0).then_some(port);
    }
    for listener in &mut listeners {
        let wildcard = listener.advertised_host.is_empty()
            || listener
                .advertised_host
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_unspecified());
        if !wildcard {
            continue;
        }
        if advertised.contains(&listener.name) {
            return Err(ListenerError::WildcardAdvertised(listener.name.clone()));
        }
        listener.advertised_host = listener.bind.ip().to_string();
        listener.answers_with_connection = true;
    }
    Ok(listeners)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(
        listeners: &str,
        advertised: Option<&str>,
        map: Option<&str>,
    ) -> Result<Vec<ListenerConfig>, ListenerError> {
        parse_listeners(ListenerSettings {
            listeners,
            advertised_listeners: advertised,
            protocol_map: map,
        })
    }

    #[test]
    fn several_listeners_take_their_protocol_from_the_map() -> Result<(), ListenerError> {
        let listeners = parse(
            "PLAINTEXT://127.0.0.1:9092, client://127.0.0.1:9093",
            Some("CLIENT://broker-1.example:19093"),
            Some("PLAINTEXT:PLAINTEXT,CLIENT:SASL_SSL"),
        )?;
        assert_eq!(listeners.len(), 2);
        assert_eq!(listeners[0].protocol, SecurityProtocol::Plaintext);
        assert_eq!(listeners[0].advertised_host, "127.0.0.1");
        assert_eq!(listeners[1].name, "CLIENT");
        assert_eq!(listeners[1].protocol, SecurityProtocol::SaslSsl);
        assert_eq!(listeners[1].advertised_host, "broker-1.example");
        assert_eq!(listeners[1].advertised_port, Some(19093));
        Ok(())
    }

    #[test]
    fn a_wildcard_listener_without_an_advertised_address_answers_with_the_connection()
    -> Result<(), ListenerError> {
        let listeners = parse(
            "PLAINTEXT://:0,SSL://0.0.0.0:0,INNER://127.0.0.1:0",
            None,
            Some("PLAINTEXT:PLAINTEXT,SSL:SSL,INNER:PLAINTEXT"),
        )?;
        assert!(listeners[0].answers_with_connection);
        assert!(listeners[1].answers_with_connection);
        assert!(!listeners[2].answers_with_connection);
        assert_eq!(listeners[0].advertised_host, "0.0.0.0");
        let advertised = parse(
            "PLAINTEXT://:0",
            Some("PLAINTEXT://broker-1.example:9092"),
            None,
        )?;
        assert!(!advertised[0].answers_with_connection);
        assert!(ListenerConfig::plaintext(([0, 0, 0, 0], 9092).into()).answers_with_connection);
        assert!(!ListenerConfig::plaintext(([127, 0, 0, 1], 9092).into()).answers_with_connection);
        Ok(())
    }

    #[test]
    fn the_default_map_knows_the_protocol_names() -> Result<(), ListenerError> {
        let listeners = parse("SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0", None, None)?;
        assert_eq!(listeners[0].protocol, SecurityProtocol::Ssl);
        assert_eq!(listeners[1].protocol, SecurityProtocol::SaslPlaintext);
        Ok(())
    }

    #[test]
    fn bad_listener_settings_are_refused() {
        assert_eq!(
            parse("CLIENT://127.0.0.1:1", None, None),
            Err(ListenerError::NoProtocol("CLIENT".into()))
        );
        assert!(matches!(
            parse(
                "PLAINTEXT://127.0.0.1:1,PLAINTEXT://127.0.0.1:2",
                None,
                None
            ),
            Err(ListenerError::Duplicate(_))
        ));
        assert!(matches!(
            parse("PLAINTEXT://:9092", Some("PLAINTEXT://0.0.0.0:9092"), None),
            Err(ListenerError::WildcardAdvertised(_))
        ));
        assert!(matches!(
            parse("PLAINTEXT://127.0.0.1:1", Some("SSL://h:1"), None),
            Err(ListenerError::UnknownAdvertised(_))
        ));
        assert!(matches!(
            parse("A://127.0.0.1:1", None, Some("A:TLS")),
            Err(ListenerError::BadProtocolMapping(_))
        ));
        for bad in [
            "",
            "127.0.0.1:9092",
            "PLAINTEXT://127.0.0.1",
            "PLAINTEXT://h:x",
        ] {
            assert!(parse(bad, None, None).is_err(), "{bad:?} accepted");
        }
    }
}
