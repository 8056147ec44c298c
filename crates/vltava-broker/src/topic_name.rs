//! Kafka's rules for topic names (`org.apache.kafka.common.internals.Topic.validate`).

use crate::error::{BrokerError, Result};

/// Kafka's limit: 249 characters, so that `<topic>-<partition>` fits a 255-byte file name.
pub const TOPIC_NAME_CHARS_MAX: usize = 249;

/// Kafka's internal topics (`org.apache.kafka.common.internals.Topic.INTERNAL_TOPICS`): the
/// broker's own state, written only by the broker. `__transaction_state` and
/// `__share_group_state` are listed before vltava has them so that a client cannot create and
/// fill one ahead of the coordinator that will read it. Other names starting with `__` are
/// ordinary topics, as in Kafka.
pub const INTERNAL_TOPICS: [&str; 3] = [
    "__consumer_offsets",
    "__transaction_state",
    "__share_group_state",
];

/// Whether `name` is an internal topic: the one place that decides it. Clients may not
/// append to one (Produce answers INVALID_TOPIC_EXCEPTION) nor delete its records.
pub fn is_internal(name: &str) -> bool {
    INTERNAL_TOPICS.contains(&name)
}

/// Checks `name` in Kafka's order; the error holds Kafka's reason, word for word.
pub fn validate(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "the empty string is not allowed".to_string()
    } else if name == "." || name == ".." {
        format!("'{name}' is not allowed")
    } else if name.len() > TOPIC_NAME_CHARS_MAX {
        format!(
            "the length of '{name}' is longer than the max allowed length {TOPIC_NAME_CHARS_MAX}"
        )
    } else if name
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        format!(
            "'{name}' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
        )
    } else {
        return Ok(());
    };
    Err(BrokerError::InvalidTopic(reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kafka_legal_names() {
        for name in ["orders", "a.b_c-d", "X9", &"t".repeat(249)] {
            assert!(validate(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn only_kafkas_internal_topics_are_internal() {
        for name in INTERNAL_TOPICS {
            assert!(is_internal(name), "{name}");
        }
        for name in [
            "__consumer_offsets2",
            "__cluster_metadata",
            "__mine",
            "orders",
            "",
        ] {
            assert!(!is_internal(name), "{name}");
        }
    }

    #[test]
    fn refuses_illegal_names() {
        for name in ["", ".", "..", "bad/name", "sp ace", "é", &"t".repeat(250)] {
            assert!(validate(name).is_err(), "{name}");
        }
    }
}
