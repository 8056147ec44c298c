//! Arbitrary bytes as a partition's `leader-epoch.checkpoint` (read on every open):
//! `LeaderEpochs::decode` must return, never panic or allocate by a claimed count; whatever it
//! accepts encodes back to the very same bytes.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use vltava_storage::LeaderEpochs;

fuzz_target!(|input: &[u8]| {
    let Ok(epochs) = LeaderEpochs::decode(input, Path::new("leader-epoch.checkpoint")) else {
        return;
    };
    assert_eq!(epochs.encode(), input, "accepted bytes do not round-trip");
});
