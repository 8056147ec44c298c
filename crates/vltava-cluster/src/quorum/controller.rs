//! One controller voter, assembled: the metadata log in `<data>/__cluster_metadata`, the state
//! machine, openraft, the TCP network to the other voters and the listener for theirs.
//!
//! The voters are fixed by configuration (Kafka's `controller.quorum.voters`), so every voter
//! initializes the same membership on first start; openraft accepts that on each pristine node
//! and the first election decides. A node that is not a voter is an observer (a Raft learner):
//! it asks the active controller to add it, then receives the log on its controller listener
//! (openraft's leader pushes; KRaft's observers pull, so they need no listener). Pre-vote / check-quorum: openraft's leader lease makes a
//! voter refuse to vote while it hears from a live leader, so a voter cut off from part of the
//! cluster cannot depose a healthy leader when it comes back.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use vltava_storage::FileSystem;

use super::active::{ControllerRequest, ControllerService};
use super::client::ControllerClient;
use super::log_store::MetadataLogStore;
use super::network::TcpNetwork;
use super::state_machine::MetadataStateMachine;
use super::status::PeerContacts;
use super::{MetadataRaft, NodeId, server};
use crate::image::MetadataImage;

/// Entries between metadata snapshots. Heartbeats that change nothing write nothing, so this
/// counts decisions (registrations, fencing, topics).
pub const SNAPSHOT_EVERY_ENTRIES: u64 = 1000;

/// Where the metadata log lives inside a data directory (Kafka's `__cluster_metadata-0`).
pub const METADATA_LOG_DIR: &str = "__cluster_metadata";

/// Timing of the quorum, in milliseconds. Kafka's KRaft times out elections after 1-2 s
/// (`controller.quorum.election.timeout.ms` 1000 plus up to 1000 of backoff); ours is shorter so
/// that a controller failover stays under the 2 s goal.
#[derive(Debug, Clone, Copy)]
pub struct QuorumTiming {
    pub heartbeat_interval_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
}

impl Default for QuorumTiming {
    fn default() -> Self {
        QuorumTiming {
            heartbeat_interval_ms: 50,
            election_timeout_min_ms: 300,
            election_timeout_max_ms: 600,
        }
    }
}

#[derive(Debug)]
pub struct ControllerOptions<'a> {
    pub node_id: NodeId,
    /// Bound by the caller (so that a bind error is reported where the address was named, and
    /// tests can bind port 0 before they know every voter's address). `None` for a quorum of
    /// one that no other node reaches: the zero-configuration broker opens no extra port.
    pub listener: Option<TcpListener>,
    /// The voters and their controller listener addresses, this node included.
    pub voters: BTreeMap<NodeId, String>,
    pub data_dir: &'a Path,
    pub fs: Arc<dyn FileSystem>,
    pub timing: QuorumTiming,
    /// `broker.session.timeout.ms`: a broker not heard from for this long is fenced.
    pub session_timeout_ms: u64,
    /// `leader.imbalance.check.interval.seconds` when `auto.leader.rebalance.enable`.
    pub leader_balance_interval: Option<std::time::Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error(
        "node {0} is not a controller quorum voter, so it observes the metadata log, which is \
         sent to its controller listener: give it --controller-listen"
    )]
    ObserverWithoutListener(NodeId),
    #[error("controller listener: {0}")]
    Listener(#[source] std::io::Error),
    #[error("cannot open the metadata log in {path}: {source}")]
    MetadataLog {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid quorum timing: {0}")]
    Config(#[from] openraft::ConfigError),
    #[error("the controller stopped: {0}")]
    Fatal(#[from] openraft::error::Fatal<NodeId>),
}

/// A running voter. Dropping it stops its listener and active-controller task; call
/// [`Controller::shutdown`] to stop Raft too.
pub struct Controller {
    pub raft: Raft<MetadataRaft>,
    pub local_addr: Option<SocketAddr>,
    images: watch::Receiver<Arc<MetadataImage>>,
    /// Reaches the active controller, wherever it is.
    pub client: ControllerClient,
    /// The active-controller task and the listener's.
    tasks: Vec<JoinHandle<()>>,
}

impl Controller {
    pub async fn start(options: ControllerOptions<'_>) -> Result<Controller, ControllerError> {
        let observer = !options.voters.contains_key(&options.node_id);
        if observer && options.listener.is_none() {
            return Err(ControllerError::ObserverWithoutListener(options.node_id));
        }
        let listener = options.listener;
        let local_addr = match &listener {
            Some(listener) => Some(listener.local_addr().map_err(ControllerError::Listener)?),
            None => None,
        };
        let dir = options.data_dir.join(METADATA_LOG_DIR);
        let metadata_log = |source| ControllerError::MetadataLog {
            path: dir.clone(),
            source,
        };
        let store = MetadataLogStore::open(options.fs.clone(), &dir).map_err(metadata_log)?;
        let state_machine = MetadataStateMachine::open(options.fs, &dir).map_err(metadata_log)?;
        let images = state_machine.subscribe();
        let config = Config {
            cluster_name: "vltava".into(),
            heartbeat_interval: options.timing.heartbeat_interval_ms,
            election_timeout_min: options.timing.election_timeout_min_ms,
            election_timeout_max: options.timing.election_timeout_max_ms,
            // A snapshot (the image as records) every so many entries; the log before it is
            // purged, so restart time follows the cluster's size, not its age.
            snapshot_policy: SnapshotPolicy::LogsSinceLast(SNAPSHOT_EVERY_ENTRIES),
            ..Config::default()
        }
        .validate()?;
        let contacts = PeerContacts::default();
        let network = TcpNetwork {
            addresses: options.voters.clone(),
            contacts: contacts.clone(),
        };
        let raft = Raft::new(
            options.node_id,
            Arc::new(config),
            network,
            store,
            state_machine,
        )
        .await?;
        let members: BTreeMap<NodeId, BasicNode> = options
            .voters
            .iter()
            .map(|(id, addr)| (*id, BasicNode::new(addr.clone())))
            .collect();
        // Only a pristine voter takes the membership (every voter gives the same one).
        if !observer
            && !raft.is_initialized().await?
            && let Err(error) = raft.initialize(members).await
        {
            // Another voter's first entries may have arrived meanwhile.
            tracing::debug!(%error, "quorum already initialized");
        }
        let (service, active) = ControllerService::start(
            raft.clone(),
            images.clone(),
            options.session_timeout_ms,
            options.leader_balance_interval,
            contacts,
        );
        let mut tasks = vec![active];
        if let Some(listener) = listener {
            tasks.push(tokio::spawn(server::serve(
                listener,
                raft.clone(),
                service.clone(),
            )));
        }
        let client = ControllerClient {
            voters: options.voters,
            local: Some((options.node_id, service)),
        };
        if let (true, Some(address)) = (observer, local_addr) {
            tasks.push(tokio::spawn(join_as_observer(
                client.clone(),
                options.node_id,
                address.to_string(),
            )));
        }
        Ok(Controller {
            raft,
            local_addr,
            images,
            client,
            tasks,
        })
    }

    /// The metadata image, updated as batches are applied.
    pub fn images(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.images.clone()
    }

    /// Stops Raft and the listener (a clean stop; kill -9 is simply not calling this).
    pub async fn shutdown(self) {
        self.tasks.iter().for_each(JoinHandle::abort);
        let _ = self.raft.shutdown().await;
    }
}

/// How long an observer waits between asks while no controller answers.
const OBSERVER_RETRY: std::time::Duration = std::time::Duration::from_millis(200);

/// Asks the active controller until it has made this node an observer (every start: a node
/// already among the learners is answered at once).
async fn join_as_observer(client: ControllerClient, node_id: NodeId, address: String) {
    let request = ControllerRequest::AddObserver { node_id, address };
    loop {
        match client.call(request.clone()).await {
            Ok(_) => return,
            Err(error) => {
                tracing::info!(%error, "waiting for the controller quorum to add this observer");
                tokio::time::sleep(OBSERVER_RETRY).await;
            }
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}
