//! A follower's append (Kafka's `UnifiedLog.appendAsFollower`): batches its leader already
//! placed are written as fetched, offsets and leader epochs included. Only their framing and
//! CRC are checked: the leader validated timestamps, sizes and sequences when it took them.

use crate::batch::{BatchHeader, for_each_batch};
use crate::error::{Result, StorageError};
use crate::log::{AppendInfo, Log};
use crate::segment::SEGMENT_BYTES_MAX;

impl Log {
    /// Appends `batches` fetched from the leader, unchanged. Their offsets must start at or
    /// after the log end offset and increase (a gap is a batch the leader's cleaner removed);
    /// each batch's leader epoch enters the leader epoch cache, durably, before its data is
    /// written. Nothing is written if any batch is refused.
    pub fn append_as_follower(&mut self, batches: &[u8], now_ms: i64) -> Result<AppendInfo> {
        self.check_online()?;
        let mut headers: Vec<BatchHeader> = Vec::new();
        for_each_batch(batches, SEGMENT_BYTES_MAX as usize, |h, _| headers.push(*h))?;
        let mut next = self.log_end_offset();
        for header in &headers {
            if header.base_offset < next || header.last_offset() < header.base_offset {
                return Err(StorageError::InvalidBatch {
                    position: 0,
                    reason: "a replicated batch's offsets do not follow the log end offset",
                });
            }
            next = header.last_offset() + 1;
        }
        let (Some(first), Some(last)) = (headers.first(), headers.last()) else {
            return Err(StorageError::CorruptBatch {
                position: 0,
                reason: "no batches",
            });
        };
        let span = last.last_offset() + 1 - self.log_end_offset();
        if self.roll_needed(batches.len() as u64, span, now_ms) {
            let result = self.roll();
            self.offline_on_error(result)?;
        }
        for header in &headers {
            self.start_epoch(header.partition_leader_epoch, header.base_offset)?;
        }
        let interval = self.config.index_interval_bytes;
        let result = self.active_mut().append(batches, interval, now_ms);
        self.offline_on_error(result)?;
        Ok(AppendInfo {
            base_offset: first.base_offset,
            last_offset: last.last_offset(),
            max_timestamp: headers.iter().map(|h| h.max_timestamp).max().unwrap_or(-1),
            log_append_time_ms: -1,
            batch_count: headers.len(),
            bytes: batches.len(),
        })
    }
}
