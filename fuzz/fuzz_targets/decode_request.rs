//! Arbitrary bytes as one request frame (without the length prefix): `decode_request` must
//! return, never panic, and allocate no more than the guard's budget for the frame's length.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use vltava_broker::dispatch::decode_request;
use vltava_fuzz::alloc_guard::{OnExceed, measure};

fuzz_target!(|data: &[u8]| {
    let frame = Bytes::copy_from_slice(data);
    let _ = measure(data.len(), OnExceed::Abort, || {
        // The connection logs the error of a frame it cannot decode: format it here too.
        decode_request(frame).map_err(|error| error.to_string())
    });
});
