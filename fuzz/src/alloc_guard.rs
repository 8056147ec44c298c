//! A global allocator that holds one decode to a memory budget proportional to its input.
//!
//! Memory must follow the bytes received, never the sizes a request claims (DESIGN.md; Kafka's
//! CVE-2022-34917 is the class ruled out, and a 20-byte CreateTopics frame asking for ~481 GB
//! was reported against another Rust broker built on `kafka-protocol`). While [`measure`] runs
//! a closure, every byte the current thread asks the allocator for is counted, and the total
//! must stay within [`alloc_bytes_max`] of the input's length.
//!
//! What is counted: the sum of all allocation sizes (a grown `realloc` counts its whole new
//! size), frees not subtracted. That is stricter than the peak of live memory and also catches
//! a decoder that allocates and frees a huge buffer in a loop.
//!
//! This one file serves two builds: the cargo-fuzz targets (`fuzz/src/lib.rs`, nightly, abort
//! on the first allocation over budget so libFuzzer saves the input with the culprit's stack)
//! and the stable test `crates/vltava-broker/tests/decode_memory.rs` (included there with
//! `#[path]`; it records the overrun and asserts afterwards, so a failure names its input).
//! Accounting is per thread, so tests running in parallel do not see each other's allocations.

// `GlobalAlloc` is an unsafe trait and its methods are unsafe functions: there is no safe way to
// observe allocations. The unsafe code below only forwards to `System` with the caller's
// arguments unchanged, which is sound by `GlobalAlloc`'s own contract.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;

/// Heap bytes one input byte may cost. The decoders pre-allocate `Vec::with_capacity(n)` with
/// `n` capped by the bytes left in the frame (vendor/kafka-protocol/PATCHES.md), so an array
/// reserves at most `size_of::<Element>()` per byte that remains. The largest element of the
/// supported requests is 112 bytes (`CreatableTopic`; `FetchPartition` 80, `TopicProduceData`
/// 96), a forged count can be read at each of up to three levels of nesting before decoding
/// fails, and the elements decoded honestly cost at most their size per byte they consume:
/// about 450 bytes per input byte in the worst case, about 220 the worst seen (15.6 % of the
/// budget, in decode_memory's random mutations). 1 KiB per byte leaves twice the theoretical need and still refuses the reported
/// attack by seven orders of magnitude (481 GB / 20 bytes = 24 GB per byte).
pub const ALLOC_BYTES_PER_INPUT_BYTE: usize = 1024;

/// Heap bytes any input may cost regardless of its length: the error value and its message
/// (`anyhow` context, a formatted reason), and the first node of a map or two. 64 KiB.
pub const ALLOC_BYTES_BASE: usize = 64 * 1024;

/// Past this total the allocator refuses outright (returns null, which aborts the process with
/// "memory allocation of N bytes failed"), so that a decoder asking for hundreds of gigabytes
/// fails fast instead of driving the machine into swap or the OOM killer. 1 GiB.
pub const ALLOC_BYTES_REFUSED: usize = 1 << 30;

/// The budget of one input of `input_bytes` bytes.
pub fn alloc_bytes_max(input_bytes: usize) -> usize {
    input_bytes
        .saturating_mul(ALLOC_BYTES_PER_INPUT_BYTE)
        .saturating_add(ALLOC_BYTES_BASE)
}

/// What to do when the budget is exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExceed {
    /// Print the budget and the allocation, then abort: the fuzzer saves the input and prints
    /// the stack of the allocation that went over.
    Abort,
    /// Keep going (below [`ALLOC_BYTES_REFUSED`]) and report in [`Usage::exceeded`], so a test
    /// can fail with its input and seed.
    Record,
}

/// What one measured closure allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Sum of the sizes of all allocations (frees not subtracted).
    pub allocated_bytes: usize,
    /// The largest single allocation.
    pub largest_bytes: usize,
    /// The budget the closure ran under.
    pub budget_bytes: usize,
    /// Whether `allocated_bytes` went over `budget_bytes`.
    pub exceeded: bool,
}

#[derive(Clone, Copy)]
struct Budget {
    active: bool,
    on_exceed: OnExceed,
    limit_bytes: usize,
    allocated_bytes: usize,
    largest_bytes: usize,
    exceeded: bool,
}

const IDLE: Budget = Budget {
    active: false,
    on_exceed: OnExceed::Record,
    limit_bytes: 0,
    allocated_bytes: 0,
    largest_bytes: 0,
    exceeded: false,
};

thread_local! {
    // `const` initialisation and a `Copy` type: no lazy init and no destructor, so reading it
    // from inside the allocator never allocates.
    static BUDGET: Cell<Budget> = const { Cell::new(IDLE) };
}

/// Runs `f` with this thread's allocations counted against the budget of an input of
/// `input_bytes` bytes. Not reentrant: `f` must not call `measure`.
pub fn measure<R>(input_bytes: usize, on_exceed: OnExceed, f: impl FnOnce() -> R) -> (R, Usage) {
    let limit_bytes = alloc_bytes_max(input_bytes);
    BUDGET.with(|b| {
        b.set(Budget {
            active: true,
            on_exceed,
            limit_bytes,
            ..IDLE
        })
    });
    let value = f();
    let budget = BUDGET.with(|b| b.replace(IDLE));
    let usage = Usage {
        allocated_bytes: budget.allocated_bytes,
        largest_bytes: budget.largest_bytes,
        budget_bytes: limit_bytes,
        exceeded: budget.exceeded,
    };
    (value, usage)
}

/// Counts `size` against the current thread's budget; false means refuse the allocation.
fn charge(size: usize) -> bool {
    let Ok(mut budget) = BUDGET.try_with(Cell::get) else {
        return true; // thread-local already torn down: not inside `measure`
    };
    if !budget.active {
        return true;
    }
    budget.allocated_bytes = budget.allocated_bytes.saturating_add(size);
    budget.largest_bytes = budget.largest_bytes.max(size);
    let over = budget.allocated_bytes > budget.limit_bytes;
    budget.exceeded |= over;
    let refuse = budget.allocated_bytes > ALLOC_BYTES_REFUSED;
    if !(refuse || over && budget.on_exceed == OnExceed::Abort) {
        let _ = BUDGET.try_with(|b| b.set(budget));
        return true;
    }
    // Stop counting first: printing allocates, and comes back through here.
    let _ = BUDGET.try_with(|b| b.set(IDLE));
    let thread = std::thread::current();
    // Straight to stderr, not `eprintln!`: the test harness captures that, and loses it when
    // the process aborts.
    let _ = writeln!(
        std::io::stderr(),
        "alloc_guard: thread '{}': {} bytes allocated (this allocation {size}) exceed the \
         budget of {} bytes for this input ({ALLOC_BYTES_PER_INPUT_BYTE} per input byte + \
         {ALLOC_BYTES_BASE}){}",
        thread.name().unwrap_or("?"),
        budget.allocated_bytes,
        budget.limit_bytes,
        if refuse { "; refused" } else { "" },
    );
    if refuse {
        // The caller's allocation fails; the standard handler reports it and aborts.
        return false;
    }
    std::process::abort();
}

/// The counting allocator; install with `#[global_allocator]`.
#[derive(Debug)]
pub struct AllocGuard;

unsafe impl GlobalAlloc for AllocGuard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !charge(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !charge(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() && !charge(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: `ptr` came from `System` through this allocator with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
