//! Broker registration and heartbeats (KIP-631's BrokerRegistration and BrokerHeartbeat), as
//! decisions on the image: the records to append and the answer the broker gets once they are
//! committed.
//!
//! Life of a broker: it registers (a new incarnation, a new broker epoch, fenced); it replays
//! the metadata log and heartbeats with the offset it reached; once that offset is past its
//! registration it is caught up and unfenced, and may lead. A broker whose heartbeats stop for
//! the session timeout is fenced and its leaderships move. A broker that wants to shut down
//! hands its leaderships over first (controlled shutdown), then is told it may stop.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ControllerError;
use super::election::{Departure, led_by, remove_from_service, return_to_service};
use super::heartbeats::BrokerSessions;
use crate::image::{BrokerRegistration, MetadataImage};
use crate::records::{BrokerId, Endpoint, MetadataRecord, RegisterBroker};

/// Records to append and the answer to give once they are committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<A> {
    pub records: Vec<MetadataRecord>,
    pub answer: A,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistrationRequest {
    pub broker_id: BrokerId,
    pub incarnation_id: Uuid,
    pub endpoints: Vec<Endpoint>,
    pub rack: Option<String>,
    /// The ids of the broker's log directories, as its `meta.json` keeps them.
    #[serde(default)]
    pub log_dirs: Vec<Uuid>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    pub broker_id: BrokerId,
    pub broker_epoch: i64,
    /// The metadata offset the broker has replayed.
    pub metadata_offset: i64,
    pub want_fence: bool,
    pub want_shutdown: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatAnswer {
    pub is_caught_up: bool,
    pub is_fenced: bool,
    pub should_shutdown: bool,
}

/// The broker epoch of a registration decided on `image`: the decision's records land in a
/// log entry after `image.offset`, and decisions are made one at a time, so it is unique and
/// increasing like Kafka's (the registration record's offset).
fn next_broker_epoch(image: &MetadataImage) -> i64 {
    image.offset + 1
}

/// How long the controller listener of a broker this controller has never heard from (it
/// became active since) must have refused connections before it counts as gone: several Raft
/// heartbeats (every 50 ms), any successful one of which clears a live peer's refusals. A
/// controller that takes over from a dead one thus fences its broker at once: the refusals
/// began when it asked for votes.
pub const REFUSED_UNHEARD_MS: u64 = 200;

pub fn register(
    image: &MetadataImage,
    sessions: &mut BrokerSessions,
    now_ms: u64,
    request: RegistrationRequest,
) -> Result<Decision<i64>, ControllerError> {
    let existing = image.brokers.get(&request.broker_id);
    if let Some(existing) = existing {
        if existing.incarnation_id == request.incarnation_id {
            // A retried registration: the same answer, nothing new.
            sessions.heard(request.broker_id, now_ms);
            return Ok(Decision {
                records: Vec::new(),
                answer: existing.broker_epoch,
            });
        }
        if !existing.fenced && sessions.alive(request.broker_id, now_ms) {
            return Err(ControllerError::DuplicateBrokerRegistration(
                request.broker_id,
            ));
        }
    }
    let broker_epoch = next_broker_epoch(image);
    let mut records = Vec::new();
    let this_broker = BTreeSet::from([request.broker_id]);
    if let Some(lost) = existing.and_then(|b| lost_log_dir(b, &request)) {
        // Its replicas are empty now, whatever the ISRs say: it must not lead, nor count
        // towards acks=all, before it has fetched everything again.
        tracing::warn!(
            broker = request.broker_id,
            %lost,
            "a broker registered without a log directory it had: it leaves every ISR until it has caught up again"
        );
        records.extend(remove_from_service(
            image,
            &this_broker,
            Departure::LostItsLog,
        ));
    } else if existing.is_some_and(|b| !b.fenced) {
        // The previous incarnation is gone (restarted faster than its session expired): its
        // leaderships move before the new incarnation's registration fences the id.
        records.extend(remove_from_service(
            image,
            &this_broker,
            Departure::WithItsLog,
        ));
    }
    records.push(MetadataRecord::RegisterBroker(RegisterBroker {
        broker_id: request.broker_id,
        incarnation_id: request.incarnation_id,
        broker_epoch,
        endpoints: request.endpoints,
        rack: request.rack,
        log_dirs: request.log_dirs,
        fenced: true,
        in_controlled_shutdown: false,
    }));
    sessions.heard(request.broker_id, now_ms);
    Ok(Decision {
        records,
        answer: broker_epoch,
    })
}

/// A log directory the broker's previous registration had and this one lacks.
fn lost_log_dir(previous: &BrokerRegistration, request: &RegistrationRequest) -> Option<Uuid> {
    previous
        .log_dirs
        .iter()
        .copied()
        .find(|dir| !request.log_dirs.contains(dir))
}

/// The broker's registration, if `broker_epoch` is its current one.
pub(crate) fn current(
    image: &MetadataImage,
    broker_id: BrokerId,
    broker_epoch: i64,
) -> Result<&BrokerRegistration, ControllerError> {
    let broker = image
        .brokers
        .get(&broker_id)
        .ok_or(ControllerError::BrokerNotRegistered(broker_id))?;
    if broker.broker_epoch != broker_epoch {
        return Err(ControllerError::StaleBrokerEpoch {
            broker_id,
            got: broker_epoch,
        });
    }
    Ok(broker)
}

fn change(
    broker: &BrokerRegistration,
    fenced: Option<bool>,
    shutdown: Option<bool>,
) -> MetadataRecord {
    MetadataRecord::BrokerRegistrationChange {
        broker_id: broker.broker_id,
        broker_epoch: broker.broker_epoch,
        fenced,
        in_controlled_shutdown: shutdown,
    }
}

pub fn heartbeat(
    image: &MetadataImage,
    sessions: &mut BrokerSessions,
    now_ms: u64,
    request: HeartbeatRequest,
) -> Result<Decision<HeartbeatAnswer>, ControllerError> {
    let broker = current(image, request.broker_id, request.broker_epoch)?;
    sessions.heard(request.broker_id, now_ms);
    let is_caught_up = request.metadata_offset >= broker.broker_epoch;
    let out_of_service = BTreeSet::from([broker.broker_id]);
    let (records, is_fenced, should_shutdown) = if request.want_shutdown {
        let mut records = Vec::new();
        if !broker.in_controlled_shutdown && !broker.fenced {
            records.push(change(broker, None, Some(true)));
            records.extend(remove_from_service(
                image,
                &out_of_service,
                Departure::WithItsLog,
            ));
        }
        // It may stop once it leads nothing: now, or after the records above commit.
        let leads_after = if records.is_empty() {
            led_by(image, broker.broker_id)
        } else {
            0
        };
        (records, broker.fenced, broker.fenced || leads_after == 0)
    } else if broker.fenced && is_caught_up && !request.want_fence {
        let mut records = vec![change(broker, Some(false), None)];
        records.extend(return_to_service(image, broker.broker_id));
        (records, false, false)
    } else if !broker.fenced && request.want_fence {
        let mut records = vec![change(broker, Some(true), None)];
        records.extend(remove_from_service(
            image,
            &out_of_service,
            Departure::WithItsLog,
        ));
        (records, true, false)
    } else {
        (Vec::new(), broker.fenced, false)
    };
    Ok(Decision {
        records,
        answer: HeartbeatAnswer {
            is_caught_up,
            is_fenced,
            should_shutdown,
        },
    })
}

/// The cluster id: the one the image has, or `proposed` (recorded now) when it has none.
pub fn claim_cluster_id(image: &MetadataImage, proposed: String) -> Decision<String> {
    match &image.cluster_id {
        Some(agreed) => Decision {
            records: Vec::new(),
            answer: agreed.clone(),
        },
        None => Decision {
            records: vec![MetadataRecord::ClusterId {
                cluster_id: proposed.clone(),
            }],
            answer: proposed,
        },
    }
}

/// Fences every unfenced broker whose session expired, moving its leaderships, and every one
/// whose process is gone: `refused_since` has, for brokers whose controller listener refuses
/// connections (nothing listens there), since when on the controller's clock.
pub fn fence_expired(
    image: &MetadataImage,
    sessions: &BrokerSessions,
    now_ms: u64,
    active_since_ms: u64,
    refused_since: &BTreeMap<BrokerId, u64>,
) -> Vec<MetadataRecord> {
    let live = image.live_brokers().map(|b| b.broker_id);
    let mut expired = sessions.expired(live, now_ms, active_since_ms);
    // Refused since after its last heartbeat: the process that sent it has died, so the
    // broker is fenced at once instead of after its session. A paused or cut-off process
    // does not refuse (it times out), and a new incarnation heard from after the refusals
    // began is not the one that died. A controller that never heard from the broker (it
    // became active since) fences it once the refusals have lasted a heartbeat interval.
    expired.extend(refused_since.iter().filter_map(|(&b, &since)| {
        let died = sessions
            .heard_before(b, since)
            .unwrap_or(now_ms.saturating_sub(since) >= REFUSED_UNHEARD_MS);
        (image.live_broker(b).is_some() && died).then_some(b)
    }));
    if expired.is_empty() {
        return Vec::new();
    }
    let mut records: Vec<MetadataRecord> = expired
        .iter()
        .filter_map(|id| image.brokers.get(id))
        .map(|broker| change(broker, Some(true), None))
        .collect();
    records.extend(remove_from_service(image, &expired, Departure::WithItsLog));
    records
}
