//! Ctrl-C and SIGTERM for the long-running client commands (`produce`, `consume`): the first
//! one sets a flag that their loops check between requests, so they send what they hold, commit
//! offsets and exit cleanly; a second one exits at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

/// Exit status of a process stopped by a second Ctrl-C (128 + SIGINT), as shells report it.
const SECOND_INTERRUPT_STATUS: i32 = 130;

/// Set once Ctrl-C or SIGTERM arrived.
#[derive(Debug, Clone)]
pub struct Interrupted(Arc<AtomicBool>);

impl Interrupted {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Installs the handlers (before returning, so no signal is missed) and a thread that waits.
pub fn install() -> anyhow::Result<Interrupted> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("starting the signal runtime")?;
    let (mut interrupt, mut terminate) = runtime.block_on(async {
        anyhow::Ok((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        ))
    })?;
    let flag = Interrupted(Arc::new(AtomicBool::new(false)));
    let set = flag.clone();
    std::thread::Builder::new()
        .name("signals".to_string())
        .spawn(move || {
            runtime.block_on(async move {
                for _ in 0..2 {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                    if set.0.swap(true, Ordering::Relaxed) {
                        std::process::exit(SECOND_INTERRUPT_STATUS);
                    }
                }
            });
        })
        .context("starting the signal thread")?;
    Ok(flag)
}
