//! Client quotas (KIP-546) as metadata: which entity has which quota, the checks Kafka's
//! `ClientQuotaControlManager` makes on an alteration, the filters of DescribeClientQuotas
//! (`ClientQuotasImage.describe`), and the quota that applies to a client (Kafka's
//! `DefaultQuotaCallback.quotaLimit`, most specific entity first). Enforcing a rate is the
//! broker's job (`vltava_broker::quotas`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";

pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
pub const REQUEST_PERCENTAGE: &str = "request_percentage";
pub const CONTROLLER_MUTATION_RATE: &str = "controller_mutation_rate";
pub const CONNECTION_CREATION_RATE: &str = "connection_creation_rate";

/// An entity: entity type → name, `None` naming the type's default (`--entity-default`).
pub type QuotaEntity = BTreeMap<String, Option<String>>;

/// One entity's quotas by key.
pub type EntityQuotas = BTreeMap<String, QuotaValue>;

/// Quotas by entity, then by key.
pub type ClientQuotas = BTreeMap<QuotaEntity, EntityQuotas>;

/// An entity as (type, name) pairs, while it is looked up.
type EntityParts = Vec<(&'static str, Option<String>)>;

/// A quota's value. Kafka keeps a double; only finite positive values are ever stored (checked
/// by [`check_value`]), so equality is plain equality.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QuotaValue(pub f64);

impl Eq for QuotaValue {}

/// Why an alteration or a filter is refused: Kafka answers INVALID_REQUEST with this message
/// (UNSUPPORTED_VERSION for an unknown entity type in a filter).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    UnsupportedEntityType(String),
}

fn invalid(message: impl Into<String>) -> QuotaError {
    QuotaError::InvalidRequest(message.into())
}

/// The value type of each key, as Kafka's `QuotaConfig` defines it.
enum KeyType {
    Long,
    Int,
    Double,
}

/// Checks an entity as Kafka's `validateEntity` and `configKeysForEntityType` do, returning
/// the keys it may have.
pub fn check_entity(parts: &[(String, Option<String>)]) -> Result<QuotaEntity, QuotaError> {
    if parts.is_empty() {
        return Err(invalid("Invalid empty client quota entity"));
    }
    let mut entity = QuotaEntity::new();
    for (entity_type, name) in parts {
        if entity.contains_key(entity_type) {
            return Err(invalid(format!(
                "Invalid client quota entity, duplicate entity entry {entity_type}"
            )));
        }
        if ![USER, CLIENT_ID, IP].contains(&entity_type.as_str()) {
            return Err(invalid(format!(
                "Unhandled client quota entity type: {entity_type}"
            )));
        }
        if name.as_deref() == Some("") {
            return Err(invalid(format!("Empty {entity_type} not supported")));
        }
        entity.insert(entity_type.clone(), name.clone());
    }
    if entity.contains_key(IP) {
        if entity.len() > 1 {
            return Err(invalid(
                "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId",
            ));
        }
        if let Some(Some(ip)) = entity.get(IP)
            && ip.parse::<std::net::IpAddr>().is_err()
        {
            return Err(invalid(format!(
                "{ip} is not a valid IP or resolvable host."
            )));
        }
    }
    Ok(entity)
}

fn key_type(entity: &QuotaEntity, key: &str) -> Option<KeyType> {
    if entity.contains_key(IP) {
        return (key == CONNECTION_CREATION_RATE).then_some(KeyType::Int);
    }
    match key {
        PRODUCER_BYTE_RATE | CONSUMER_BYTE_RATE => Some(KeyType::Long),
        REQUEST_PERCENTAGE | CONTROLLER_MUTATION_RATE => Some(KeyType::Double),
        _ => None,
    }
}

/// Checks a new value for `key` on `entity` as Kafka's `validateQuotaKeyValue` does.
pub fn check_value(entity: &QuotaEntity, key: &str, value: f64) -> Result<QuotaValue, QuotaError> {
    let Some(key_type) = key_type(entity, key) else {
        return Err(invalid(format!("Invalid configuration key {key}")));
    };
    if value.is_nan() || value <= 0.0 {
        return Err(invalid(format!("Quota {key} must be greater than 0")));
    }
    let integral = |max: f64, name: &str| {
        if value > max {
            Err(invalid(format!(
                "Proposed value for {key} is too large for {name}."
            )))
        } else if (value % 1.0).abs() > 1e-6 {
            Err(invalid(format!("{key} cannot be a fractional value.")))
        } else {
            Ok(QuotaValue(value))
        }
    };
    match key_type {
        KeyType::Double if value.is_finite() => Ok(QuotaValue(value)),
        KeyType::Double => Err(invalid(format!("Quota {key} must be finite"))),
        KeyType::Int => integral(f64::from(i32::MAX), "an INT"),
        KeyType::Long => integral(i64::MAX as f64, "a LONG"),
    }
}

/// One DescribeClientQuotas filter component: `Exact(name)`, the type's default, or any entity
/// that has the type (Kafka's MATCH_TYPE_EXACT, _DEFAULT, _SPECIFIED).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaMatch {
    Exact(String),
    Default,
    Any,
}

/// The entities DescribeClientQuotas answers for `components` (`strict`: no other types).
pub fn describe<'a>(
    quotas: &'a ClientQuotas,
    components: &[(String, QuotaMatch)],
    strict: bool,
) -> Result<Vec<(&'a QuotaEntity, &'a EntityQuotas)>, QuotaError> {
    let mut exact: BTreeMap<&str, Option<&str>> = BTreeMap::new();
    let mut any: BTreeSet<&str> = BTreeSet::new();
    for (entity_type, matching) in components {
        let entity_type = entity_type.as_str();
        if entity_type.is_empty() {
            return Err(invalid("Invalid empty entity type."));
        }
        if exact.contains_key(entity_type) || any.contains(entity_type) {
            return Err(invalid(format!(
                "Entity type {entity_type} cannot appear more than once in the filter."
            )));
        }
        if ![USER, CLIENT_ID, IP].contains(&entity_type) {
            return Err(QuotaError::UnsupportedEntityType(format!(
                "Unsupported entity type {entity_type}"
            )));
        }
        match matching {
            QuotaMatch::Exact(name) => exact.insert(entity_type, Some(name.as_str())),
            QuotaMatch::Default => exact.insert(entity_type, None),
            QuotaMatch::Any => {
                any.insert(entity_type);
                None
            }
        };
    }
    let has = |t: &str| exact.contains_key(t) || any.contains(t);
    if has(IP) && (has(USER) || has(CLIENT_ID)) {
        return Err(invalid(
            "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.",
        ));
    }
    let matches = |entity: &QuotaEntity| {
        (!strict || entity.len() == exact.len() + any.len())
            && exact
                .iter()
                .all(|(t, name)| entity.get(*t).is_some_and(|n| n.as_deref() == *name))
            && any.iter().all(|t| entity.contains_key(*t))
    };
    Ok(quotas.iter().filter(|(e, _)| matches(e)).collect())
}

/// The quota `key` that applies to a client of `user` with `client_id`, and the entity whose
/// rate it limits (with the client's own names where the quota is a default: each user under
/// `users/<default>` has a rate of its own). Kafka's precedence, most specific first:
/// user+client, user+default client, default user+client, default user+default client, user,
/// default user, client, default client.
pub fn quota_for(
    quotas: &ClientQuotas,
    key: &str,
    user: &str,
    client_id: &str,
) -> Option<(QuotaEntity, f64)> {
    if quotas.is_empty() {
        return None;
    }
    let u = || Some(user.to_string());
    let c = || Some(client_id.to_string());
    // (the entity looked up, the entity whose rate is kept)
    let levels: [(EntityParts, EntityParts); 8] = [
        (
            vec![(USER, u()), (CLIENT_ID, c())],
            vec![(USER, u()), (CLIENT_ID, c())],
        ),
        (
            vec![(USER, u()), (CLIENT_ID, None)],
            vec![(USER, u()), (CLIENT_ID, c())],
        ),
        (
            vec![(USER, None), (CLIENT_ID, c())],
            vec![(USER, u()), (CLIENT_ID, c())],
        ),
        (
            vec![(USER, None), (CLIENT_ID, None)],
            vec![(USER, u()), (CLIENT_ID, c())],
        ),
        (vec![(USER, u())], vec![(USER, u())]),
        (vec![(USER, None)], vec![(USER, u())]),
        (vec![(CLIENT_ID, c())], vec![(CLIENT_ID, c())]),
        (vec![(CLIENT_ID, None)], vec![(CLIENT_ID, c())]),
    ];
    let entity = |parts: &[(&'static str, Option<String>)]| -> QuotaEntity {
        parts
            .iter()
            .map(|(t, n)| (t.to_string(), n.clone()))
            .collect()
    };
    levels.iter().find_map(|(looked_up, rated)| {
        let value = quotas.get(&entity(looked_up))?.get(key)?;
        Some((entity(rated), value.0))
    })
}

/// The `connection_creation_rate` that applies to connections from `ip`: its own, else the
/// default ip quota (Kafka's `ConnectionQuotas.connectionRateForIp`); the rate is kept per
/// address either way.
pub fn ip_connection_rate(quotas: &ClientQuotas, ip: &str) -> Option<(QuotaEntity, f64)> {
    if quotas.is_empty() {
        return None;
    }
    let entity =
        |name: Option<&str>| -> QuotaEntity { [(IP.to_string(), name.map(str::to_string))].into() };
    let own = entity(Some(ip));
    let value = quotas
        .get(&own)
        .or_else(|| quotas.get(&entity(None)))?
        .get(CONNECTION_CREATION_RATE)?;
    Some((own, value.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(parts: &[(&str, Option<&str>)]) -> QuotaEntity {
        parts
            .iter()
            .map(|(t, n)| (t.to_string(), n.map(str::to_string)))
            .collect()
    }

    fn with(quotas: &[(QuotaEntity, &str, f64)]) -> ClientQuotas {
        let mut all = ClientQuotas::new();
        for (e, key, value) in quotas {
            all.entry(e.clone())
                .or_default()
                .insert(key.to_string(), QuotaValue(*value));
        }
        all
    }

    #[test]
    fn the_most_specific_quota_applies() {
        let quotas = with(&[
            (entity(&[(CLIENT_ID, None)]), PRODUCER_BYTE_RATE, 1.0),
            (entity(&[(USER, Some("bob"))]), PRODUCER_BYTE_RATE, 2.0),
            (
                entity(&[(USER, Some("bob")), (CLIENT_ID, Some("app"))]),
                PRODUCER_BYTE_RATE,
                3.0,
            ),
        ]);
        let limit = |user, client| quota_for(&quotas, PRODUCER_BYTE_RATE, user, client);
        assert_eq!(limit("bob", "app").map(|q| q.1), Some(3.0));
        assert_eq!(limit("bob", "other").map(|q| q.1), Some(2.0));
        let (rated, value) = limit("alice", "x").expect("the default client quota");
        assert_eq!(value, 1.0);
        // A default's rate is kept per client id.
        assert_eq!(rated, entity(&[(CLIENT_ID, Some("x"))]));
        assert_eq!(quota_for(&quotas, CONSUMER_BYTE_RATE, "bob", "app"), None);
    }

    #[test]
    fn an_address_has_its_own_connection_rate_or_the_default() {
        let quotas = with(&[
            (entity(&[(IP, None)]), CONNECTION_CREATION_RATE, 5.0),
            (
                entity(&[(IP, Some("10.0.0.1"))]),
                CONNECTION_CREATION_RATE,
                2.0,
            ),
        ]);
        assert_eq!(
            ip_connection_rate(&quotas, "10.0.0.1").map(|q| q.1),
            Some(2.0)
        );
        let (rated, value) = ip_connection_rate(&quotas, "10.0.0.2").expect("the default");
        assert_eq!((rated, value), (entity(&[(IP, Some("10.0.0.2"))]), 5.0));
        assert_eq!(ip_connection_rate(&ClientQuotas::new(), "10.0.0.1"), None);
    }

    #[test]
    fn values_are_checked_as_kafka_checks_them() {
        let client = entity(&[(CLIENT_ID, Some("a"))]);
        assert!(check_value(&client, PRODUCER_BYTE_RATE, 1024.0).is_ok());
        assert!(check_value(&client, PRODUCER_BYTE_RATE, 0.0).is_err());
        assert!(check_value(&client, PRODUCER_BYTE_RATE, 1.5).is_err());
        assert!(check_value(&client, REQUEST_PERCENTAGE, 1.5).is_ok());
        assert!(check_value(&client, CONNECTION_CREATION_RATE, 5.0).is_err());
        assert!(check_value(&client, "nonsense", 5.0).is_err());
        let ip = entity(&[(IP, Some("10.0.0.1"))]);
        assert!(check_value(&ip, CONNECTION_CREATION_RATE, 5.0).is_ok());
        let parts = |p: &[(&str, Option<&str>)]| {
            p.iter()
                .map(|(t, n)| (t.to_string(), n.map(str::to_string)))
                .collect::<Vec<_>>()
        };
        assert!(check_entity(&parts(&[(IP, Some("x y"))])).is_err());
        assert!(check_entity(&parts(&[(IP, None), (USER, None)])).is_err());
        assert!(check_entity(&parts(&[(USER, Some(""))])).is_err());
        assert!(check_entity(&parts(&[])).is_err());
    }

    #[test]
    fn filters_match_as_kafka_matches_them() {
        let quotas = with(&[
            (entity(&[(USER, Some("bob"))]), PRODUCER_BYTE_RATE, 1.0),
            (entity(&[(USER, None)]), PRODUCER_BYTE_RATE, 2.0),
            (
                entity(&[(USER, Some("bob")), (CLIENT_ID, Some("app"))]),
                PRODUCER_BYTE_RATE,
                3.0,
            ),
        ]);
        let count = |components: &[(&str, QuotaMatch)], strict| {
            let components: Vec<(String, QuotaMatch)> = components
                .iter()
                .map(|(t, m)| (t.to_string(), m.clone()))
                .collect();
            describe(&quotas, &components, strict).map(|found| found.len())
        };
        assert_eq!(count(&[], false), Ok(3));
        assert_eq!(count(&[(USER, QuotaMatch::Any)], true), Ok(2));
        assert_eq!(
            count(&[(USER, QuotaMatch::Exact("bob".into()))], false),
            Ok(2)
        );
        assert_eq!(count(&[(USER, QuotaMatch::Default)], false), Ok(1));
        assert!(
            count(
                &[(USER, QuotaMatch::Any), (USER, QuotaMatch::Default)],
                false
            )
            .is_err()
        );
        assert!(matches!(
            count(&[("group", QuotaMatch::Any)], false),
            Err(QuotaError::UnsupportedEntityType(_))
        ));
    }
}
