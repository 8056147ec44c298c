//! Shared pieces of the fuzz targets: the allocation guard every target runs under, record
//! batches with fixed-up CRCs, and the input layout of the structured request target.

pub mod alloc_guard;
pub mod batches;
pub mod structured;

/// Every target runs under the guard: an input whose decoding allocates more than
/// `alloc_guard::alloc_bytes_max(input.len())` aborts, and libFuzzer saves it as a crash.
#[global_allocator]
static GUARD: alloc_guard::AllocGuard = alloc_guard::AllocGuard;
