//! How `vltava consume` prints each record: kcat's format tokens or one JSON object a line.

use std::borrow::Cow;
use std::io::Write;

use serde::Serialize;

use crate::batches::InRecord;
use crate::format::{Format, Origin};

/// A record as `--json` prints it (and `vltava produce --json` reads it).
#[derive(Debug, Serialize)]
struct JsonRecord<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    timestamp: i64,
    timestamp_type: &'static str,
    key: Option<Cow<'a, str>>,
    value: Option<Cow<'a, str>>,
    headers: Vec<JsonHeader<'a>>,
}

#[derive(Debug, Serialize)]
struct JsonHeader<'a> {
    key: &'a str,
    value: Option<Cow<'a, str>>,
}

/// Writes records to stdout until `limit`; a reader that went away ends the command quietly.
#[derive(Debug)]
pub struct Printer<W: Write> {
    pub out: W,
    pub format: Format,
    pub json: bool,
    /// What a null key or value prints as.
    pub null: &'static [u8],
    pub printed: u64,
    /// `-c`.
    pub limit: Option<u64>,
    /// The reader went away.
    pub closed: bool,
}

impl<W: Write> Printer<W> {
    pub fn finished(&self) -> bool {
        self.closed || self.limit.is_some_and(|limit| self.printed >= limit)
    }

    pub fn print(&mut self, topic: &str, partition: i32, record: &InRecord) -> anyhow::Result<()> {
        let mut line = Vec::new();
        if self.json {
            let text = |b: &'_ Option<bytes::Bytes>| -> Option<String> {
                b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned())
            };
            let json = JsonRecord {
                topic,
                partition,
                offset: record.offset,
                timestamp: record.timestamp,
                timestamp_type: if record.log_append_time {
                    "LogAppendTime"
                } else {
                    "CreateTime"
                },
                key: text(&record.key).map(Cow::Owned),
                value: text(&record.value).map(Cow::Owned),
                headers: record
                    .headers
                    .iter()
                    .map(|(key, value)| JsonHeader {
                        key,
                        value: text(value).map(Cow::Owned),
                    })
                    .collect(),
            };
            serde_json::to_writer(&mut line, &json)?;
            line.push(b'\n');
        } else {
            self.format
                .render(Origin { topic, partition }, record, self.null, &mut line);
        }
        self.printed += 1;
        self.write(&line)
    }

    fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        match self.out.write_all(bytes) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => Ok(other?),
        }
    }

    pub fn flush(&mut self) -> anyhow::Result<()> {
        match self.out.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => Ok(other?),
        }
    }
}
