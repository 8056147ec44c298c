//! Turning input into records: one line a record, split by `-K`, by a kcat format, or read as a
//! JSON object; `-H` headers and `-Z` nulls on top.

use anyhow::Context;
use bytes::Bytes;
use serde::Deserialize;

use crate::batches::{Header, OutRecord};
use crate::format::{Format, parse_headers};

/// How a line becomes a record.
#[derive(Debug)]
pub enum Shape {
    /// The whole line is the value, or key DELIM value when a delimiter is given (a line
    /// without it is a value with no key, as in kcat).
    Lines {
        key_delimiter: Option<Vec<u8>>,
    },
    Format(Format),
    Json,
}

/// A record read from the input, and the partition it names if it names one.
#[derive(Debug, PartialEq, Eq)]
pub struct InputRecord {
    pub record: OutRecord,
    pub partition: Option<i32>,
}

/// What applies to every record.
#[derive(Debug)]
pub struct Input {
    pub shape: Shape,
    /// Key of every record whose line gives none (`--key`).
    pub key: Option<Bytes>,
    /// Added to every record (`-H`).
    pub headers: Vec<Header>,
    /// An empty key or value is null (`-Z`): an empty value makes a tombstone.
    pub empty_is_null: bool,
}

/// A record as `--json` reads it, and as `vltava consume --json` prints it (other fields, such
/// as topic and offset, are ignored), so that one's output is the other's input.
#[derive(Debug, Deserialize)]
struct JsonRecord {
    key: Option<String>,
    value: Option<String>,
    #[serde(default)]
    headers: Vec<JsonHeader>,
    partition: Option<i32>,
    timestamp: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct JsonHeader {
    key: String,
    value: Option<String>,
}

impl Input {
    /// The record one line (without its newline) gives, stamped `now_ms` unless it says when.
    pub fn record(&self, line: &[u8], now_ms: i64) -> anyhow::Result<InputRecord> {
        let mut record = OutRecord {
            key: self.key.clone(),
            value: None,
            headers: Vec::new(),
            timestamp: now_ms,
        };
        let mut partition = None;
        match &self.shape {
            Shape::Lines { key_delimiter } => {
                let split = key_delimiter.as_ref().and_then(|d| {
                    let at = line.windows(d.len()).position(|w| w == &d[..])?;
                    Some((&line[..at], &line[at + d.len()..]))
                });
                let value = match split {
                    Some((key, value)) => {
                        record.key = Some(Bytes::copy_from_slice(key));
                        value
                    }
                    None => line,
                };
                record.value = Some(Bytes::copy_from_slice(value));
            }
            Shape::Format(format) => {
                let fields = format.parse_input(line)?;
                record.key = fields.key.or(record.key);
                record.value = Some(fields.value.unwrap_or_default());
                record.headers = fields.headers.unwrap_or_default();
                record.timestamp = fields.timestamp.unwrap_or(now_ms);
                partition = fields.partition;
            }
            Shape::Json => {
                let json: JsonRecord = serde_json::from_slice(line).context("not a JSON record")?;
                let bytes = |s: String| Bytes::from(s.into_bytes());
                record.key = json.key.map(bytes).or(record.key);
                record.value = json.value.map(bytes);
                record.headers = json
                    .headers
                    .into_iter()
                    .map(|h| (h.key, h.value.map(bytes)))
                    .collect();
                record.timestamp = json.timestamp.unwrap_or(now_ms);
                partition = json.partition;
            }
        }
        record.headers.extend(self.headers.iter().cloned());
        if self.empty_is_null {
            for field in [&mut record.key, &mut record.value] {
                if field.as_ref().is_some_and(Bytes::is_empty) {
                    *field = None;
                }
            }
        }
        Ok(InputRecord { record, partition })
    }
}

/// `-H` values, each `k=v`.
pub fn headers(args: &[String]) -> anyhow::Result<Vec<Header>> {
    let mut headers = Vec::new();
    for arg in args {
        let parsed = parse_headers(arg)?;
        anyhow::ensure!(parsed.len() == 1, "-H {arg:?}: one header per -H, as k=v");
        headers.extend(parsed);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(shape: Shape, empty_is_null: bool) -> Input {
        Input {
            shape,
            key: None,
            headers: vec![("src".to_string(), Some(Bytes::from_static(b"cli")))],
            empty_is_null,
        }
    }

    #[test]
    fn a_key_delimiter_splits_at_its_first_occurrence() -> anyhow::Result<()> {
        let lines = input(
            Shape::Lines {
                key_delimiter: Some(b"::".to_vec()),
            },
            false,
        );
        let r = lines.record(b"k::v::w", 9)?.record;
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.value.as_deref(), Some(&b"v::w"[..]));
        assert_eq!((r.headers.len(), r.timestamp), (1, 9));
        let keyless = lines.record(b"no delimiter", 9)?.record;
        assert_eq!(
            (keyless.key, keyless.value.as_deref()),
            (None, Some(&b"no delimiter"[..]))
        );
        Ok(())
    }

    #[test]
    fn empty_values_are_tombstones_only_with_null_empty() -> anyhow::Result<()> {
        let shape = || Shape::Lines {
            key_delimiter: Some(b":".to_vec()),
        };
        let r = input(shape(), true).record(b"k:", 1)?.record;
        assert_eq!((r.key.as_deref(), r.value), (Some(&b"k"[..]), None));
        let r = input(shape(), false).record(b"k:", 1)?.record;
        assert_eq!(r.value.as_deref(), Some(&b""[..]));
        Ok(())
    }

    #[test]
    fn json_records_give_every_part() -> anyhow::Result<()> {
        let json = input(Shape::Json, false);
        let line = br#"{"topic":"t","offset":4,"key":"k","value":null,"headers":[{"key":"h","value":"1"}],"partition":2,"timestamp":5}"#;
        let read = json.record(line, 9)?;
        assert_eq!(read.partition, Some(2));
        assert_eq!(
            (read.record.key.as_deref(), read.record.value),
            (Some(&b"k"[..]), None)
        );
        assert_eq!((read.record.headers.len(), read.record.timestamp), (2, 5));
        assert!(json.record(b"not json", 9).is_err());
        Ok(())
    }
}
