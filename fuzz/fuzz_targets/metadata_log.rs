//! Arbitrary bytes as the metadata log file (`raft.log`) a voter opens at start: opening
//! returns (the damaged tail cut, or an error), never panics, and allocates no more than the
//! guard allows whatever lengths the entry headers claim.
#![no_main]

use std::path::Path;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use vltava_cluster::quorum::log_store::MetadataLogStore;
use vltava_fuzz::alloc_guard::{OnExceed, measure};
use vltava_storage::{FileSystem, SimFs};

fuzz_target!(|input: &[u8]| {
    let fs = Arc::new(SimFs::new());
    let dir = Path::new("/meta");
    if fs.create_dir_all(dir).is_err() {
        return;
    }
    let Ok(file) = fs.open(&dir.join("raft.log"), true) else {
        return;
    };
    if file.append(input).is_err() {
        return;
    }
    let _ = measure(input.len(), OnExceed::Abort, || {
        MetadataLogStore::open(fs, dir)
    });
});
