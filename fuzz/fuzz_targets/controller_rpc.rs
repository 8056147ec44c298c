//! Arbitrary bytes as one controller RPC frame body (what a voter or broker reads from a peer)
//! and as one metadata record: decoding returns, never panics, and allocates within the
//! guard's bound; a record that decodes encodes back to the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vltava_cluster::MetadataRecord;
use vltava_cluster::quorum::rpc::{self, Request, Response};
use vltava_fuzz::alloc_guard::{OnExceed, measure};

fuzz_target!(|input: &[u8]| {
    let (record, _) = measure(input.len(), OnExceed::Abort, || {
        let _ = rpc::decode::<Request>(input);
        let _ = rpc::decode::<Response>(input);
        MetadataRecord::from_bytes(input)
    });
    if let Ok(record) = record {
        let again = record.to_bytes().expect("a decoded record encodes");
        assert_eq!(MetadataRecord::from_bytes(&again).ok(), Some(record));
    }
});
