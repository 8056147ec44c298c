//! This broker's place in the cluster: the controller quorum's voter on this node (a quorum of
//! one unless voters are configured: the zero-configuration broker runs the same code path),
//! the broker's registration and heartbeats (Kafka's `BrokerLifecycleManager`), and the
//! metadata images the broker serves from. Admin changes go to the active controller through
//! [`ClusterLink::decide`] and are served once the image that holds them is published.

pub mod migration;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use vltava_cluster::MetadataImage;
use vltava_cluster::quorum::NodeId;
use vltava_cluster::quorum::active::{ControllerAnswer, ControllerFailure, ControllerRequest};
use vltava_cluster::quorum::client::ControllerClient;
use vltava_cluster::quorum::controller::{Controller, ControllerOptions, QuorumTiming};
use vltava_cluster::quorum::lifecycle::{BrokerIdentity, BrokerLifecycle, BrokerState};
use vltava_cluster::quorum::status::QuorumStatus;
use vltava_cluster::records::Endpoint;
use vltava_storage::fs::RealFs;

use crate::broker::StartError;
use crate::config::BrokerConfig;
use crate::error::{BrokerError, Result};

/// How long start-up waits for the quorum to elect a leader and unfence this broker. Other
/// voters may be starting too; beyond this the broker gives up with a clear error.
const UNFENCED_WITHIN: Duration = Duration::from_secs(120);
/// How long a controlled shutdown may take before the broker stops anyway.
const SHUTDOWN_WITHIN: Duration = Duration::from_secs(30);

/// The address a voter of a quorum of one is known by: nobody dials it.
const LOCAL_VOTER: &str = "local";

pub struct ClusterLink {
    broker_id: i32,
    controller: Mutex<Option<Controller>>,
    client: ControllerClient,
    images: watch::Receiver<Arc<MetadataImage>>,
    state: watch::Receiver<BrokerState>,
    stop: watch::Sender<bool>,
    lifecycle: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for ClusterLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterLink")
            .field("state", &*self.state.borrow())
            .field("metadata_offset", &self.images.borrow().offset)
            .finish()
    }
}

impl ClusterLink {
    /// Starts this node's voter, registers the broker and waits until the controller has
    /// unfenced it (it has caught up with the metadata log).
    pub async fn start(
        config: &BrokerConfig,
        endpoints: Vec<Endpoint>,
        directory_id: uuid::Uuid,
    ) -> std::result::Result<ClusterLink, StartError> {
        let node_id = NodeId::try_from(config.node_id).map_err(|_| {
            StartError::Cluster(format!("node id {} must not be negative", config.node_id))
        })?;
        let mut voters: BTreeMap<NodeId, String> = config.controller_quorum_voters.clone();
        let listener = match config.controller_listen {
            Some(address) => Some(bind(address).await?),
            None => None,
        };
        if voters.is_empty() {
            voters.insert(node_id, LOCAL_VOTER.to_string());
        }
        let controller = Controller::start(ControllerOptions {
            node_id,
            listener,
            voters,
            data_dir: &config.data_dir,
            fs: Arc::new(RealFs),
            timing: QuorumTiming::default(),
            session_timeout_ms: config.broker_session_timeout_ms,
            leader_balance_interval: config.auto_leader_rebalance_enable.then(|| {
                Duration::from_secs(config.leader_imbalance_check_interval_seconds.max(1))
            }),
        })
        .await
        .map_err(|e| StartError::Cluster(e.to_string()))?;
        let images = controller.images();
        let client = controller.client.clone();
        let identity = BrokerIdentity {
            broker_id: config.node_id,
            endpoints,
            rack: config.rack.clone(),
            log_dirs: vec![directory_id],
            heartbeat_interval_ms: config.broker_heartbeat_interval_ms,
        };
        let (lifecycle, state) = BrokerLifecycle::new(identity, client.clone(), images.clone());
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let epoch = loop {
                match lifecycle.register().await {
                    Ok(epoch) => break epoch,
                    Err(error) => {
                        tracing::info!(%error, "waiting for the controller quorum to register");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            };
            if let Err(error) = lifecycle.run(epoch, stopped).await {
                tracing::warn!(%error, "controlled shutdown failed");
            }
        });
        let link = ClusterLink {
            broker_id: config.node_id,
            controller: Mutex::new(Some(controller)),
            client,
            images,
            state,
            stop,
            lifecycle: Mutex::new(Some(task)),
        };
        let mut state = link.state.clone();
        let unfenced = state.wait_for(|s| matches!(s, BrokerState::Running { .. }));
        match tokio::time::timeout(UNFENCED_WITHIN, unfenced).await {
            Ok(Ok(_)) => Ok(link),
            _ => Err(StartError::Cluster(format!(
                "not unfenced by the controller quorum within {} s (are a majority of the voters running?)",
                UNFENCED_WITHIN.as_secs()
            ))),
        }
    }

    /// The latest metadata image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.images.borrow().clone()
    }

    pub fn images(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.images.clone()
    }

    /// Sends a request to the active controller, wherever it is.
    pub async fn call(&self, request: ControllerRequest) -> Result<ControllerAnswer> {
        Ok(self.client.call(request).await?)
    }

    pub fn broker_id(&self) -> i32 {
        self.broker_id
    }

    /// Where this broker is in its lifecycle, as its last heartbeat answer said.
    pub fn state(&self) -> BrokerState {
        *self.state.borrow()
    }

    /// This incarnation's broker epoch (-1 before it is registered).
    pub fn broker_epoch(&self) -> i64 {
        match *self.state.borrow() {
            BrokerState::Fenced { broker_epoch } | BrokerState::Running { broker_epoch } => {
                broker_epoch
            }
            BrokerState::Starting | BrokerState::ShutDown => -1,
        }
    }

    /// Asks the active controller for an admin change; the metadata offset it is applied at.
    pub async fn decide(&self, request: ControllerRequest) -> Result<i64> {
        match self.client.call(request).await? {
            ControllerAnswer::Committed { offset } => Ok(offset),
            other => Err(unexpected(other)),
        }
    }

    /// The active controller as this node's voter last knew it (None during an election).
    pub fn controller_id(&self) -> Option<i32> {
        let controller = self.controller.lock().unwrap_or_else(|e| e.into_inner());
        let leader = controller
            .as_ref()?
            .raft
            .metrics()
            .borrow()
            .current_leader?;
        i32::try_from(leader).ok()
    }

    /// The quorum's state, from the active controller.
    pub async fn describe_quorum(&self) -> Result<QuorumStatus> {
        match self.client.call(ControllerRequest::DescribeQuorum).await? {
            ControllerAnswer::Quorum(status) => Ok(status),
            other => Err(unexpected(other)),
        }
    }

    /// Controlled shutdown (the controller moves this broker's leaderships away first), then
    /// the voter stops. Bounded: a quorum that cannot answer does not keep the process alive.
    pub async fn shutdown(&self) {
        self.hand_over().await;
        let controller = self
            .controller
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(controller) = controller {
            controller.shutdown().await;
        }
    }

    /// The controlled shutdown alone: returns once the controller has moved this broker's
    /// leaderships away (or SHUTDOWN_WITHIN has passed). Done at most once.
    pub async fn hand_over(&self) {
        self.stop.send_replace(true);
        let task = self
            .lifecycle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(task) = task
            && tokio::time::timeout(SHUTDOWN_WITHIN, task).await.is_err()
        {
            tracing::warn!("controlled shutdown did not finish in time; stopping anyway");
        }
    }
}

/// An answer of another kind than the request asks for (a controller of another version).
pub fn unexpected(answer: ControllerAnswer) -> BrokerError {
    BrokerError::Controller(ControllerFailure::Unavailable(format!(
        "unexpected answer {answer:?}"
    )))
}

async fn bind(address: SocketAddr) -> std::result::Result<TcpListener, StartError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Listen { address, source })
}

impl Drop for ClusterLink {
    fn drop(&mut self) {
        if let Some(task) = self
            .lifecycle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            task.abort();
        }
    }
}
