//! JoinGroup and SyncGroup requests that wait for other members, parked under the key the
//! coordinator names them by, and answered when a [`Completion`] for that key comes back.

use std::collections::HashMap;

use tokio::sync::oneshot;
use vltava_group::{Completion, GroupError, GroupId, JoinResult, MemberId, SyncResult};

type Key = (GroupId, MemberId);
pub(super) type Answer<T> = oneshot::Receiver<Result<T, GroupError>>;

#[derive(Debug, Default)]
pub(super) struct Parked {
    joins: HashMap<Key, oneshot::Sender<Result<JoinResult, GroupError>>>,
    syncs: HashMap<Key, oneshot::Sender<Result<SyncResult, GroupError>>>,
}

impl Parked {
    /// Parks a join. A join already parked for the member is dropped: its waiter is answered
    /// with an error (its client gave up on it and sent this one).
    pub(super) fn park_join(
        &mut self,
        group_id: GroupId,
        member_id: MemberId,
    ) -> Answer<JoinResult> {
        let (sender, receiver) = oneshot::channel();
        self.joins.insert((group_id, member_id), sender);
        receiver
    }

    pub(super) fn park_sync(
        &mut self,
        group_id: GroupId,
        member_id: MemberId,
    ) -> Answer<SyncResult> {
        let (sender, receiver) = oneshot::channel();
        self.syncs.insert((group_id, member_id), sender);
        receiver
    }

    /// Answers every request parked for a group `moved` names with NOT_COORDINATOR: the
    /// group's coordinator is elsewhere now, and its client must find it.
    pub(super) fn fail_moved(&mut self, moved: impl Fn(&GroupId) -> bool) {
        let gone = |key: &Key| moved(&key.0);
        for (_, waiter) in self.joins.extract_if(|key, _| gone(key)) {
            let _ = waiter.send(Err(GroupError::NotCoordinator));
        }
        for (_, waiter) in self.syncs.extract_if(|key, _| gone(key)) {
            let _ = waiter.send(Err(GroupError::NotCoordinator));
        }
    }

    /// Answers the parked requests in the order the coordinator completed them. A completion
    /// for a request that is no longer parked (its connection closed) is dropped.
    pub(super) fn deliver(&mut self, completions: Vec<Completion>) {
        for completion in completions {
            match completion {
                Completion::Join {
                    group_id,
                    member_id,
                    result,
                } => {
                    if let Some(waiter) = self.joins.remove(&(group_id, member_id)) {
                        let _ = waiter.send(result);
                    }
                }
                Completion::Sync {
                    group_id,
                    member_id,
                    result,
                } => {
                    if let Some(waiter) = self.syncs.remove(&(group_id, member_id)) {
                        let _ = waiter.send(result);
                    }
                }
            }
        }
    }
}

/// What a parked request answers when its waiter was replaced by a newer request of the same
/// member: the client is no longer listening for it, but its connection still needs an answer
/// to keep responses in order.
const SUPERSEDED: GroupError = GroupError::RebalanceInProgress;

/// A request's answer: ready now, or parked until a completion.
pub(super) enum Waiter<T> {
    Ready(Result<T, GroupError>),
    Parked(Answer<T>),
}

impl<T> Waiter<T> {
    pub(super) async fn answer(self) -> Result<T, GroupError> {
        match self {
            Waiter::Ready(answer) => answer,
            Waiter::Parked(receiver) => receiver.await.unwrap_or(Err(SUPERSEDED)),
        }
    }
}
