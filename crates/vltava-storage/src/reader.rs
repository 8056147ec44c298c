//! Buffered positional reads over a log file, for header scans and recovery: one `read_at`
//! per chunk instead of one per batch header.

use std::path::Path;

use crate::batch::{BatchHeader, HEADER_BYTES, validate_batch};
use crate::error::{Result, StorageError, io_at};
use crate::fs::LogFile;

/// Bytes read at once by header scans: a little more than the default index interval, so
/// a lookup usually costs one read.
pub const SCAN_CHUNK_BYTES: usize = 8 * 1024;
/// Bytes read at once by recovery, which reads everything.
pub const RECOVERY_CHUNK_BYTES: usize = 1024 * 1024;

pub struct ChunkReader<'a> {
    file: &'a dyn LogFile,
    path: &'a Path,
    /// Reads never go past this position (the segment's size).
    end: u64,
    chunk_bytes: usize,
    buf: Vec<u8>,
    buf_start: u64,
}

impl<'a> ChunkReader<'a> {
    pub fn new(file: &'a dyn LogFile, path: &'a Path, end: u64, chunk_bytes: usize) -> Self {
        ChunkReader {
            file,
            path,
            end,
            chunk_bytes,
            buf: Vec::new(),
            buf_start: 0,
        }
    }

    /// `len` bytes at `position`, or `None` if they run past the end.
    pub fn bytes(&mut self, position: u64, len: usize) -> Result<Option<&[u8]>> {
        let Some(stop) = position
            .checked_add(len as u64)
            .filter(|stop| *stop <= self.end)
        else {
            return Ok(None);
        };
        let buffered = position >= self.buf_start && stop <= self.buf_start + self.buf.len() as u64;
        if !buffered {
            let want = len.max(self.chunk_bytes) as u64;
            let read_len = want.min(self.end - position) as usize;
            self.buf.resize(read_len, 0);
            self.file
                .read_at(&mut self.buf, position)
                .map_err(io_at(self.path))?;
            self.buf_start = position;
        }
        let from = (position - self.buf_start) as usize;
        Ok(Some(&self.buf[from..from + len]))
    }

    /// The header of a batch known to be valid (below the recovery point or just written).
    pub fn header(&mut self, position: u64) -> Result<BatchHeader> {
        let path = self.path.to_path_buf();
        match self.bytes(position, HEADER_BYTES)? {
            Some(bytes) => BatchHeader::parse(bytes),
            None => Err(StorageError::Malformed {
                path,
                reason: "batch header past segment end",
            }),
        }
    }

    /// The header of the whole, CRC-checked batch at `position`, or `None` if what is there
    /// is not one (torn or corrupt): recovery truncates there.
    pub fn checked_batch(&mut self, position: u64) -> Result<Option<BatchHeader>> {
        let Some(head) = self.bytes(position, HEADER_BYTES)? else {
            return Ok(None);
        };
        let Ok(header) = BatchHeader::parse(head) else {
            return Ok(None);
        };
        if header.batch_length < crate::batch::BATCH_LENGTH_MIN {
            return Ok(None);
        }
        let Some(whole) = self.bytes(position, header.total_size())? else {
            return Ok(None);
        };
        Ok(validate_batch(whole, 0, usize::MAX).ok())
    }
}
