//! Bytes from a peer or a damaged disk never panic the controller: seeded random and mutated
//! inputs for the controller RPC decoder, the metadata record decoder, and the metadata log
//! and snapshot files read at start. (The libFuzzer targets `controller_rpc` and
//! `metadata_log` in fuzz/ run the same checks for longer.)

use std::path::Path;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use vltava_cluster::MetadataRecord;
use vltava_cluster::quorum::log_store::MetadataLogStore;
use vltava_cluster::quorum::rpc::{self, Request, Response};
use vltava_cluster::quorum::state_machine::MetadataStateMachine;
use vltava_storage::{FileSystem, SimFs};

const INPUTS: usize = 20_000;

/// Valid messages to mutate: a vote request and a record, as JSON.
fn seeds() -> Vec<Vec<u8>> {
    vec![
        br#"{"Vote":{"vote":{"leader_id":{"term":3,"node_id":2},"committed":false},"last_log_id":{"leader_id":{"term":2,"node_id":1},"index":7}}}"#.to_vec(),
        br#"{"type":"PartitionChange","topic_id":"00000000-0000-0000-0000-000000000007","partition_id":0,"leader":2,"isr":[2,3]}"#.to_vec(),
        br#"{"Controller":{"BrokerHeartbeat":{"broker_id":1,"broker_epoch":4,"metadata_offset":9,"want_fence":false,"want_shutdown":false}}}"#.to_vec(),
    ]
}

fn input(rng: &mut StdRng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if rng.random_range(0..4) == 0 {
        let mut bytes = vec![0u8; rng.random_range(0..256)];
        rng.fill_bytes(&mut bytes);
        return bytes;
    }
    let mut bytes = seeds[rng.random_range(0..seeds.len())].clone();
    for _ in 0..rng.random_range(1..8) {
        let at = rng.random_range(0..bytes.len().max(1));
        match rng.random_range(0..3) {
            0 if !bytes.is_empty() => bytes[at] = rng.random(),
            1 => bytes.insert(at.min(bytes.len()), rng.random()),
            _ => bytes.truncate(at),
        }
    }
    bytes
}

#[test]
fn garbage_rpc_frames_and_records_are_errors_not_panics() {
    let mut rng = StdRng::seed_from_u64(7);
    let seeds = seeds();
    let mut decoded = 0;
    for _ in 0..INPUTS {
        let bytes = input(&mut rng, &seeds);
        decoded += usize::from(rpc::decode::<Request>(&bytes).is_ok());
        let _ = rpc::decode::<Response>(&bytes);
        if let Ok(record) = MetadataRecord::from_bytes(&bytes) {
            let again = record.to_bytes().expect("encode");
            assert_eq!(MetadataRecord::from_bytes(&again).ok(), Some(record));
        }
    }
    // The mutations must leave some inputs valid, or the decoders' happy paths go unfuzzed.
    assert!(decoded > 0);
}

fn write(fs: &SimFs, path: &Path, bytes: &[u8]) {
    let file = fs.open(path, true).expect("create");
    file.append(bytes).expect("write");
}

#[test]
fn garbage_metadata_files_open_as_errors_or_truncated_logs() {
    let mut rng = StdRng::seed_from_u64(11);
    let dir = Path::new("/meta");
    for _ in 0..2_000 {
        let fs = Arc::new(SimFs::new());
        let mut log = vec![0u8; rng.random_range(0..64)];
        rng.fill_bytes(&mut log);
        // Sometimes a plausible header: a small length and a CRC that may even match.
        if log.len() >= 8 && rng.random() {
            let length = (log.len() - 8) as u32;
            log[..4].copy_from_slice(&length.to_be_bytes());
            let crc = crc32c::crc32c(&log[8..]);
            log[4..8].copy_from_slice(&crc.to_be_bytes());
        }
        fs.create_dir_all(dir).expect("dir");
        write(&fs, &dir.join("raft.log"), &log);
        let mut snapshot = vec![0u8; rng.random_range(0..32)];
        rng.fill_bytes(&mut snapshot);
        if rng.random() {
            write(&fs, &dir.join("snapshot.json"), &snapshot);
        }
        // Either opens (the damaged tail cut) or refuses with an error; never panics.
        let _ = MetadataLogStore::open(fs.clone(), dir);
        let _ = MetadataStateMachine::open(fs, dir);
    }
}
