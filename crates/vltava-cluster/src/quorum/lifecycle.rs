//! A broker's life as the controller sees it (Kafka's `BrokerLifecycleManager`): register a new
//! incarnation, then heartbeat with the metadata offset this broker has replayed until the
//! controller unfences it, keep heartbeating so its session does not expire, and on shutdown
//! ask for a controlled shutdown and wait until the controller has moved its leaderships.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use uuid::Uuid;

use super::active::{ControllerAnswer, ControllerFailure, ControllerRequest};
use super::client::ControllerClient;
use crate::controller::brokers::{HeartbeatAnswer, HeartbeatRequest, RegistrationRequest};
use crate::image::MetadataImage;
use crate::records::{BrokerId, Endpoint};

/// A controlled shutdown needs a quorum to record it. When a shutdown heartbeat gets no answer
/// in this long (a local controller waiting for a majority that is gone: the whole cluster is
/// stopping at once), the broker stops without one rather than wait out its whole deadline.
const SHUTDOWN_BEAT_WITHIN: Duration = Duration::from_secs(3);

/// How a broker presents itself and how often it heartbeats.
#[derive(Debug, Clone)]
pub struct BrokerIdentity {
    pub broker_id: BrokerId,
    pub endpoints: Vec<Endpoint>,
    pub rack: Option<String>,
    /// The ids of its log directories (see [`RegistrationRequest::log_dirs`]).
    pub log_dirs: Vec<Uuid>,
    /// `broker.heartbeat.interval.ms`.
    pub heartbeat_interval_ms: u64,
}

/// What the broker's state is, as its last heartbeat answer said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerState {
    Starting,
    /// Registered, replaying the metadata log; leads nothing.
    Fenced {
        broker_epoch: i64,
    },
    /// May lead partitions.
    Running {
        broker_epoch: i64,
    },
    /// Handed its leaderships over; may stop.
    ShutDown,
}

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("the controller refused: {0}")]
    Controller(#[from] ControllerFailure),
    #[error("the controller answered {0:?} to a {1}")]
    Unexpected(ControllerAnswer, &'static str),
}

/// Runs a broker's registration and heartbeats. `state` is published on a watch channel.
#[derive(Debug)]
pub struct BrokerLifecycle {
    identity: BrokerIdentity,
    client: ControllerClient,
    images: watch::Receiver<Arc<MetadataImage>>,
    state: watch::Sender<BrokerState>,
}

impl BrokerLifecycle {
    pub fn new(
        identity: BrokerIdentity,
        client: ControllerClient,
        images: watch::Receiver<Arc<MetadataImage>>,
    ) -> (BrokerLifecycle, watch::Receiver<BrokerState>) {
        let (state, watch) = watch::channel(BrokerState::Starting);
        (
            BrokerLifecycle {
                identity,
                client,
                images,
                state,
            },
            watch,
        )
    }

    /// Registers a new incarnation; the broker epoch.
    pub async fn register(&self) -> Result<i64, LifecycleError> {
        let request = ControllerRequest::RegisterBroker(RegistrationRequest {
            broker_id: self.identity.broker_id,
            incarnation_id: Uuid::new_v4(),
            endpoints: self.identity.endpoints.clone(),
            rack: self.identity.rack.clone(),
            log_dirs: self.identity.log_dirs.clone(),
        });
        match self.client.call(request).await? {
            ControllerAnswer::Registered { broker_epoch } => {
                self.state
                    .send_replace(BrokerState::Fenced { broker_epoch });
                Ok(broker_epoch)
            }
            other => Err(LifecycleError::Unexpected(other, "registration")),
        }
    }

    async fn beat(
        &self,
        broker_epoch: i64,
        want_shutdown: bool,
    ) -> Result<HeartbeatAnswer, LifecycleError> {
        let request = ControllerRequest::BrokerHeartbeat(HeartbeatRequest {
            broker_id: self.identity.broker_id,
            broker_epoch,
            metadata_offset: self.images.borrow().offset,
            want_fence: false,
            want_shutdown,
        });
        match self.client.call(request).await? {
            ControllerAnswer::Heartbeat(answer) => Ok(answer),
            other => Err(LifecycleError::Unexpected(other, "heartbeat")),
        }
    }

    /// Heartbeats until `stop` changes to true, then shuts down in a controlled way. A failed
    /// heartbeat is retried at the next interval (the controller may be failing over); the
    /// session timeout is several intervals long.
    pub async fn run(
        &self,
        broker_epoch: i64,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), LifecycleError> {
        let interval = Duration::from_millis(self.identity.heartbeat_interval_ms);
        while !*stop.borrow() {
            match self.beat(broker_epoch, false).await {
                Ok(answer) => {
                    self.state.send_replace(if answer.is_fenced {
                        BrokerState::Fenced { broker_epoch }
                    } else {
                        BrokerState::Running { broker_epoch }
                    });
                }
                Err(error) => tracing::warn!(%error, "broker heartbeat failed"),
            }
            // Heartbeat again after the interval, or at once when a new image arrives while
            // still fenced (catching up is what unfences), or when asked to stop.
            let mut images = self.images.clone();
            let fenced = matches!(*self.state.borrow(), BrokerState::Fenced { .. });
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = images.changed(), if fenced => {}
                _ = stop.changed() => {}
            }
        }
        self.shut_down(broker_epoch, interval).await
    }

    /// Controlled shutdown: heartbeats asking to shut down until the controller answers that
    /// this broker leads nothing any more (bounded by `SHUTDOWN_BEATS_MAX`).
    async fn shut_down(&self, broker_epoch: i64, interval: Duration) -> Result<(), LifecycleError> {
        const SHUTDOWN_BEATS_MAX: usize = 100;
        for _ in 0..SHUTDOWN_BEATS_MAX {
            let Ok(answer) =
                tokio::time::timeout(SHUTDOWN_BEAT_WITHIN, self.beat(broker_epoch, true)).await
            else {
                tracing::warn!(
                    "the controller quorum does not answer (its other voters are stopping too?); stopping without a controlled shutdown"
                );
                self.state.send_replace(BrokerState::ShutDown);
                return Ok(());
            };
            if answer?.should_shutdown {
                self.state.send_replace(BrokerState::ShutDown);
                return Ok(());
            }
            let mut images = self.images.clone();
            let _ = tokio::time::timeout(interval, images.changed()).await;
        }
        tracing::warn!("controlled shutdown not confirmed; stopping anyway");
        self.state.send_replace(BrokerState::ShutDown);
        Ok(())
    }
}
