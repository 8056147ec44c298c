//! `vltava produce TOPIC`: records from stdin lines (or one `--value`) to a topic, as kcat's
//! `-P` mode and `rpk topic produce` do. Lines are batched per partition (a batch goes out
//! when full, when the input pauses for `LINGER`, or at its end), each batch to its
//! partition's leader. Exits non-zero when any record failed, each failure named on stderr
//! with Kafka's error name.

mod input;
mod send;

use std::collections::BTreeMap;
use std::io::{BufRead, Read as _};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use kafka_protocol::records::Compression;

use crate::batches::{BATCH_HEADER_BYTES, OutRecord, now_ms};
use crate::client::partitioner::Partitioner;
use crate::client::{Acks, Client};
use crate::format::Format;
use crate::interrupt::{self, Interrupted};
use crate::output::Bootstrap;
use input::{Input, InputRecord, Shape};
use send::{SendOptions, Sender};

/// How long a batch waits for more lines once the input pauses (Kafka's linger.ms).
const LINGER: Duration = Duration::from_millis(5);
/// How long the loop waits for input with nothing to send before checking for Ctrl-C.
const IDLE_POLL: Duration = Duration::from_millis(200);
/// The longest input line; a longer one fails alone (the broker's default largest batch,
/// max.message.bytes, is 1 MiB).
const LINE_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Lines read ahead of the sender.
const LINES_QUEUED_MAX: usize = 1024;
/// Record bytes held over all partitions before they are sent (Kafka's buffer.memory is
/// larger; one request of this size is plenty for a command line).
const PENDING_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Default largest batch, below Kafka's default max.message.bytes (1048588).
const DEFAULT_BATCH_BYTES_MAX: usize = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Codec {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// The topic (created on first use when the broker auto-creates topics).
    topic: String,
    /// Produce one record with this value instead of reading lines from stdin.
    #[arg(long, conflicts_with = "key_delimiter")]
    value: Option<String>,
    /// The key of every record whose line gives none.
    #[arg(long)]
    key: Option<String>,
    /// Split each line at the first DELIM into key and value (kcat's -K).
    #[arg(short = 'K', long, value_name = "DELIM")]
    key_delimiter: Option<String>,
    /// A header of every record, NAME=VALUE; repeatable (kcat's -H).
    #[arg(short = 'H', long = "header", value_name = "NAME=VALUE")]
    headers: Vec<String>,
    /// The partition of every record whose line names none [default: by key hash, as Kafka's
    /// default partitioner; keyless records stick to a random partition per batch].
    #[arg(short = 'p', long)]
    partition: Option<i32>,
    /// Acknowledgement: 0 (none), 1 (the leader) or all (-1, the in-sync replicas).
    #[arg(long, default_value = "all", value_parser = parse_acks)]
    acks: Acks,
    /// Write without a producer id (Kafka's enable.idempotence=false): a batch sent again
    /// after a lost answer may then be written twice. With acks 0 or 1 it is always so.
    #[arg(long)]
    no_idempotence: bool,
    /// Compression of each batch.
    #[arg(short = 'z', long, value_enum, default_value_t = Codec::None)]
    compression: Codec,
    /// Send an empty key or value as null: an empty value is a tombstone (kcat's -Z).
    #[arg(short = 'Z', long)]
    null_empty: bool,
    /// Split each line with kcat's tokens, e.g. '%k:%s' or '%p|%T|%h|%k|%s' (headers as
    /// k=v,k=v).
    #[arg(long, conflicts_with_all = ["json", "key_delimiter", "value"])]
    format: Option<String>,
    /// Read each line as a JSON record, {"key","value","headers":[{"key","value"}],
    /// "partition","timestamp"}, as `vltava consume --json` prints them.
    #[arg(long, conflicts_with_all = ["key_delimiter", "value"])]
    json: bool,
    /// Largest batch, in bytes before compression; a larger record goes alone.
    #[arg(long, default_value_t = DEFAULT_BATCH_BYTES_MAX)]
    batch_bytes_max: usize,
    #[command(flatten)]
    broker: Bootstrap,
}

fn parse_acks(text: &str) -> Result<Acks, String> {
    match text {
        "0" => Ok(Acks::None),
        "1" => Ok(Acks::Leader),
        "all" | "-1" => Ok(Acks::All),
        other => Err(format!("{other:?}: acks are 0, 1 or all (-1)")),
    }
}

pub fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let input = input_of(&args)?;
    let interrupted = interrupt::install()?;
    let options = SendOptions {
        acks: args.acks,
        compression: match args.compression {
            Codec::None => Compression::None,
            Codec::Gzip => Compression::Gzip,
            Codec::Snappy => Compression::Snappy,
            Codec::Lz4 => Compression::Lz4,
            Codec::Zstd => Compression::Zstd,
        },
        idempotent: !args.no_idempotence,
    };
    let bootstrap = Client::connect(&args.broker.bootstrap)?;
    let sender = Sender::new(bootstrap, &args.topic, options)?;
    let mut producer = Producer {
        partitioner: Partitioner::with_random_seed(sender.partition_count()),
        sender,
        pending: Pending::default(),
        partition: args.partition,
        batch_bytes_max: args.batch_bytes_max.max(BATCH_HEADER_BYTES),
        bad_lines: 0,
    };
    if let Some(partition) = args.partition {
        producer.check_partition(partition)?;
    }
    match &args.value {
        Some(value) => producer.add(&input, value.as_bytes())?,
        None => producer.add_lines(&input, &interrupted)?,
    }
    producer.flush()?;
    let failed = producer.sender.failed + producer.bad_lines;
    if failed > 0 {
        bail!("{failed} record(s) not produced to {}", args.topic);
    }
    Ok(())
}

fn input_of(args: &ProduceArgs) -> anyhow::Result<Input> {
    let shape = match (&args.format, args.json) {
        (Some(format), _) => {
            let format = Format::parse(format)?;
            format.check_input()?;
            Shape::Format(format)
        }
        (None, true) => Shape::Json,
        (None, false) => Shape::Lines {
            key_delimiter: args.key_delimiter.as_ref().map(|d| d.as_bytes().to_vec()),
        },
    };
    if args.key_delimiter.as_ref().is_some_and(String::is_empty) {
        bail!("the key delimiter is empty");
    }
    Ok(Input {
        shape,
        key: args
            .key
            .as_ref()
            .map(|k| Bytes::from(k.clone().into_bytes())),
        headers: input::headers(&args.headers)?,
        empty_is_null: args.null_empty,
    })
}

/// One read from stdin.
#[derive(Debug)]
enum LineRead {
    /// A line, without its newline.
    Line(Vec<u8>),
    /// A line longer than `LINE_BYTES_MAX`, skipped.
    TooLong,
    Failed(std::io::Error),
}

/// Lines of stdin from a reading thread, so that the sender can linger and notice Ctrl-C while
/// the input is quiet.
fn read_lines() -> mpsc::Receiver<LineRead> {
    let (tx, rx) = mpsc::sync_channel(LINES_QUEUED_MAX);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        loop {
            let mut line = Vec::new();
            let read = match read_line(&mut stdin, &mut line, LINE_BYTES_MAX) {
                Ok(None) => break,
                Ok(Some(true)) => LineRead::Line(line),
                Ok(Some(false)) => LineRead::TooLong,
                Err(e) => LineRead::Failed(e),
            };
            let failed = matches!(read, LineRead::Failed(_));
            if tx.send(read).is_err() || failed {
                break;
            }
        }
    });
    rx
}

/// Reads one line of at most `max` bytes into `line`, without its newline: `None` at the end
/// of the input, `Some(false)` for a longer line, which is read to its end and dropped.
fn read_line(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<bool>> {
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    if (&mut *reader).take(limit).read_until(b'\n', line)? == 0 {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        return Ok(Some(true));
    }
    if line.len() <= max {
        return Ok(Some(true));
    }
    reader.skip_until(b'\n')?;
    Ok(Some(false))
}

/// Records waiting to go, one future batch per partition.
#[derive(Debug, Default)]
struct Pending {
    batches: BTreeMap<i32, (Vec<OutRecord>, usize)>,
    bytes: usize,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }
}

#[derive(Debug)]
struct Producer {
    sender: Sender,
    partitioner: Partitioner,
    pending: Pending,
    /// `-p`.
    partition: Option<i32>,
    batch_bytes_max: usize,
    bad_lines: u64,
}

impl Producer {
    /// Reads one line into a pending batch, first sending what is pending if its partition's
    /// batch would grow past the maximum (one batch per partition per request).
    fn add(&mut self, input: &Input, line: &[u8]) -> anyhow::Result<()> {
        let InputRecord { record, partition } = input.record(line, now_ms())?;
        let partition = match partition.or(self.partition) {
            Some(p) => {
                self.check_partition(p)?;
                p
            }
            None => self.partitioner.partition(record.key.as_deref()),
        };
        let size = record.size_bytes();
        let batch_bytes = self.pending.batches.get(&partition).map_or(0, |(_, b)| *b);
        if batch_bytes > 0 && batch_bytes + size > self.batch_bytes_max {
            self.flush()?;
        }
        let (records, bytes) = self.pending.batches.entry(partition).or_default();
        records.push(record);
        *bytes += size;
        self.pending.bytes += size;
        if self.pending.bytes >= PENDING_BYTES_MAX {
            self.flush()?;
        }
        Ok(())
    }

    /// Adds the lines of stdin until it ends or Ctrl-C, sending batches as they fill up or
    /// the input pauses; a line that does not make a record counts as failed.
    fn add_lines(&mut self, input: &Input, interrupted: &Interrupted) -> anyhow::Result<()> {
        let lines = read_lines();
        let mut line_number = 0u64;
        while !interrupted.is_set() {
            let wait = if self.pending.is_empty() {
                IDLE_POLL
            } else {
                LINGER
            };
            let failure = match lines.recv_timeout(wait) {
                Ok(LineRead::Line(line)) => self.add(input, &line).err(),
                Ok(LineRead::TooLong) => {
                    Some(anyhow::anyhow!("longer than {LINE_BYTES_MAX} bytes"))
                }
                Ok(LineRead::Failed(e)) => {
                    self.flush()?;
                    return Err(e).context("reading stdin");
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.flush()?;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            line_number += 1;
            if let Some(e) = failure {
                eprintln!("vltava: line {line_number}: {e:#}");
                self.bad_lines += 1;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let batches = pending
            .batches
            .into_iter()
            .map(|(partition, (records, _))| (partition, records))
            .collect();
        self.sender.send(batches)?;
        self.partitioner.new_batch(&[]);
        Ok(())
    }

    fn check_partition(&self, partition: i32) -> anyhow::Result<()> {
        let count = self.sender.partition_count();
        anyhow::ensure!(
            (0..count).contains(&partition),
            "partition {partition} does not exist: the topic has {count} (UNKNOWN_TOPIC_OR_PARTITION)"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_longer_than_the_maximum_are_skipped_to_their_newline() -> anyhow::Result<()> {
        let mut input = std::io::Cursor::new(b"abcd\nabcdef\n\nxyz".to_vec());
        let mut read = |max| -> anyhow::Result<Option<(bool, Vec<u8>)>> {
            let mut line = Vec::new();
            Ok(read_line(&mut input, &mut line, max)?.map(|whole| (whole, line)))
        };
        assert_eq!(read(4)?, Some((true, b"abcd".to_vec())));
        assert_eq!(read(4)?.map(|(whole, _)| whole), Some(false));
        assert_eq!(read(4)?, Some((true, Vec::new())));
        assert_eq!(
            read(4)?,
            Some((true, b"xyz".to_vec())),
            "a last line without newline"
        );
        assert_eq!(read(4)?, None);
        Ok(())
    }
}
