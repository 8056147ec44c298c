//! The progress line of a `vltava consume` that ends (`-e` or `-c`) and writes its records
//! somewhere other than the terminal (`> file`, `| tool`): records read so far, of how many
//! there are to the end (the high watermarks seen, less the positions; with `-c`, at most the
//! count). A consume that follows the topic, or prints to the terminal, shows none.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use crate::client::TopicPartition;
use crate::progress::ProgressLine;

#[derive(Debug)]
pub struct ReadProgress {
    line: ProgressLine,
    /// The end offset each partition had in its last answer.
    ends: BTreeMap<TopicPartition, i64>,
    limit: Option<u64>,
}

impl ReadProgress {
    /// A line on stderr if the command ends by itself, stderr is a terminal and stdout is not.
    pub fn new(ends_by_itself: bool, limit: Option<u64>) -> ReadProgress {
        let shown =
            ends_by_itself && std::io::stderr().is_terminal() && !std::io::stdout().is_terminal();
        ReadProgress {
            line: ProgressLine::new("consume", shown),
            ends: BTreeMap::new(),
            limit,
        }
    }

    pub fn saw_end(&mut self, partition: &TopicPartition, end: i64) {
        self.ends.insert(partition.clone(), end);
    }

    /// Redraws (at most a few times a second) from the records printed and the positions.
    pub fn update(&mut self, printed: u64, positions: &BTreeMap<TopicPartition, i64>) {
        let left: u64 = positions
            .iter()
            .filter_map(|(p, position)| self.ends.get(p).map(|end| end - position))
            .map(|n| u64::try_from(n).unwrap_or(0))
            .sum();
        let to_end = printed + left;
        let total = match self.limit {
            Some(limit) if self.ends.len() < positions.len() => Some(limit),
            Some(limit) => Some(limit.min(to_end)),
            None if self.ends.len() < positions.len() => None,
            None => Some(to_end),
        };
        self.line.update(printed, total);
    }

    pub fn finish(&mut self) {
        self.line.finish();
    }
}
