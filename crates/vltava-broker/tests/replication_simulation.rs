//! A deterministic simulation of one partition's replication (issue 15): three brokers and the
//! controller, driven by a seeded random schedule of produces, flushes, follower fetches (their
//! answers delivered late, and between followers out of order), ISR checks, heartbeats,
//! metadata propagation, session expiry, crashes that lose every unsynced write, restarts and
//! network isolation.
//!
//! The decisions are vltava's own code: the controller's registration, heartbeat, fencing,
//! election and AlterPartition functions on a real `MetadataImage`, the leader's `ReplicaSet`
//! (high watermark, ISR changes) and the `LeaderEpochs` cache. What is modelled is the
//! plumbing between them (a broker's log as a list of (epoch, value), an fsync as the durable
//! length, the network as a queue), following the broker's fetch path: the diverging-epoch
//! check of `api/fetch.rs` and the truncation of `replication/fetcher.rs`.
//!
//! Checked after every step: every acknowledged record is at its offset in the log of every
//! member of the partition's ISR as the controller has it (the high watermark only passes what
//! the ISR holds durably; an election picks from the ISR; a crash keeps the fsynced part). At
//! the end, with every broker back and connected, the cluster must converge: one leader, every
//! replica in the ISR with the leader's log, every acknowledged record in it.
//!
//! `VLTAVA_SIM_SEEDS=N` runs seeds 0..N (default 300); `VLTAVA_SIM_SEED=S` runs seed S alone and
//! prints its schedule. A failure names its seed and the last steps before it.

// A failed check is a panic with the seed and the steps before it.
#![allow(clippy::panic)]

use std::collections::{BTreeMap, VecDeque};

use uuid::Uuid;
use vltava_broker::replication::replica_set::ReplicaSet;
use vltava_cluster::controller::brokers::{
    HeartbeatRequest, RegistrationRequest, fence_expired, heartbeat, register,
};
use vltava_cluster::controller::heartbeats::BrokerSessions;
use vltava_cluster::controller::isr::{AlterPartition, alter_partition};
use vltava_cluster::controller::topics::{NewTopic, create_topic};
use vltava_cluster::delta::MetadataDelta;
use vltava_cluster::image::{MetadataImage, PartitionRegistration};
use vltava_cluster::records::{BrokerId, Endpoint, MetadataRecord};
use vltava_storage::SplitMix;
use vltava_storage::leader_epochs::{LeaderEpochs, UNDEFINED_EPOCH};

const BROKERS: [BrokerId; 3] = [1, 2, 3];
const TOPIC: &str = "sim";
const MIN_ISR: i32 = 2;
const LAG_MAX_MS: i64 = 2_000;
const SESSION_MS: u64 = 3_000;
const STEPS: usize = 4_000;
const CONVERGE_STEPS_MAX: usize = 40_000;
const TRACE_KEPT: usize = 40;

/// The schedule's dice: a seed replays the same schedule on every platform and version.
struct Rng(SplitMix);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0.upto(n.saturating_sub(1))
    }

    fn broker(&mut self) -> usize {
        self.below(BROKERS.len())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    epoch: i32,
    value: u64,
}

struct Broker {
    id: BrokerId,
    alive: bool,
    /// Cut off from the other brokers and the controller (clients still reach it).
    isolated: bool,
    incarnations: u128,
    /// -1 until this incarnation's registration is accepted.
    broker_epoch: i64,
    /// Unfenced once since it started: only then does it act on the metadata it replays (as
    /// `ClusterLink::start` waits for it), so a broker restarted before its old session
    /// expired cannot lead in the old incarnation's leader epoch.
    running: bool,
    log: Vec<Entry>,
    /// Entries below this are fsynced.
    durable: usize,
    epochs: LeaderEpochs,
    replicas: ReplicaSet,
    high_watermark: i64,
    /// The metadata this broker has replayed.
    view: MetadataImage,
    /// acks=all produces waiting for the high watermark: (offset, value).
    waiting: Vec<(usize, u64)>,
}

/// A fetch answer on its way back to the follower.
struct FetchAnswer {
    follower: usize,
    leader: BrokerId,
    leader_epoch: i32,
    fetch_offset: usize,
    reply: Reply,
}

enum Reply {
    /// OFFSET_OUT_OF_RANGE: the leader cannot say where the follower's epoch ends.
    OutOfRange,
    Diverging {
        epoch: i32,
        end_offset: i64,
    },
    Records {
        entries: Vec<Entry>,
        high_watermark: i64,
    },
}

struct Sim {
    rng: Rng,
    now: u64,
    image: MetadataImage,
    sessions: BrokerSessions,
    brokers: Vec<Broker>,
    in_flight: VecDeque<FetchAnswer>,
    /// Crashed brokers' controller listeners refuse connections, seen from when (a Raft
    /// heartbeat, every 50 ms, finds it).
    refused_since: BTreeMap<BrokerId, u64>,
    next_value: u64,
    /// Acknowledged produces: offset -> value.
    acked: BTreeMap<usize, u64>,
    trace: VecDeque<String>,
    verbose: bool,
}

fn topic_id() -> Uuid {
    Uuid::from_u128(0x5157)
}

fn partition(image: &MetadataImage) -> PartitionRegistration {
    image
        .partition(TOPIC, 0)
        .cloned()
        .unwrap_or_else(|| panic!("{TOPIC}-0 is in the image"))
}

impl Sim {
    fn new(seed: u64, verbose: bool) -> Sim {
        let mut sim = Sim {
            rng: Rng(SplitMix(seed)),
            now: 1_000,
            image: MetadataImage::empty(),
            sessions: BrokerSessions::new(SESSION_MS),
            brokers: BROKERS
                .iter()
                .map(|&id| Broker {
                    id,
                    alive: true,
                    isolated: false,
                    incarnations: 0,
                    broker_epoch: -1,
                    running: false,
                    log: Vec::new(),
                    durable: 0,
                    epochs: LeaderEpochs::default(),
                    replicas: ReplicaSet::new(0),
                    high_watermark: 0,
                    view: MetadataImage::empty(),
                    waiting: Vec::new(),
                })
                .collect(),
            in_flight: VecDeque::new(),
            refused_since: BTreeMap::new(),
            next_value: 1,
            acked: BTreeMap::new(),
            trace: VecDeque::new(),
            verbose,
        };
        for b in 0..BROKERS.len() {
            sim.register(b);
        }
        for b in 0..BROKERS.len() {
            sim.heartbeat(b);
        }
        let records = create_topic(
            &sim.image,
            NewTopic {
                name: TOPIC.to_string(),
                topic_id: topic_id(),
                partitions: 1,
                replication_factor: 3,
                configs: BTreeMap::new(),
                assignments: vec![BROKERS.to_vec()],
            },
        )
        .unwrap_or_else(|e| panic!("create_topic: {e}"));
        sim.commit(records);
        for b in 0..BROKERS.len() {
            sim.learn(b);
        }
        sim
    }

    fn note(&mut self, what: String) {
        if self.verbose {
            println!("{:>7} ms  {what}", self.now);
        }
        self.trace.push_back(format!("{} ms: {what}", self.now));
        if self.trace.len() > TRACE_KEPT {
            self.trace.pop_front();
        }
    }

    /// The controller appends one decision's records (one metadata log entry).
    fn commit(&mut self, records: Vec<MetadataRecord>) {
        if records.is_empty() {
            return;
        }
        let offset = self.image.offset + 1;
        let mut delta = MetadataDelta::new(&self.image);
        for record in &records {
            delta
                .replay(offset, record)
                .unwrap_or_else(|e| panic!("replay {record:?}: {e}"));
        }
        self.image = delta.apply().0;
        let p = partition_if_any(&self.image);
        self.note(format!("controller commits {records:?} -> {p:?}"));
    }

    fn reachable(&self, b: usize) -> bool {
        self.brokers[b].alive && !self.brokers[b].isolated
    }

    fn register(&mut self, b: usize) {
        let broker = &mut self.brokers[b];
        broker.incarnations += 1;
        let request = RegistrationRequest {
            broker_id: broker.id,
            incarnation_id: Uuid::from_u128(
                (u128::from(broker.id.unsigned_abs()) << 64) | broker.incarnations,
            ),
            endpoints: vec![Endpoint {
                name: "PLAINTEXT".to_string(),
                host: "sim".to_string(),
                port: 9092,
            }],
            rack: None,
            log_dirs: Vec::new(),
        };
        match register(&self.image, &mut self.sessions, self.now, request) {
            Ok(decision) => {
                self.commit(decision.records);
                self.brokers[b].broker_epoch = decision.answer;
            }
            Err(error) => self.note(format!(
                "broker {} registration refused: {error}",
                BROKERS[b]
            )),
        }
    }

    fn heartbeat(&mut self, b: usize) {
        if self.brokers[b].broker_epoch < 0 {
            // Refused while the previous incarnation's session lasts: retried on each beat.
            self.register(b);
            return;
        }
        let broker = &self.brokers[b];
        let request = HeartbeatRequest {
            broker_id: broker.id,
            broker_epoch: broker.broker_epoch,
            metadata_offset: broker.view.offset.max(self.image.offset),
            want_fence: false,
            want_shutdown: false,
        };
        if let Ok(decision) = heartbeat(&self.image, &mut self.sessions, self.now, request) {
            self.commit(decision.records);
        }
    }

    /// The broker replays the metadata log up to the controller's latest image.
    fn learn(&mut self, b: usize) {
        let image = self.image.clone();
        let now = i64::try_from(self.now).unwrap_or(i64::MAX);
        let broker = &mut self.brokers[b];
        if broker.view.offset == image.offset {
            return;
        }
        if !broker.running {
            let unfenced = image
                .brokers
                .get(&broker.id)
                .is_some_and(|r| r.broker_epoch == broker.broker_epoch && !r.fenced);
            if !unfenced {
                return;
            }
            broker.running = true;
        }
        let before = partition_if_any(&broker.view);
        let after = partition(&image);
        broker.view = image;
        let same_term = before
            .as_ref()
            .is_some_and(|p| p.leader == after.leader && p.leader_epoch == after.leader_epoch);
        if !same_term || after.leader != broker.id {
            // Waiting produces fail (NOT_LEADER_OR_FOLLOWER); the client never saw an ack.
            broker.waiting.clear();
        }
        let log_end = broker.log.len() as i64;
        if after.leader == broker.id {
            // `Partition::set_registration`: the epoch starts at the log end from now on.
            broker.epochs.assign(after.leader_epoch, log_end);
        }
        broker
            .replicas
            .update(broker.id, &after, MIN_ISR, log_end, now);
        if after.leader == broker.id && !same_term {
            self.note(format!(
                "broker {} leads at epoch {} from offset {log_end}",
                BROKERS[b], after.leader_epoch
            ));
        }
    }

    fn produce(&mut self, b: usize) {
        let broker = &mut self.brokers[b];
        let Some(p) = partition_if_any(&broker.view) else {
            return;
        };
        if !broker.alive || p.leader != broker.id || broker.replicas.below_min_isr() {
            return;
        }
        let value = self.next_value;
        self.next_value += 1;
        let offset = broker.log.len();
        if broker.epochs.is_new(p.leader_epoch) {
            broker.epochs.assign(p.leader_epoch, offset as i64);
        }
        broker.log.push(Entry {
            epoch: p.leader_epoch,
            value,
        });
        broker.waiting.push((offset, value));
        self.note(format!(
            "broker {} appends value {value} at {offset} (epoch {})",
            BROKERS[b], p.leader_epoch
        ));
    }

    fn flush(&mut self, b: usize) {
        let broker = &mut self.brokers[b];
        if !broker.alive {
            return;
        }
        broker.durable = broker.log.len();
        broker.replicas.set_local_durable(broker.durable as i64);
        self.advance(b);
    }

    /// The leader's high watermark moves as its replicas allow; waiting produces below it are
    /// acknowledged.
    fn advance(&mut self, b: usize) {
        let broker = &mut self.brokers[b];
        if let Some(hw) = broker.replicas.high_watermark() {
            broker.high_watermark = broker.high_watermark.max(hw);
        }
        let hw = broker.high_watermark;
        let (done, waiting): (Vec<_>, Vec<_>) = broker
            .waiting
            .drain(..)
            .partition(|&(offset, _)| (offset as i64) < hw);
        broker.waiting = waiting;
        for (offset, value) in done {
            self.acked.insert(offset, value);
            self.note(format!(
                "ack: value {value} at {offset} by broker {}",
                BROKERS[b]
            ));
        }
    }

    /// A follower sends a fetch to the leader it knows; the leader handles it now, and the
    /// answer travels back.
    fn fetch(&mut self, f: usize) {
        let Some(p) = partition_if_any(&self.brokers[f].view) else {
            return;
        };
        let Some(l) = BROKERS.iter().position(|&id| id == p.leader) else {
            return;
        };
        // One fetch at a time per follower, as `FetchLoop::run` waits for each answer (a
        // leadership change drops the one in flight with its connection).
        let waiting = self.in_flight.iter().any(|a| a.follower == f);
        if l == f || waiting || !self.reachable(f) || !self.reachable(l) {
            return;
        }
        // A follower fsyncs what it has before it fetches on from its log end (a deposed
        // leader's unreplicated tail included: the diverging-epoch check decides its fate).
        let follower = &mut self.brokers[f];
        follower.durable = follower.log.len();
        let fetch_offset = follower.durable;
        let last_fetched_epoch = follower.log.last().map_or(UNDEFINED_EPOCH, |e| e.epoch);
        let now = i64::try_from(self.now).unwrap_or(i64::MAX);
        let leader = &mut self.brokers[l];
        let Some(lp) = partition_if_any(&leader.view) else {
            return;
        };
        // FENCED_LEADER_EPOCH / NOT_LEADER_OR_FOLLOWER: the follower tries again later.
        if lp.leader != leader.id || lp.leader_epoch != p.leader_epoch {
            return;
        }
        let leader_end = leader.log.len() as i64;
        let reply = match diverging(&leader.epochs, leader_end, fetch_offset, last_fetched_epoch) {
            Some((UNDEFINED_EPOCH, _)) => Reply::OutOfRange,
            Some((epoch, end_offset)) => Reply::Diverging { epoch, end_offset },
            None => {
                leader
                    .replicas
                    .follower_fetched(BROKERS[f], fetch_offset as i64, leader_end, now);
                self.advance(l);
                let leader = &self.brokers[l];
                let count = 1 + self.rng.below(4);
                let end = leader.log.len().min(fetch_offset + count);
                Reply::Records {
                    entries: leader.log[fetch_offset.min(end)..end].to_vec(),
                    high_watermark: leader.high_watermark,
                }
            }
        };
        self.in_flight.push_back(FetchAnswer {
            follower: f,
            leader: p.leader,
            leader_epoch: p.leader_epoch,
            fetch_offset,
            reply,
        });
    }

    /// A fetch answer arrives; one for a log that no longer ends where the fetch started, or
    /// from a leader the follower no longer follows, is dropped.
    fn deliver(&mut self, index: usize) {
        let Some(answer) = self.in_flight.remove(index) else {
            return;
        };
        let follower = &mut self.brokers[answer.follower];
        let current = partition_if_any(&follower.view)
            .is_some_and(|p| p.leader == answer.leader && p.leader_epoch == answer.leader_epoch);
        if !follower.alive
            || follower.isolated
            || !current
            || follower.log.len() != answer.fetch_offset
        {
            return;
        }
        match answer.reply {
            // `FetchLoop::start_over`: only a log ending below the leader's start (never here:
            // nothing is deleted) starts over; otherwise the fetch is tried again as it was.
            Reply::OutOfRange => {
                let id = follower.id;
                self.note(format!("broker {id}: fetch out of range"));
            }
            Reply::Diverging { epoch, end_offset } => {
                let (_, end) = follower
                    .epochs
                    .end_offset_for(epoch, follower.log.len() as i64);
                let target = usize::try_from(end_offset.min(end.max(0))).unwrap_or(0);
                let target = target.min(follower.log.len());
                let id = follower.id;
                truncate(follower, target);
                self.note(format!("broker {id} truncates to {target} (leader's epoch {epoch} ends at {end_offset})"));
            }
            Reply::Records {
                entries,
                high_watermark,
            } => {
                for entry in entries {
                    let offset = follower.log.len() as i64;
                    if follower.epochs.is_new(entry.epoch) {
                        follower.epochs.assign(entry.epoch, offset);
                    }
                    follower.log.push(entry);
                }
                // Appended and fsynced before the next fetch reports it.
                follower.durable = follower.log.len();
                follower
                    .replicas
                    .reset_local_durable(follower.durable as i64);
                follower.high_watermark = follower
                    .high_watermark
                    .max(high_watermark.min(follower.log.len() as i64));
            }
        }
    }

    fn isr_check(&mut self, b: usize) {
        let now = i64::try_from(self.now).unwrap_or(i64::MAX);
        let broker = &mut self.brokers[b];
        if !broker.alive {
            return;
        }
        let Some(proposal) = broker
            .replicas
            .isr_change(now, LAG_MAX_MS, broker.high_watermark)
        else {
            return;
        };
        broker.replicas.set_proposed(Some(proposal.isr.clone()));
        if !self.reachable(b) {
            self.brokers[b].replicas.set_proposed(None);
            return;
        }
        let request = AlterPartition {
            broker_id: BROKERS[b],
            broker_epoch: self.brokers[b].broker_epoch,
            topic_id: topic_id(),
            partition_id: 0,
            leader_epoch: proposal.leader_epoch,
            partition_epoch: proposal.partition_epoch,
            isr: proposal.isr,
        };
        match alter_partition(&self.image, request) {
            Ok(records) => self.commit(records),
            Err(error) => {
                self.brokers[b].replicas.set_proposed(None);
                self.note(format!(
                    "AlterPartition from {} refused: {error}",
                    BROKERS[b]
                ));
            }
        }
    }

    fn fence_check(&mut self) {
        let records = fence_expired(
            &self.image,
            &self.sessions,
            self.now,
            0,
            &self.refused_since,
        );
        self.commit(records);
    }

    /// kill -9 and a power loss: every write not fsynced is gone.
    fn crash(&mut self, b: usize) {
        let broker = &mut self.brokers[b];
        if !broker.alive {
            return;
        }
        broker.alive = false;
        self.refused_since.insert(broker.id, self.now + 50);
        let durable = broker.durable;
        truncate(broker, durable);
        broker.waiting.clear();
        self.note(format!(
            "broker {} crashes; its log keeps {durable}",
            BROKERS[b]
        ));
    }

    fn restart(&mut self, b: usize) {
        if self.brokers[b].alive {
            return;
        }
        self.refused_since.remove(&BROKERS[b]);
        let broker = &mut self.brokers[b];
        broker.alive = true;
        broker.isolated = false;
        broker.broker_epoch = -1;
        broker.running = false;
        broker.high_watermark = 0;
        broker.replicas = ReplicaSet::new(broker.durable as i64);
        broker.view = MetadataImage::empty();
        self.note(format!("broker {} restarts", BROKERS[b]));
        self.register(b);
    }

    /// One random step; `faults`: produces, crashes and isolations too.
    fn step(&mut self, faults: bool) {
        let b = self.rng.broker();
        match self.rng.below(1000) {
            // No new load while converging: the followers must catch up.
            0..=199 if faults => self.produce(b),
            0..=199 => {}
            200..=299 => self.flush(b),
            300..=499 => self.fetch(b),
            500..=629 => {
                if !self.in_flight.is_empty() {
                    // Mostly in order, sometimes an older answer overtaken.
                    let index = if self.rng.below(4) == 0 {
                        self.rng.below(self.in_flight.len())
                    } else {
                        0
                    };
                    self.deliver(index);
                }
            }
            630..=689 => self.isr_check(b),
            690..=769 => {
                if self.reachable(b) {
                    self.heartbeat(b);
                }
            }
            770..=849 => {
                if self.reachable(b) {
                    self.learn(b);
                }
            }
            850..=879 => self.fence_check(),
            880..=959 => self.now += 1 + self.rng.below(400) as u64,
            // Faults are rare enough for calm periods between them.
            960..=962 if faults => self.crash(b),
            963..=989 => {
                // Restarts also come without faults: convergence brings everyone back.
                self.restart(b);
            }
            990..=991 if faults => {
                let broker = &mut self.brokers[b];
                if broker.alive {
                    broker.isolated = true;
                    let id = broker.id;
                    self.note(format!("broker {id} isolated"));
                }
            }
            _ => {
                let broker = &mut self.brokers[b];
                if broker.isolated {
                    broker.isolated = false;
                    let id = broker.id;
                    self.note(format!("broker {id} healed"));
                }
            }
        }
    }

    /// Every acknowledged record is at its offset in the log of every ISR member.
    fn check_acknowledged(&self) -> Result<(), String> {
        let p = partition(&self.image);
        for &member in &p.isr {
            let broker = &self.brokers[BROKERS
                .iter()
                .position(|&id| id == member)
                .ok_or("unknown ISR member")?];
            for (&offset, &value) in &self.acked {
                let found = broker.log.get(offset).map(|e| e.value);
                if found != Some(value) {
                    return Err(format!(
                        "lost-write: value {value} acknowledged at {offset}, but ISR member {member} (ISR {:?}, leader {} epoch {}) has {found:?} there",
                        p.isr, p.leader, p.leader_epoch
                    ));
                }
            }
        }
        Ok(())
    }

    /// After the faults: everyone back and connected, then the replicas must agree.
    fn check_converged(&self) -> Result<(), String> {
        let p = partition(&self.image);
        let leader = BROKERS
            .iter()
            .position(|&id| id == p.leader)
            .ok_or_else(|| format!("no leader after convergence: {p:?}"))?;
        if p.isr.len() != BROKERS.len() {
            let brokers: Vec<String> = self
                .brokers
                .iter()
                .map(|b| {
                    format!(
                        "{}: alive {} running {} epoch {} log {} durable {} view {} hw {} registration {:?}",
                        b.id,
                        b.alive,
                        b.running,
                        b.broker_epoch,
                        b.log.len(),
                        b.durable,
                        b.view.offset,
                        b.high_watermark,
                        self.image.brokers.get(&b.id).map(|r| (r.broker_epoch, r.fenced))
                    )
                })
                .collect();
            return Err(format!(
                "ISR not restored after convergence: {p:?}; brokers: {brokers:?}"
            ));
        }
        let log = &self.brokers[leader].log;
        let hw = usize::try_from(self.brokers[leader].high_watermark).unwrap_or(0);
        for broker in &self.brokers {
            if broker.log.len() < hw {
                return Err(format!(
                    "broker {} holds {} records, below the high watermark {hw}",
                    broker.id,
                    broker.log.len()
                ));
            }
            if let Some(offset) = (0..hw).find(|&o| broker.log[o] != log[o]) {
                return Err(format!(
                    "inconsistent-replicas: at offset {offset} below the high watermark {hw}, broker {} has {:?} and leader {} has {:?} (epochs {:?} and {:?})",
                    broker.id,
                    broker.log[offset],
                    p.leader,
                    log[offset],
                    broker.epochs.entries(),
                    self.brokers[leader].epochs.entries()
                ));
            }
        }
        if let Some((&offset, _)) = self.acked.iter().next_back()
            && offset >= hw
        {
            return Err(format!(
                "acknowledged offset {offset} above the high watermark {hw}"
            ));
        }
        self.check_acknowledged()
    }
}

fn partition_if_any(image: &MetadataImage) -> Option<PartitionRegistration> {
    image.partition(TOPIC, 0).cloned()
}

/// The leader's side of KIP-320 (`api/fetch.rs`): where the follower's last epoch ends here,
/// if its log has diverged from this one.
fn diverging(
    epochs: &LeaderEpochs,
    log_end: i64,
    fetch_offset: usize,
    last_fetched_epoch: i32,
) -> Option<(i32, i64)> {
    if last_fetched_epoch == UNDEFINED_EPOCH {
        return None;
    }
    let (epoch, end_offset) = epochs.end_offset_for(last_fetched_epoch, log_end);
    // An epoch this log never had below the follower's: it keeps nothing of it (the real
    // broker answers OFFSET_OUT_OF_RANGE and the follower starts over at the log start).
    if epoch == UNDEFINED_EPOCH {
        return Some((UNDEFINED_EPOCH, 0));
    }
    (epoch < last_fetched_epoch || end_offset < fetch_offset as i64).then_some((epoch, end_offset))
}

fn truncate(broker: &mut Broker, to: usize) {
    broker.log.truncate(to);
    broker.high_watermark = broker.high_watermark.min(to as i64);
    broker.durable = broker.durable.min(to);
    broker.epochs.truncate_from_end(to as i64);
    broker.replicas.reset_local_durable(broker.durable as i64);
}

fn run(seed: u64, verbose: bool) -> Result<usize, String> {
    let mut sim = Sim::new(seed, verbose);
    for _ in 0..STEPS {
        sim.step(true);
        sim.check_acknowledged()
            .map_err(|e| failure(&sim, seed, &e))?;
    }
    // Heal everything, then only the protocol runs (time moves so that sessions expire).
    for b in 0..BROKERS.len() {
        sim.brokers[b].isolated = false;
        sim.restart(b);
    }
    // Converged once every replica is back in the ISR with the leader's log; bounded.
    let mut converged = Err(String::new());
    for step in 0..CONVERGE_STEPS_MAX {
        sim.step(false);
        sim.check_acknowledged()
            .map_err(|e| failure(&sim, seed, &e))?;
        if step % 100 == 99 {
            converged = sim.check_converged();
            if converged.is_ok() {
                break;
            }
        }
    }
    converged.map_err(|e| failure(&sim, seed, &e))?;
    Ok(sim.acked.len())
}

fn failure(sim: &Sim, seed: u64, error: &str) -> String {
    let trace: Vec<&str> = sim.trace.iter().map(String::as_str).collect();
    format!(
        "seed {seed}: {error}\nreplay: VLTAVA_SIM_SEED={seed} cargo test --release -p vltava-broker --test replication_simulation -- --nocapture\nlast steps:\n  {}",
        trace.join("\n  ")
    )
}

#[test]
fn seeded_replication_schedules_never_lose_an_acknowledged_record() {
    if let Some(seed) = std::env::var("VLTAVA_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        match run(seed, true) {
            Ok(acked) => println!("seed {seed}: {acked} records acknowledged, none lost"),
            Err(error) => panic!("{error}"),
        }
        return;
    }
    let seeds: u64 = std::env::var("VLTAVA_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let mut acked_total = 0;
    for seed in 0..seeds {
        match run(seed, false) {
            Ok(acked) => acked_total += acked,
            Err(error) => panic!("{error}"),
        }
    }
    // The schedules must exercise the protocol: acknowledgements happen despite the faults.
    assert!(
        acked_total > seeds as usize * 50,
        "only {acked_total} acknowledgements over {seeds} seeds"
    );
    println!("{seeds} seeds, {acked_total} acknowledged records, none lost");
}
