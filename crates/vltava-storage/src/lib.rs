//! The partition log of vltava: segments of Kafka record batches (v2) with offset and time
//! indexes, crash recovery, retention. Synchronous, no networking, no Kafka request types.
//!
//! The on-disk format is specified in `docs/storage-format.md`.

pub mod batch;
mod checkpoint;
mod compaction;
mod config;
mod error;
mod flush;
pub mod fs;
pub mod leader_epochs;
mod log;
pub mod names;
mod offset_index;
mod reader;
pub mod records;
mod recovery;
mod replica_append;
mod retention;
mod segment;
pub mod sim_fs;
mod small_file;
pub mod test_batch;
mod time_index;
mod timestamps;
mod truncation;

pub use batch::{BatchHeader, set_base_offset, set_partition_leader_epoch, validate_batches};
pub use checkpoint::PendingCheckpoint;
pub use compaction::{
    CleanOptions, CleanStats, CleanedSegments, DECOMPRESSED_BATCH_BYTES_MAX, PreparedClean,
    decompress_records,
};
pub use config::{CleanupPolicy, LogConfig, TimestampType};
pub use error::{RecordError, Result, StorageError};
pub use flush::{FlushScope, PendingFlush};
pub use fs::{FileSystem, LogFile, RealFs};
pub use leader_epochs::{EpochEntry, LeaderEpochs};
pub use log::{AppendInfo, AppendOptions, Log, ReadSlice, Validated};
pub use retention::PendingRetention;
pub use sim_fs::{SimFs, SplitMix};
pub use test_batch::TestBatch;
pub use timestamps::INVALID_TIMESTAMP_MESSAGE;
