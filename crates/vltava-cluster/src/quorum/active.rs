//! The active controller: the voter that leads the quorum takes broker registrations,
//! heartbeats and admin decisions one at a time, each decided on an image that includes every
//! earlier decision (`controller/` has the decisions), appends the records, and answers once
//! they are applied. It also fences brokers whose sessions expire. On a voter that does not
//! lead, requests are answered `NotController` with the leader, and [`ControllerClient`]
//! forwards them there.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, Raft, ServerState};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::status::{PeerContacts, QuorumStatus, quorum_status};
use super::{MetadataBatch, MetadataRaft, NodeId};
use crate::controller::ControllerError;
use crate::controller::brokers::{
    Decision, HeartbeatAnswer, HeartbeatRequest, RegistrationRequest, claim_cluster_id,
    fence_expired, heartbeat, register,
};
use crate::controller::heartbeats::BrokerSessions;
use crate::controller::producer_ids::{ProducerIdBlock, allocate_producer_ids};
use crate::controller::topics::{
    NewTopic, create_partitions, create_topic, delete_topic, set_configs,
};
use crate::image::MetadataImage;
use crate::records::{ConfigResource, MetadataRecord};

/// How often the active controller looks for brokers to fence: a broker whose process is gone
/// is fenced within this of missing a heartbeat.
const FENCE_CHECK_INTERVAL_MS: u64 = 100;
/// Requests waiting for the active controller; more wait in the callers (bounded).
const QUEUED_REQUESTS_MAX: usize = 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ControllerRequest {
    RegisterBroker(RegistrationRequest),
    BrokerHeartbeat(HeartbeatRequest),
    CreateTopic(NewTopic),
    DeleteTopic {
        name: String,
    },
    CreatePartitions {
        name: String,
        count: i32,
        /// The new partitions' replicas as the client named them; empty: placed.
        #[serde(default)]
        assignments: Vec<Vec<crate::records::BrokerId>>,
    },
    SetConfigs {
        resource: ConfigResource,
        configs: BTreeMap<String, String>,
    },
    /// AlterUserScramCredentials: the broker has validated each change; recorded as they are.
    AlterScramCredentials {
        upsertions: Vec<crate::scram::ScramCredential>,
        deletions: Vec<(String, crate::scram::ScramMechanism)>,
    },
    /// CreateAcls: the broker has validated each ACL and given it an id; one already present
    /// is not added twice (Kafka's `AclControlManager`).
    CreateAcls(Vec<(uuid::Uuid, crate::acl::AclBinding)>),
    /// DeleteAcls: the ids the broker's filters matched; ids already gone are skipped.
    DeleteAcls(Vec<uuid::Uuid>),
    /// AlterClientQuotas: the broker has checked each change (`None` removes the key).
    AlterClientQuotas(
        Vec<(
            crate::quotas::QuotaEntity,
            String,
            Option<crate::quotas::QuotaValue>,
        )>,
    ),
    /// DescribeQuorum: answered by the leader, from its Raft state; changes nothing.
    DescribeQuorum,
    AllocateProducerIds {
        broker_id: i32,
        broker_epoch: i64,
        at_least: i64,
    },
    /// ElectLeaders: partitions by topic id.
    ElectLeaders {
        election_type: crate::controller::elect_leaders::ElectionType,
        partitions: Vec<(uuid::Uuid, i32)>,
    },
    /// AlterPartitionReassignments: partitions by topic id.
    AlterReassignments(Vec<crate::controller::reassignment::Reassignment>),
    /// A leader changes its partition's ISR (AlterPartition).
    AlterPartition(crate::controller::isr::AlterPartition),
    /// The cluster's id, agreed on first use (`proposed` wins if none is recorded yet).
    ClaimClusterId {
        proposed: String,
    },
    /// A broker that is not a voter asks to follow the metadata log (a Raft learner, KRaft's
    /// observer): the leader replicates to its controller listener at `address`.
    AddObserver {
        node_id: NodeId,
        address: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControllerAnswer {
    Registered {
        broker_epoch: i64,
    },
    Heartbeat(HeartbeatAnswer),
    /// An admin decision is committed and applied at this metadata offset: a broker that
    /// waits until its image reaches it sees the change.
    Committed {
        offset: i64,
    },
    Quorum(QuorumStatus),
    ProducerIds(ProducerIdBlock),
    ClusterId(String),
    /// ElectLeaders' outcome per partition, in the request's order, applied at `offset`.
    Elected {
        offset: i64,
        outcomes: Vec<crate::controller::elect_leaders::ElectionOutcome>,
    },
    /// Each reassignment's result, in the request's order, applied at `offset`.
    Reassigned {
        offset: i64,
        results: Vec<Result<(), ControllerError>>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ControllerFailure {
    #[error(transparent)]
    Refused(#[from] ControllerError),
    /// NOT_CONTROLLER: ask `leader` (unknown during an election).
    #[error("this node is not the active controller (leader: {leader:?})")]
    NotController { leader: Option<NodeId> },
    /// The quorum could not commit the decision (no majority, shutting down).
    #[error("the controller quorum is unavailable: {0}")]
    Unavailable(String),
}

pub type ControllerResult = Result<ControllerAnswer, ControllerFailure>;

/// Hands requests to the local active-controller task.
#[derive(Debug, Clone)]
pub struct ControllerService {
    queue: mpsc::Sender<(ControllerRequest, oneshot::Sender<ControllerResult>)>,
}

impl ControllerService {
    pub fn start(
        raft: Raft<MetadataRaft>,
        images: watch::Receiver<Arc<MetadataImage>>,
        session_timeout_ms: u64,
        leader_balance_interval: Option<Duration>,
        contacts: PeerContacts,
    ) -> (ControllerService, JoinHandle<()>) {
        let (queue, requests) = mpsc::channel(QUEUED_REQUESTS_MAX);
        let active = Active {
            raft,
            images,
            sessions: BrokerSessions::new(session_timeout_ms),
            clock: Instant::now(),
            active_since_ms: None,
            active_term: None,
            contacts,
        };
        let task = tokio::spawn(active.run(requests, session_timeout_ms, leader_balance_interval));
        (ControllerService { queue }, task)
    }

    pub async fn call(&self, request: ControllerRequest) -> ControllerResult {
        let (reply, answer) = oneshot::channel();
        let stopped = || ControllerFailure::Unavailable("the controller is stopping".into());
        self.queue
            .send((request, reply))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

struct Active {
    raft: Raft<MetadataRaft>,
    images: watch::Receiver<Arc<MetadataImage>>,
    sessions: BrokerSessions,
    clock: Instant,
    /// Since when this voter has led, on the controller's clock; `None` while it does not.
    active_since_ms: Option<u64>,
    /// The Raft term this voter has led in since `active_since_ms`.
    active_term: Option<u64>,
    contacts: PeerContacts,
}

impl Active {
    async fn run(
        mut self,
        mut requests: mpsc::Receiver<(ControllerRequest, oneshot::Sender<ControllerResult>)>,
        session_timeout_ms: u64,
        leader_balance_interval: Option<Duration>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_millis(
            (session_timeout_ms / 4).clamp(10, FENCE_CHECK_INTERVAL_MS),
        ));
        // Disabled: an interval that never comes round (a day, re-armed).
        let balancing = leader_balance_interval.is_some();
        let mut balance = tokio::time::interval_at(
            tokio::time::Instant::now()
                + leader_balance_interval.unwrap_or(Duration::from_secs(86_400)),
            leader_balance_interval.unwrap_or(Duration::from_secs(86_400)),
        );
        loop {
            tokio::select! {
                request = requests.recv() => {
                    let Some((request, reply)) = request else { return };
                    let answer = self.handle(request).await;
                    let _ = reply.send(answer);
                }
                _ = tick.tick() => {
                    if let Err(error) = self.fence_expired_sessions().await {
                        tracing::debug!(%error, "fencing expired sessions");
                    }
                }
                _ = balance.tick(), if balancing => {
                    if let Err(error) = self.balance_leaders().await {
                        tracing::debug!(%error, "giving partitions back to their preferred leaders");
                    }
                }
            }
        }
    }

    fn now_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    /// Checks this voter leads and has applied everything committed before deciding; starts
    /// every broker session afresh when it has just become the leader.
    async fn lead(&mut self) -> Result<Arc<MetadataImage>, ControllerFailure> {
        let metrics = self.raft.metrics().borrow().clone();
        if metrics.state != ServerState::Leader {
            self.active_since_ms = None;
            return Err(ControllerFailure::NotController {
                leader: metrics.current_leader,
            });
        }
        if let Err(error) = self.raft.ensure_linearizable().await {
            return Err(ControllerFailure::NotController {
                leader: error.forward_to_leader().and_then(|f| f.leader_id),
            });
        }
        if self.active_since_ms.is_none() || self.active_term != Some(metrics.current_term) {
            // Leading anew (perhaps again, after another voter led): the sessions heard in an
            // earlier term are stale, since heartbeats went elsewhere meanwhile, and would
            // fence every broker at once. Every session starts afresh from now.
            self.sessions.forget_all();
            self.active_term = Some(metrics.current_term);
            self.active_since_ms = Some(self.now_ms());
        }
        Ok(self.images.borrow().clone())
    }

    async fn handle(&mut self, request: ControllerRequest) -> ControllerResult {
        let image = self.lead().await?;
        let now = self.now_ms();
        let sessions = &mut self.sessions;
        let decision = match request {
            ControllerRequest::DescribeQuorum => {
                let metrics = self.raft.metrics().borrow().clone();
                let status = quorum_status(&metrics, &self.contacts);
                return Ok(ControllerAnswer::Quorum(status));
            }
            ControllerRequest::AddObserver { node_id, address } => {
                return self.add_observer(node_id, address).await;
            }
            ControllerRequest::RegisterBroker(r) => register(&image, sessions, now, r).map(|d| {
                answer(d, |broker_epoch| ControllerAnswer::Registered {
                    broker_epoch,
                })
            }),
            ControllerRequest::BrokerHeartbeat(r) => {
                heartbeat(&image, sessions, now, r).map(|d| answer(d, ControllerAnswer::Heartbeat))
            }
            ControllerRequest::CreateTopic(t) => create_topic(&image, t).map(committed),
            ControllerRequest::DeleteTopic { name } => delete_topic(&image, &name).map(committed),
            ControllerRequest::CreatePartitions {
                name,
                count,
                assignments,
            } => create_partitions(&image, &name, count, assignments).map(committed),
            ControllerRequest::SetConfigs { resource, configs } => {
                set_configs(&image, resource, configs).map(committed)
            }
            ControllerRequest::AlterScramCredentials {
                upsertions,
                deletions,
            } => Ok(committed(
                deletions
                    .into_iter()
                    .map(
                        |(user, mechanism)| MetadataRecord::RemoveUserScramCredential {
                            user,
                            mechanism,
                        },
                    )
                    .chain(
                        upsertions
                            .into_iter()
                            .map(MetadataRecord::UserScramCredential),
                    )
                    .collect(),
            )),
            ControllerRequest::CreateAcls(acls) => Ok(committed(create_acls(&image, acls))),
            ControllerRequest::AlterClientQuotas(changes) => Ok(committed(
                changes
                    .into_iter()
                    .map(|(entity, key, value)| MetadataRecord::ClientQuota { entity, key, value })
                    .collect(),
            )),
            ControllerRequest::DeleteAcls(ids) => Ok(committed(
                ids.into_iter()
                    .filter(|id| image.acls.contains_key(id))
                    .map(|id| MetadataRecord::RemoveAccessControlEntry { id })
                    .collect(),
            )),
            ControllerRequest::ElectLeaders {
                election_type,
                partitions,
            } => Ok(answer(
                crate::controller::elect_leaders::elect_leaders(&image, election_type, &partitions),
                |outcomes| ControllerAnswer::Elected {
                    offset: -1,
                    outcomes,
                },
            )),
            ControllerRequest::AlterReassignments(reassignments) => Ok(answer(
                crate::controller::reassignment::alter_reassignments(&image, &reassignments),
                |results| ControllerAnswer::Reassigned {
                    offset: -1,
                    results,
                },
            )),
            ControllerRequest::AlterPartition(request) => {
                crate::controller::isr::alter_partition(&image, request).map(committed)
            }
            ControllerRequest::ClaimClusterId { proposed } => Ok(answer(
                claim_cluster_id(&image, proposed),
                ControllerAnswer::ClusterId,
            )),
            ControllerRequest::AllocateProducerIds {
                broker_id,
                broker_epoch,
                at_least,
            } => allocate_producer_ids(&image, broker_id, broker_epoch, at_least)
                .map(|d| answer(d, ControllerAnswer::ProducerIds)),
        }?;
        let offset = self.commit(decision.records).await?;
        Ok(match decision.answer {
            ControllerAnswer::Committed { .. } => ControllerAnswer::Committed { offset },
            ControllerAnswer::Elected { outcomes, .. } => {
                ControllerAnswer::Elected { offset, outcomes }
            }
            ControllerAnswer::Reassigned { results, .. } => {
                ControllerAnswer::Reassigned { offset, results }
            }
            other => other,
        })
    }

    /// Makes `node_id` a learner at `address`, unless it already is one there. Not blocking:
    /// the broker catches up from the log (or a snapshot) on its own, and is unfenced once its
    /// heartbeats say it has.
    async fn add_observer(&mut self, node_id: NodeId, address: String) -> ControllerResult {
        let image = self.lead().await?;
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        if membership.voter_ids().any(|id| id == node_id) {
            return Err(ControllerFailure::Unavailable(format!(
                "node {node_id} is a voter, not an observer"
            )));
        }
        let known = membership
            .get_node(&node_id)
            .is_some_and(|node| node.addr == address);
        if !known {
            tracing::info!(node_id, %address, "adding a metadata log observer");
            match self
                .raft
                .add_learner(node_id, BasicNode::new(address), false)
                .await
            {
                Ok(_) => {}
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                    return Err(ControllerFailure::NotController {
                        leader: f.leader_id,
                    });
                }
                Err(error) => return Err(ControllerFailure::Unavailable(error.to_string())),
            }
        }
        Ok(ControllerAnswer::Committed {
            offset: image.offset,
        })
    }

    /// `auto.leader.rebalance.enable`: partitions led by another replica than their first one
    /// go back to it where it is in the ISR and may lead (a preferred election each).
    async fn balance_leaders(&mut self) -> Result<(), ControllerFailure> {
        if self.raft.metrics().borrow().state != ServerState::Leader {
            return Ok(());
        }
        let image = self.lead().await?;
        let records = crate::controller::elect_leaders::balance_leaders(&image);
        if !records.is_empty() {
            tracing::info!(
                partitions = records.len(),
                "giving partitions back to their preferred leaders"
            );
            self.commit(records).await?;
        }
        Ok(())
    }

    async fn fence_expired_sessions(&mut self) -> Result<(), ControllerFailure> {
        if self.raft.metrics().borrow().state != ServerState::Leader {
            self.active_since_ms = None;
            return Ok(());
        }
        // Nodes whose controller listener refuses connections (their process is gone), with
        // since when on this controller's clock.
        let now = self.now_ms();
        let gone: BTreeMap<i32, u64> = self
            .contacts
            .refusing()
            .into_iter()
            .filter_map(|(node, ago)| Some((i32::try_from(node).ok()?, now.saturating_sub(ago))))
            .collect();
        // The linearizable read only when a broker is due (or on becoming active, which
        // starts the sessions): this runs every FENCE_CHECK_INTERVAL_MS.
        if let Some(since) = self.active_since_ms {
            let image = self.images.borrow().clone();
            let now = self.now_ms();
            let due = fence_expired(&image, &self.sessions, now, since, &gone);
            if due.is_empty() {
                return Ok(());
            }
        }
        let image = self.lead().await?;
        let since = self.active_since_ms.unwrap_or(0);
        let now = self.now_ms();
        let records = fence_expired(&image, &self.sessions, now, since, &gone);
        if !records.is_empty() {
            tracing::info!(
                records = records.len(),
                "fencing brokers whose sessions expired"
            );
        }
        self.commit(records).await.map(|_| ())
    }

    /// Appends `records` as one batch and waits until it is applied; the applied offset.
    async fn commit(&self, records: Vec<MetadataRecord>) -> Result<i64, ControllerFailure> {
        if records.is_empty() {
            return Ok(self.images.borrow().offset);
        }
        log_broker_changes(&records);
        match self.raft.client_write(MetadataBatch { records }).await {
            Ok(response) => Ok(response.data.offset),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(ControllerFailure::NotController {
                    leader: f.leader_id,
                })
            }
            Err(error) => Err(ControllerFailure::Unavailable(error.to_string())),
        }
    }
}

/// Registrations and fencing decisions are rare and explain every leadership move: logged as
/// Kafka's controller logs them.
fn log_broker_changes(records: &[MetadataRecord]) {
    for record in records {
        match record {
            MetadataRecord::RegisterBroker(r) => {
                tracing::info!(
                    broker = r.broker_id,
                    broker_epoch = r.broker_epoch,
                    "registering broker"
                )
            }
            MetadataRecord::BrokerRegistrationChange {
                broker_id,
                broker_epoch,
                fenced,
                in_controlled_shutdown,
            } => tracing::info!(
                broker = broker_id,
                broker_epoch,
                ?fenced,
                ?in_controlled_shutdown,
                "changing broker registration"
            ),
            _ => {}
        }
    }
}

/// An admin decision: answered with the offset it is applied at, once committed.
fn create_acls(
    image: &MetadataImage,
    acls: Vec<(uuid::Uuid, crate::acl::AclBinding)>,
) -> Vec<MetadataRecord> {
    let mut seen: BTreeSet<crate::acl::AclBinding> = image.acls.values().cloned().collect();
    acls.into_iter()
        .filter(|(_, acl)| seen.insert(acl.clone()))
        .map(|(id, acl)| MetadataRecord::AccessControlEntry { id, acl })
        .collect()
}

fn committed(records: Vec<MetadataRecord>) -> Decision<ControllerAnswer> {
    Decision {
        records,
        answer: ControllerAnswer::Committed { offset: -1 },
    }
}

fn answer<A>(
    decision: Decision<A>,
    wrap: impl FnOnce(A) -> ControllerAnswer,
) -> Decision<ControllerAnswer> {
    Decision {
        records: decision.records,
        answer: wrap(decision.answer),
    }
}
