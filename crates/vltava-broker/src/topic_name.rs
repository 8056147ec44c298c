//! Kafka's rules for topic names (`org.apache.kafka.common.internals.Topic.validate`).

use crate::error::{BrokerError, Result};

/// Kafka's limit: 249 characters, so that `<topic>-<partition>` fits a 255-byte file name.
pub const TOPIC_NAME_CHARS_MAX: usize = 249;

pub fn validate(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(BrokerError::InvalidTopic("topic name is empty".into()));
    }
    if name == "." || name == ".." {
        return Err(BrokerError::InvalidTopic(format!(
            "topic name cannot be \"{name}\""
        )));
    }
    if name.len() > TOPIC_NAME_CHARS_MAX {
        return Err(BrokerError::InvalidTopic(format!(
            "topic name is longer than {TOPIC_NAME_CHARS_MAX} characters"
        )));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(BrokerError::InvalidTopic(format!(
            "topic name {name:?} contains {bad:?}: legal characters are ASCII letters, digits, '.', '_' and '-'"
        )));
    }
    Ok(())
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
    fn refuses_illegal_names() {
        for name in ["", ".", "..", "bad/name", "sp ace", "é", &"t".repeat(250)] {
            assert!(validate(name).is_err(), "{name}");
        }
    }
}
