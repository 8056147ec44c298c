//! Where `vltava consume -o` starts each partition: kcat's `beginning`, `end`, `N`, `-N`, and
//! timestamps `@MS` or relative to now `@-1h` (units ms, s, m, h, d), resolved with ListOffsets
//! on each partition's leader; and `stored`, a group's committed offsets.

use std::collections::BTreeMap;

use anyhow::{Context, bail};

use crate::client::{Client, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, TopicPartition};

/// A start offset as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    Beginning,
    End,
    /// This offset in every partition.
    Absolute(i64),
    /// This many records before the end of each partition (not before its start).
    FromEnd(i64),
    /// The first record at or after this time (ms since the epoch); the end if none is.
    Timestamp(i64),
    /// As `Timestamp`, this many ms before now.
    Ago(i64),
    /// The group's committed offset (kcat's `stored`); the beginning where it committed none.
    Stored,
}

impl std::str::FromStr for OffsetSpec {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<OffsetSpec> {
        Ok(match text {
            "beginning" => OffsetSpec::Beginning,
            "end" => OffsetSpec::End,
            "stored" => OffsetSpec::Stored,
            _ => match text.strip_prefix('@') {
                Some(time) => match time.strip_prefix('-') {
                    Some(ago) => OffsetSpec::Ago(duration_ms(ago)?),
                    None => OffsetSpec::Timestamp(time.parse().context("a timestamp in ms")?),
                },
                None => match text.strip_prefix('-') {
                    Some(n) => OffsetSpec::FromEnd(n.parse().context("-N: a record count")?),
                    None => OffsetSpec::Absolute(text.parse().with_context(|| {
                        format!("{text:?} is not beginning, end, stored, N, -N, @MS or @-DURATION")
                    })?),
                },
            },
        })
    }
}

/// `90s`, `15m`, `1h`, `2d`, `500ms` in ms.
fn duration_ms(text: &str) -> anyhow::Result<i64> {
    let at = text
        .find(|c: char| !c.is_ascii_digit())
        .with_context(|| format!("@-{text}: a unit is needed (ms, s, m, h, d)"))?;
    let (number, unit) = text.split_at(at);
    let number: i64 = number.parse().with_context(|| format!("@-{text}"))?;
    let unit_ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => bail!("@-{text}: unknown unit {other:?} (ms, s, m, h, d)"),
    };
    number
        .checked_mul(unit_ms)
        .with_context(|| format!("@-{text} is too long ago"))
}

/// The offset each partition starts at.
pub fn resolve(
    client: &mut Client,
    partitions: &[TopicPartition],
    spec: OffsetSpec,
    now_ms: i64,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    let mut ask = |timestamp: i64| -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
        let mut offsets = BTreeMap::new();
        for (p, offset) in client.list_offsets(partitions, timestamp)? {
            let offset = offset.map_err(|e| anyhow::anyhow!("the offsets of {p}: {e}"))?;
            offsets.insert(p, offset);
        }
        Ok(offsets)
    };
    Ok(match spec {
        // The committed offsets are laid over these by the caller, who has the group's.
        OffsetSpec::Beginning | OffsetSpec::Stored => ask(EARLIEST_TIMESTAMP)?,
        OffsetSpec::End => ask(LATEST_TIMESTAMP)?,
        OffsetSpec::Absolute(offset) => partitions.iter().map(|p| (p.clone(), offset)).collect(),
        OffsetSpec::FromEnd(count) => {
            let earliest = ask(EARLIEST_TIMESTAMP)?;
            let mut latest = ask(LATEST_TIMESTAMP)?;
            for (p, end) in latest.iter_mut() {
                let start = earliest.get(p).copied().unwrap_or(0);
                *end = end.saturating_sub(count).max(start);
            }
            latest
        }
        OffsetSpec::Timestamp(_) | OffsetSpec::Ago(_) => {
            let at = match spec {
                OffsetSpec::Ago(ms) => now_ms.saturating_sub(ms),
                OffsetSpec::Timestamp(ms) => ms,
                _ => now_ms,
            };
            anyhow::ensure!(at >= 0, "a timestamp before 1970");
            let mut by_time = ask(at)?;
            // -1: no record at or after that time; start at the end.
            if by_time.values().any(|o| *o < 0) {
                let latest = ask(LATEST_TIMESTAMP)?;
                for (p, offset) in by_time.iter_mut().filter(|(_, o)| **o < 0) {
                    *offset = latest.get(p).copied().unwrap_or(0);
                }
            }
            by_time
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kcat_offsets_parse() -> anyhow::Result<()> {
        let cases = [
            ("beginning", OffsetSpec::Beginning),
            ("end", OffsetSpec::End),
            ("stored", OffsetSpec::Stored),
            ("42", OffsetSpec::Absolute(42)),
            ("-10", OffsetSpec::FromEnd(10)),
            ("@1700000000000", OffsetSpec::Timestamp(1_700_000_000_000)),
            ("@-1h", OffsetSpec::Ago(3_600_000)),
            ("@-15m", OffsetSpec::Ago(900_000)),
            ("@-30s", OffsetSpec::Ago(30_000)),
            ("@-250ms", OffsetSpec::Ago(250)),
            ("@-2d", OffsetSpec::Ago(172_800_000)),
        ];
        for (text, expected) in cases {
            assert_eq!(text.parse::<OffsetSpec>()?, expected, "{text}");
        }
        for bad in [
            "start",
            "@-1",
            "@-1w",
            "@x",
            "-x",
            "1.5",
            "@-99999999999999999d",
        ] {
            assert!(bad.parse::<OffsetSpec>().is_err(), "{bad}");
        }
        Ok(())
    }
}
