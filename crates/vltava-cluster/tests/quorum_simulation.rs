//! Three controller voters in one process under a seeded simulation: the real openraft, our log
//! storage on simulated disks that lose unsynced bytes, our state machine, and a network that
//! drops, delays and partitions messages. One seed (`VLTAVA_SEED`) drives the faults, the
//! election timeouts and the workload, and a failure prints it. After a faulty phase a calm one
//! follows in which the quorum must recover. Invariants, checked throughout:
//! - at most one leader per term;
//! - every voter that has applied the same metadata offset holds the same metadata image;
//! - every acknowledged metadata write is in every voter's image once the cluster is calm.
//!
//! It guards against a storage or state-machine bug that makes voters disagree or lose
//! committed metadata (brokers would then serve different leaders for the same partition).

// openraft's `StorageError` is large, and its traits fix that type.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Config, Raft, ServerState, SnapshotPolicy};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;
use uuid::Uuid;
use vltava_cluster::quorum::log_store::MetadataLogStore;
use vltava_cluster::quorum::state_machine::MetadataStateMachine;
use vltava_cluster::quorum::{MetadataBatch, MetadataRaft, NodeId};
use vltava_cluster::{MetadataImage, MetadataRecord};
use vltava_storage::SimFs;

const VOTERS: [NodeId; 3] = [1, 2, 3];
const FAULTY_STEPS: usize = 60;
const CALM_STEPS_MAX: usize = 200;
/// Simulated time between two steps (proposals and invariant checks).
const STEP: Duration = Duration::from_millis(100);

/// Faults the network applies; all decisions come from the seeded generator.
struct Faults {
    rng: StdRng,
    drop_per_mille: u32,
    /// Nodes cut off from every other node.
    isolated: BTreeSet<NodeId>,
}

/// The simulated network: every node's Raft, and the faults between them.
#[derive(Clone)]
struct Router {
    nodes: Arc<Mutex<BTreeMap<NodeId, Raft<MetadataRaft>>>>,
    faults: Arc<Mutex<Faults>>,
}

impl Router {
    /// The target's Raft, or why the message does not arrive; the delay to wait before it does.
    fn route(
        &self,
        from: NodeId,
        to: NodeId,
    ) -> Result<(Raft<MetadataRaft>, Duration), Unreachable> {
        let unreachable = |why: &str| Unreachable::new(&std::io::Error::other(why.to_string()));
        let delay = {
            let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
            if faults.isolated.contains(&from) || faults.isolated.contains(&to) {
                return Err(unreachable("partitioned"));
            }
            let drop = faults.drop_per_mille;
            if faults.rng.random_range(0..1000) < drop {
                return Err(unreachable("dropped"));
            }
            Duration::from_micros(faults.rng.random_range(0..3000))
        };
        let nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        let raft = nodes.get(&to).cloned().ok_or_else(|| unreachable("down"))?;
        Ok((raft, delay))
    }
}

struct Connection {
    router: Router,
    from: NodeId,
    to: NodeId,
}

struct NetworkFactory {
    router: Router,
    from: NodeId,
}

impl RaftNetworkFactory<MetadataRaft> for NetworkFactory {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Connection {
        Connection {
            router: self.router.clone(),
            from: self.from,
            to: target,
        }
    }
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl Connection {
    async fn target(&self) -> Result<Raft<MetadataRaft>, Unreachable> {
        let (raft, delay) = self.router.route(self.from, self.to)?;
        tokio::time::sleep(delay).await;
        Ok(raft)
    }
}

fn remote<E: std::error::Error>(
    to: NodeId,
    e: RaftError<NodeId, E>,
) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
    RPCError::RemoteError(RemoteError::new(to, e))
}

impl RaftNetwork<MetadataRaft> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<MetadataRaft>,
        _option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        let raft = self.target().await?;
        raft.append_entries(rpc)
            .await
            .map_err(|e| remote(self.to, e))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<MetadataRaft>,
        _option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        let raft = self.target().await?;
        raft.install_snapshot(rpc)
            .await
            .map_err(|e| remote(self.to, e))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        let raft = self.target().await?;
        raft.vote(rpc).await.map_err(|e| remote(self.to, e))
    }
}

/// One voter: its disk survives restarts, its Raft and state machine do not.
struct Voter {
    disk: Arc<SimFs>,
    images: watch::Receiver<Arc<MetadataImage>>,
}

struct Simulation {
    seed: u64,
    rng: StdRng,
    router: Router,
    voters: BTreeMap<NodeId, Voter>,
    /// Election timeouts fixed per node from the seed: openraft draws them from an unseeded
    /// generator otherwise, and distinct fixed values keep the run replayable.
    election_timeout_ms: BTreeMap<NodeId, u64>,
    leaders_by_term: BTreeMap<u64, NodeId>,
    images_by_offset: BTreeMap<i64, Arc<MetadataImage>>,
    acknowledged: BTreeSet<String>,
    proposed: usize,
}

impl Simulation {
    fn new(seed: u64) -> Simulation {
        let mut rng = StdRng::seed_from_u64(seed);
        let faults = Faults {
            rng: StdRng::seed_from_u64(rng.random()),
            drop_per_mille: 0,
            isolated: BTreeSet::new(),
        };
        let mut timeouts: Vec<u64> = (0..VOTERS.len()).map(|i| 300 + 150 * i as u64).collect();
        // A seeded order of the distinct timeouts: which node tends to win elections varies.
        for i in (1..timeouts.len()).rev() {
            timeouts.swap(i, rng.random_range(0..=i));
        }
        Simulation {
            seed,
            rng,
            router: Router {
                nodes: Arc::default(),
                faults: Arc::new(Mutex::new(faults)),
            },
            voters: BTreeMap::new(),
            election_timeout_ms: VOTERS.iter().copied().zip(timeouts).collect(),
            leaders_by_term: BTreeMap::new(),
            images_by_offset: BTreeMap::new(),
            acknowledged: BTreeSet::new(),
            proposed: 0,
        }
    }

    async fn start(&mut self, id: NodeId, disk: Arc<SimFs>) {
        let timeout = self.election_timeout_ms[&id];
        let config = Config {
            cluster_name: "vltava-sim".into(),
            heartbeat_interval: 50,
            election_timeout_min: timeout,
            election_timeout_max: timeout + 1,
            // Frequent snapshots and purges, so that crashes land around them too.
            snapshot_policy: SnapshotPolicy::LogsSinceLast(7),
            max_in_snapshot_log_to_keep: 2,
            purge_batch_size: 1,
            ..Config::default()
        };
        let config = Arc::new(config.validate().expect("valid raft config"));
        let store = MetadataLogStore::open(disk.clone(), Path::new("/meta")).expect("open log");
        let state_machine = MetadataStateMachine::open(disk.clone(), Path::new("/meta"))
            .expect("open state machine");
        let images = state_machine.subscribe();
        let network = NetworkFactory {
            router: self.router.clone(),
            from: id,
        };
        let raft = Raft::new(id, config, network, store, state_machine)
            .await
            .expect("start raft");
        self.router
            .nodes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, raft);
        self.voters.insert(id, Voter { disk, images });
    }

    fn raft(&self, id: NodeId) -> Option<Raft<MetadataRaft>> {
        self.router
            .nodes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    /// Kill -9 of a voter: its Raft stops, its disk loses what was not synced, it restarts.
    async fn crash_and_restart(&mut self, id: NodeId) {
        let raft = self
            .router
            .nodes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        if let Some(raft) = raft {
            let _ = raft.shutdown().await;
        }
        let Some(voter) = self.voters.remove(&id) else {
            return;
        };
        voter.disk.crash(self.rng.random());
        self.start(id, voter.disk).await;
    }

    fn leader(&self) -> Option<NodeId> {
        VOTERS.iter().copied().find(|id| {
            self.raft(*id)
                .is_some_and(|r| r.metrics().borrow().state == ServerState::Leader)
        })
    }

    async fn propose(&mut self) {
        let Some(leader) = self.leader() else { return };
        let Some(raft) = self.raft(leader) else {
            return;
        };
        self.proposed += 1;
        let name = format!("t-{}", self.proposed);
        let batch = MetadataBatch {
            records: vec![MetadataRecord::Topic {
                name: name.clone(),
                topic_id: Uuid::from_u128(self.rng.random()),
            }],
        };
        let write = tokio::time::timeout(Duration::from_secs(2), raft.client_write(batch)).await;
        if matches!(write, Ok(Ok(_))) {
            self.acknowledged.insert(name);
        }
    }

    fn check_invariants(&mut self, step: usize) {
        let seed = self.seed;
        for id in VOTERS {
            let Some(raft) = self.raft(id) else { continue };
            let metrics = raft.metrics().borrow().clone();
            if metrics.state == ServerState::Leader {
                let leader = *self
                    .leaders_by_term
                    .entry(metrics.current_term)
                    .or_insert(id);
                assert_eq!(
                    leader, id,
                    "seed {seed} step {step}: two leaders in term {}",
                    metrics.current_term
                );
            }
        }
        for (id, voter) in &self.voters {
            let image = voter.images.borrow().clone();
            let seen = self
                .images_by_offset
                .entry(image.offset)
                .or_insert_with(|| image.clone());
            assert_eq!(
                **seen, *image,
                "seed {seed} step {step}: voter {id} holds another image at offset {}",
                image.offset
            );
        }
    }

    fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.router.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A seeded fault for this step: a partition starts or heals, the drop rate changes, or a
    /// voter crashes.
    async fn inject_fault(&mut self) {
        match self.rng.random_range(0..10) {
            0 => {
                let id = VOTERS[self.rng.random_range(0..VOTERS.len())];
                self.faults().isolated = BTreeSet::from([id]);
            }
            1 | 2 => self.faults().isolated.clear(),
            3 => {
                let drop = self.rng.random_range(0..300);
                self.faults().drop_per_mille = drop;
            }
            4 => {
                let id = VOTERS[self.rng.random_range(0..VOTERS.len())];
                self.crash_and_restart(id).await;
            }
            _ => {}
        }
    }

    /// Every voter has applied the same offset, at or past the last acknowledged write.
    fn converged(&self) -> bool {
        let offsets: BTreeSet<i64> = self
            .voters
            .values()
            .map(|v| v.images.borrow().offset)
            .collect();
        offsets.len() == 1
            && self.voters.len() == VOTERS.len()
            && self.voters.values().all(|v| {
                let image = v.images.borrow();
                self.acknowledged
                    .iter()
                    .all(|name| image.topic(name).is_some())
            })
    }
}

async fn simulate(seed: u64) -> Vec<String> {
    let mut sim = Simulation::new(seed);
    for id in VOTERS {
        sim.start(id, Arc::new(SimFs::new())).await;
    }
    let members: BTreeMap<NodeId, BasicNode> = VOTERS
        .iter()
        .map(|id| (*id, BasicNode::new(format!("127.0.0.{id}:9093"))))
        .collect();
    let first = sim.raft(1).expect("voter 1");
    first
        .initialize(members)
        .await
        .expect("initialize the quorum");

    for step in 0..FAULTY_STEPS {
        sim.inject_fault().await;
        sim.propose().await;
        tokio::time::sleep(STEP).await;
        sim.check_invariants(step);
    }
    // Calm: no more faults; the quorum must elect a leader, accept writes and converge.
    {
        let mut faults = sim.faults();
        faults.isolated.clear();
        faults.drop_per_mille = 0;
    }
    let mut calm_writes = 0;
    let mut step = FAULTY_STEPS;
    while calm_writes < 3 || !sim.converged() {
        assert!(
            step < FAULTY_STEPS + CALM_STEPS_MAX,
            "seed {seed}: no convergence in the calm phase (acknowledged {:?})",
            sim.acknowledged
        );
        let before = sim.acknowledged.len();
        if calm_writes < 3 {
            sim.propose().await;
        }
        calm_writes += usize::from(sim.acknowledged.len() > before);
        tokio::time::sleep(STEP).await;
        sim.check_invariants(step);
        step += 1;
    }
    assert!(
        sim.acknowledged.len() >= 3,
        "seed {seed}: writes acknowledged"
    );
    // The run must have exercised snapshots and the log purge behind them.
    let purged = VOTERS
        .iter()
        .filter_map(|id| sim.raft(*id))
        .filter(|raft| raft.metrics().borrow().purged.is_some())
        .count();
    assert!(purged > 0, "seed {seed}: no voter purged its log");
    for id in VOTERS {
        if let Some(raft) = sim.raft(id) {
            let _ = raft.shutdown().await;
        }
    }
    // The trace a replay of this seed must reproduce.
    let terms: Vec<String> = sim
        .leaders_by_term
        .iter()
        .map(|(term, leader)| format!("term {term}: {leader}"))
        .collect();
    eprintln!(
        "seed {seed}: {} proposed, {} acknowledged, {purged} voters purged, {} steps, leaders {terms:?}",
        sim.proposed,
        sim.acknowledged.len(),
        step
    );
    sim.acknowledged.into_iter().chain(terms).collect()
}

fn seeds() -> Vec<u64> {
    match std::env::var("VLTAVA_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seed) => vec![seed],
        None => (1..=20).collect(),
    }
}

#[test]
fn controller_quorum_keeps_committed_metadata_under_faults() {
    for seed in seeds() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime");
        runtime.block_on(simulate(seed));
    }
}
