//! Which records a search keeps: by key, header, text in the value, a JSON field of the
//! value, or a time up to which records are kept; all given conditions must hold. Pure, so that it is tested here.

use bytes::Bytes;
use vltava_client::batches::InRecord;

/// The longest filter text accepted (each of key, header, text, JSON path and value).
pub const FILTER_TEXT_BYTES_MAX: usize = 4096;
/// The deepest JSON path accepted (`a.b.c` is three).
const JSON_PATH_DEPTH_MAX: usize = 32;

/// A search's conditions; an absent one matches every record.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The key contains this text.
    key: Option<String>,
    /// A header with this name, and this value if given (`name` or `name=value`).
    header: Option<(String, Option<String>)>,
    /// The value contains this text.
    text: Option<String>,
    /// The value is JSON with a field at this path (`a.b.0.c`), equal to the value if given
    /// (a string field compares with its text, others with their JSON).
    json: Option<(Vec<String>, Option<String>)>,
    /// The record's timestamp is at most this (ms since the epoch): the end of a time range
    /// whose start is where the search starts.
    until_ms: Option<i64>,
}

/// The filter's fields as the query string gives them.
#[derive(Debug, Default)]
pub struct FilterText<'a> {
    pub key: Option<&'a str>,
    pub header: Option<&'a str>,
    pub text: Option<&'a str>,
    pub json_path: Option<&'a str>,
    pub json_value: Option<&'a str>,
    pub until_ms: Option<i64>,
}

impl Filter {
    pub fn parse(given: &FilterText<'_>) -> Result<Filter, String> {
        for (name, text) in [
            ("key", given.key),
            ("header", given.header),
            ("text", given.text),
            ("json_path", given.json_path),
            ("json_value", given.json_value),
        ] {
            if text.is_some_and(|t| t.len() > FILTER_TEXT_BYTES_MAX) {
                return Err(format!(
                    "{name} is longer than {FILTER_TEXT_BYTES_MAX} bytes"
                ));
            }
        }
        let nonempty = |t: Option<&str>| t.filter(|t| !t.is_empty()).map(str::to_string);
        let header = nonempty(given.header).map(|h| match h.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (h, None),
        });
        let json = match nonempty(given.json_path) {
            Some(path) => {
                let steps: Vec<String> = path.split('.').map(str::to_string).collect();
                if steps.len() > JSON_PATH_DEPTH_MAX || steps.iter().any(String::is_empty) {
                    return Err(format!(
                        "json_path {path:?} is not a.b.c with at most {JSON_PATH_DEPTH_MAX} steps"
                    ));
                }
                Some((steps, given.json_value.map(str::to_string)))
            }
            None if nonempty(given.json_value).is_some() => {
                return Err("json_value needs a json_path".to_string());
            }
            None => None,
        };
        Ok(Filter {
            key: nonempty(given.key),
            header,
            text: nonempty(given.text),
            json,
            until_ms: given.until_ms,
        })
    }

    pub fn matches(&self, record: &InRecord) -> bool {
        if self.until_ms.is_some_and(|until| record.timestamp > until) {
            return false;
        }
        if let Some(key) = &self.key
            && !contains(record.key.as_ref(), key)
        {
            return false;
        }
        if let Some((name, value)) = &self.header {
            let found = record.headers.iter().any(|(k, v)| {
                k == name
                    && value
                        .as_ref()
                        .is_none_or(|want| v.as_deref() == Some(want.as_bytes()))
            });
            if !found {
                return false;
            }
        }
        if let Some(text) = &self.text
            && !contains(record.value.as_ref(), text)
        {
            return false;
        }
        if let Some((path, want)) = &self.json {
            return json_field_matches(record.value.as_ref(), path, want.as_deref());
        }
        true
    }
}

fn contains(bytes: Option<&Bytes>, text: &str) -> bool {
    bytes.is_some_and(|b| {
        b.windows(text.len().max(1))
            .any(|window| window == text.as_bytes())
    })
}

fn json_field_matches(value: Option<&Bytes>, path: &[String], want: Option<&str>) -> bool {
    let Some(Ok(json)) = value.map(|v| serde_json::from_slice::<serde_json::Value>(v)) else {
        return false;
    };
    let mut at = &json;
    for step in path {
        let next = match at {
            serde_json::Value::Object(fields) => fields.get(step),
            serde_json::Value::Array(items) => {
                step.parse::<usize>().ok().and_then(|i| items.get(i))
            }
            _ => None,
        };
        match next {
            Some(next) => at = next,
            None => return false,
        }
    }
    match (want, at) {
        (None, _) => true,
        (Some(want), serde_json::Value::String(s)) => s == want,
        // A number, boolean, null, object or array compares as its JSON text.
        (Some(want), other) => serde_json::to_string(other).is_ok_and(|text| text == want),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str, value: &str, headers: &[(&str, &str)]) -> InRecord {
        InRecord {
            offset: 0,
            timestamp: 0,
            log_append_time: false,
            key: Some(Bytes::copy_from_slice(key.as_bytes())),
            value: Some(Bytes::copy_from_slice(value.as_bytes())),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), Some(Bytes::copy_from_slice(v.as_bytes()))))
                .collect(),
        }
    }

    fn filter(given: FilterText<'_>) -> Filter {
        Filter::parse(&given).unwrap_or_default()
    }

    #[test]
    fn every_condition_must_hold() {
        let r = record(
            "order-7",
            r#"{"a":{"b":[1,{"c":"x"}]},"n":5}"#,
            &[("src", "web")],
        );
        assert!(filter(FilterText::default()).matches(&r));
        assert!(
            filter(FilterText {
                key: Some("der-"),
                ..Default::default()
            })
            .matches(&r)
        );
        assert!(
            !filter(FilterText {
                key: Some("nope"),
                ..Default::default()
            })
            .matches(&r)
        );
        assert!(
            filter(FilterText {
                header: Some("src"),
                ..Default::default()
            })
            .matches(&r)
        );
        assert!(
            filter(FilterText {
                header: Some("src=web"),
                ..Default::default()
            })
            .matches(&r)
        );
        assert!(
            !filter(FilterText {
                header: Some("src=app"),
                ..Default::default()
            })
            .matches(&r)
        );
        assert!(
            filter(FilterText {
                text: Some("\"n\":5"),
                ..Default::default()
            })
            .matches(&r)
        );
        let json = |path, value| FilterText {
            json_path: Some(path),
            json_value: value,
            ..Default::default()
        };
        assert!(filter(json("a.b.1.c", Some("x"))).matches(&r));
        assert!(filter(json("n", Some("5"))).matches(&r));
        assert!(filter(json("a.b", None)).matches(&r));
        assert!(!filter(json("a.b.2", None)).matches(&r));
        assert!(!filter(json("n", Some("6"))).matches(&r));
        assert!(!filter(json("n", None)).matches(&record("k", "not json", &[])));
        let until = |ms| FilterText {
            until_ms: Some(ms),
            ..Default::default()
        };
        assert!(filter(until(0)).matches(&r));
        assert!(!filter(until(-1)).matches(&r));
        let both = FilterText {
            key: Some("order"),
            text: Some("zzz"),
            ..Default::default()
        };
        assert!(!filter(both).matches(&r));
    }

    #[test]
    fn bad_filters_are_refused() {
        let long = "x".repeat(FILTER_TEXT_BYTES_MAX + 1);
        assert!(
            Filter::parse(&FilterText {
                key: Some(&long),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            Filter::parse(&FilterText {
                json_path: Some("a..b"),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            Filter::parse(&FilterText {
                json_value: Some("1"),
                ..Default::default()
            })
            .is_err()
        );
    }
}
