//! Every topic and broker config Kafka 4 defines, read from `kafka-configs.tsv` (generated from
//! Kafka's own `ConfigDef`s by `scripts/gen-kafka-configs`): name, type, default, valid values,
//! broker synonyms and documentation. One registry serves validation, DescribeConfigs and
//! `docs/configuration.md`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

const TSV: &str = include_str!("kafka-configs.tsv");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Topic,
    Broker,
}

/// Kafka's `ConfigDef.Type`, with the ids DescribeConfigs v3+ reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
    Class = 8,
    Password = 9,
}

/// Whether Kafka lets a broker config change at run time, and at which level (its docs' "Update
/// Mode", from `DynamicBrokerConfig`). Topic configs are always dynamic and carry `ReadOnly`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateMode {
    ReadOnly,
    /// Only for one broker: the resource names a node id.
    PerBroker,
    /// For one broker or as the cluster-wide default (resource name "").
    ClusterWide,
}

/// The valid values, as Kafka's validators describe them.
#[derive(Debug, Clone, PartialEq)]
pub enum Validator {
    Any,
    /// Inclusive bounds; `None` is open.
    Range {
        min: Option<f64>,
        max: Option<f64>,
    },
    /// A range, or one extra value (`[1,...,9] or -1`).
    RangeOr {
        min: f64,
        max: f64,
        or: f64,
    },
    /// One of these (for lists: every element).
    OneOf(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct ConfigDef {
    pub scope: Scope,
    pub name: String,
    pub kind: ConfigType,
    /// `None`: Kafka has no default (the config is required or computed).
    pub default: Option<String>,
    pub valid: Validator,
    /// The valid values as Kafka prints them, for docs and error messages.
    pub valid_text: String,
    /// For topic configs: the broker configs that set their default, most specific first.
    pub synonyms: Vec<String>,
    /// Kafka's internal configs (testing knobs): accepted, never described.
    pub internal: bool,
    pub update_mode: UpdateMode,
    pub documentation: String,
}

#[derive(Debug, Default)]
pub struct Registry {
    topic: BTreeMap<String, ConfigDef>,
    broker: BTreeMap<String, ConfigDef>,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry::parse(TSV));

pub fn registry() -> &'static Registry {
    &REGISTRY
}

impl Registry {
    fn parse(tsv: &str) -> Self {
        let mut registry = Registry::default();
        for line in tsv.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let Some(def) = parse_row(line) else {
                // The file is generated and checked by a test; a bad row is skipped, not fatal.
                continue;
            };
            let map = match def.scope {
                Scope::Topic => &mut registry.topic,
                Scope::Broker => &mut registry.broker,
            };
            map.insert(def.name.clone(), def);
        }
        registry
    }

    pub fn topic(&self, name: &str) -> Option<&ConfigDef> {
        self.topic.get(name)
    }

    pub fn broker(&self, name: &str) -> Option<&ConfigDef> {
        self.broker.get(name)
    }

    /// Topic configs in name order.
    pub fn topic_configs(&self) -> impl Iterator<Item = &ConfigDef> {
        self.topic.values()
    }

    /// Broker configs in name order.
    pub fn broker_configs(&self) -> impl Iterator<Item = &ConfigDef> {
        self.broker.values()
    }
}

fn parse_row(line: &str) -> Option<ConfigDef> {
    let fields: Vec<&str> = line.split('\t').collect();
    let [
        scope,
        name,
        kind,
        default,
        valid,
        synonyms,
        internal,
        update_mode,
        documentation,
    ] = fields[..]
    else {
        return None;
    };
    Some(ConfigDef {
        scope: match scope {
            "topic" => Scope::Topic,
            "broker" => Scope::Broker,
            _ => return None,
        },
        name: name.to_string(),
        kind: parse_type(kind)?,
        default: match default {
            "\\N" => None,
            "\\null" => None,
            value => Some(value.to_string()),
        },
        valid: parse_validator(valid),
        valid_text: valid.to_string(),
        synonyms: synonyms
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        internal: internal == "true",
        update_mode: match update_mode {
            "per-broker" => UpdateMode::PerBroker,
            "cluster-wide" => UpdateMode::ClusterWide,
            _ => UpdateMode::ReadOnly,
        },
        documentation: documentation.to_string(),
    })
}

fn parse_type(kind: &str) -> Option<ConfigType> {
    Some(match kind {
        "BOOLEAN" => ConfigType::Boolean,
        "STRING" => ConfigType::String,
        "INT" => ConfigType::Int,
        "SHORT" => ConfigType::Short,
        "LONG" => ConfigType::Long,
        "DOUBLE" => ConfigType::Double,
        "LIST" => ConfigType::List,
        "CLASS" => ConfigType::Class,
        "PASSWORD" => ConfigType::Password,
        _ => return None,
    })
}

/// Reads the forms Kafka's validators print: `[a,...,b]`, `[a,...]`, `[a,...,b] or c` and
/// `[x, y, z]`. Anything else (free-form descriptions) checks the type only.
fn parse_validator(text: &str) -> Validator {
    let (range, or) = match text.split_once(" or ") {
        Some((range, or)) => (range, or.trim().parse::<f64>().ok()),
        None => (text, None),
    };
    let Some(inner) = range.strip_prefix('[').and_then(|r| r.strip_suffix(']')) else {
        return Validator::Any;
    };
    let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
    match (parts.as_slice(), or) {
        ([min, "..."], None) => match min.parse() {
            Ok(min) => Validator::Range {
                min: Some(min),
                max: None,
            },
            Err(_) => Validator::Any,
        },
        ([min, "...", max], or) => match (min.parse(), max.parse(), or) {
            (Ok(min), Ok(max), None) => Validator::Range {
                min: Some(min),
                max: Some(max),
            },
            (Ok(min), Ok(max), Some(or)) => Validator::RangeOr { min, max, or },
            _ => Validator::Any,
        },
        (values, None) if !values.iter().any(|v| v.is_empty() || v.contains(':')) => {
            Validator::OneOf(values.iter().map(|v| v.to_string()).collect())
        }
        _ => Validator::Any,
    }
}

/// Why a value is refused, worded like Kafka's `ConfigException`.
pub fn validate(def: &ConfigDef, value: &str) -> Result<(), String> {
    let invalid = |why: &str| {
        Err(format!(
            "Invalid value {value} for configuration {}: {why}",
            def.name
        ))
    };
    let trimmed = value.trim();
    let number: Option<f64> = match def.kind {
        ConfigType::Boolean => {
            if !trimmed.eq_ignore_ascii_case("true") && !trimmed.eq_ignore_ascii_case("false") {
                return invalid("Expected value to be either true or false");
            }
            None
        }
        ConfigType::Int => match trimmed.parse::<i32>() {
            Ok(v) => Some(f64::from(v)),
            Err(_) => return invalid("Not a number of type INT"),
        },
        ConfigType::Short => match trimmed.parse::<i16>() {
            Ok(v) => Some(f64::from(v)),
            Err(_) => return invalid("Not a number of type SHORT"),
        },
        ConfigType::Long => match trimmed.parse::<i64>() {
            Ok(v) => Some(v as f64),
            Err(_) => return invalid("Not a number of type LONG"),
        },
        ConfigType::Double => match trimmed.parse::<f64>() {
            Ok(v) if v.is_finite() => Some(v),
            _ => return invalid("Not a number of type DOUBLE"),
        },
        ConfigType::String | ConfigType::List | ConfigType::Class | ConfigType::Password => None,
    };
    match (&def.valid, number) {
        (Validator::Range { min, max }, Some(v)) => {
            let low = min.is_some_and(|m| v < m);
            let high = max.is_some_and(|m| v > m);
            if low || high {
                return invalid(&range_message(*min, *max));
            }
        }
        (Validator::RangeOr { min, max, or }, Some(v)) if (v < *min || v > *max) && v != *or => {
            return invalid(&format!("Value must be in {}", def.valid_text));
        }
        (Validator::OneOf(values), None) => {
            let elements: Vec<&str> = if def.kind == ConfigType::List {
                trimmed
                    .split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .collect()
            } else {
                vec![trimmed]
            };
            if let Some(bad) = elements.iter().find(|e| !values.iter().any(|v| v == *e)) {
                return invalid(&format!(
                    "String must be one of: {} (got {bad})",
                    values.join(", ")
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

fn range_message(min: Option<f64>, max: Option<f64>) -> String {
    let show = |v: f64| {
        if v.fract() == 0.0 && v.abs() < 1e18 {
            format!("{}", v as i64)
        } else {
            v.to_string()
        }
    };
    match (min, max) {
        (Some(min), None) => format!("Value must be at least {}", show(min)),
        (None, Some(max)) => format!("Value must be no more than {}", show(max)),
        (Some(min), Some(max)) => format!("Value must be in [{}, {}]", show(min), show(max)),
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_holds_kafkas_topic_and_broker_configs() {
        let r = registry();
        assert!(r.topic_configs().count() >= 35);
        assert!(r.broker_configs().count() >= 300);
        let retention = r.topic("retention.ms").expect("retention.ms");
        assert_eq!(retention.kind, ConfigType::Long);
        assert_eq!(retention.default.as_deref(), Some("604800000"));
        assert_eq!(retention.synonyms[0], "log.retention.ms");
        assert!(!retention.documentation.is_empty());
        let broker_retention = r.broker("log.retention.ms").expect("log.retention.ms");
        assert_eq!(broker_retention.update_mode, UpdateMode::ClusterWide);
        let listeners = r.broker("listeners").expect("listeners");
        assert_eq!(listeners.update_mode, UpdateMode::PerBroker);
        let dirs = r.broker("log.dirs").expect("log.dirs");
        assert_eq!(dirs.update_mode, UpdateMode::ReadOnly);
    }

    #[test]
    fn values_are_checked_against_type_and_valid_values() {
        let r = registry();
        let check = |name: &str, value: &str| validate(r.topic(name).expect(name), value);
        assert!(check("retention.ms", "-1").is_ok());
        assert!(check("retention.ms", "-2").is_err());
        assert!(check("retention.ms", "soon").is_err());
        assert!(check("cleanup.policy", "compact,delete").is_ok());
        assert!(check("cleanup.policy", "compact,shred").is_err());
        assert!(check("min.cleanable.dirty.ratio", "0.3").is_ok());
        assert!(check("min.cleanable.dirty.ratio", "1.5").is_err());
        assert!(check("compression.gzip.level", "-1").is_ok());
        assert!(check("compression.gzip.level", "0").is_err());
        assert!(check("message.timestamp.type", "LogAppendTime").is_ok());
        assert!(check("message.timestamp.type", "Now").is_err());
        assert!(check("preallocate", "yes").is_err());
        assert!(check("max.message.bytes", "2147483648").is_err());
    }

    #[test]
    fn every_row_of_the_generated_file_is_read() {
        let rows = TSV
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .count();
        let r = registry();
        assert_eq!(r.topic_configs().count() + r.broker_configs().count(), rows);
    }
}
