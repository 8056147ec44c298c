//! What the handlers share, and `/ready`: whether this broker serves clients now.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use vltava_broker::Broker;
use vltava_cluster::quorum::lifecycle::BrokerState;

use crate::console::Console;

/// The broker once it is open, and whether it serves. Clones share both.
#[derive(Debug, Clone, Default)]
pub struct AdminState {
    broker: Arc<OnceLock<Arc<Broker>>>,
    serving: Arc<AtomicBool>,
    console: Console,
}

impl AdminState {
    /// The broker has opened its logs and its Kafka listeners accept connections; false again
    /// when shutdown begins. The broker is kept once given.
    pub fn set_serving(&self, broker: &Arc<Broker>, serving: bool) {
        let _ = self.broker.set(broker.clone());
        self.serving.store(serving, Ordering::Release);
    }

    /// The web console's state; `serve` gives it the Kafka listener to use.
    pub fn console(&self) -> &Console {
        &self.console
    }

    pub fn broker(&self) -> Option<Arc<Broker>> {
        self.broker.get().cloned()
    }

    /// Ready when serving, unfenced by the controller quorum (a single node's quorum of one
    /// unfences it too), and a metadata image has been published here. The reason otherwise.
    pub fn check(&self) -> Result<(), &'static str> {
        let Some(broker) = self.broker.get() else {
            return Err("starting: the logs are being loaded");
        };
        if !self.serving.load(Ordering::Acquire) {
            return Err("not serving (shutting down)");
        }
        match broker.cluster.state() {
            BrokerState::Running { .. } => {}
            BrokerState::Fenced { .. } => return Err("fenced by the controller quorum"),
            BrokerState::Starting => return Err("not registered with the controller quorum"),
            BrokerState::ShutDown => return Err("shut down"),
        }
        if broker.topics.published_image().offset < 0 {
            return Err("no metadata image published yet");
        }
        Ok(())
    }
}
