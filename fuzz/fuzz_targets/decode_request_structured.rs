//! Request bodies behind a valid header of a supported API and version (see
//! `vltava_fuzz::structured`), so the fuzzer spends its time in the body decoders. Same
//! contract as `decode_request`: no panic, allocation within the budget of the frame's length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vltava_broker::dispatch::decode_request;
use vltava_fuzz::alloc_guard::{OnExceed, measure};
use vltava_fuzz::structured;

fuzz_target!(|data: &[u8]| {
    let Some(frame) = structured::frame(data) else {
        return;
    };
    let frame_bytes = frame.len();
    let _ = measure(frame_bytes, OnExceed::Abort, || {
        decode_request(frame).map_err(|error| error.to_string())
    });
});
