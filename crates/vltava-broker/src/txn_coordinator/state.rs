//! The transaction coordinator's state machine (Kafka's `TransactionMetadata` and the
//! transitions `TransactionCoordinator` makes), pure: time is passed in, nothing is written.
//!
//! Validate, then commit: every request is decided into a [`Transition`], the metadata to
//! write to `__transaction_state`; while it is being written the transactional id is
//! *pending* and other requests for it are CONCURRENT_TRANSACTIONS (the client retries). Once
//! durable the caller applies it; if the write fails, abandons it.

use std::collections::{BTreeSet, HashMap};

/// Kafka's `TransactionState`, with its ids (the status byte of the log value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TxnState {
    pub fn code(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    pub fn from_code(code: i8) -> Option<TxnState> {
        Some(match code {
            0 => TxnState::Empty,
            1 => TxnState::Ongoing,
            2 => TxnState::PrepareCommit,
            3 => TxnState::PrepareAbort,
            4 => TxnState::CompleteCommit,
            5 => TxnState::CompleteAbort,
            6 => TxnState::Dead,
            7 => TxnState::PrepareEpochFence,
            _ => return None,
        })
    }

    /// The name DescribeTransactions and ListTransactions report (Kafka's `stateName`).
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    fn can_start_new(self) -> bool {
        matches!(
            self,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        )
    }
}

/// One transactional id's state, as `__transaction_state` stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    /// (topic, partition) in the transaction; empty unless Ongoing or Prepare*.
    pub partitions: BTreeSet<(String, i32)>,
    pub last_update_ms: i64,
    /// When the transaction began (its first AddPartitions); -1 without one.
    pub start_ms: i64,
}

/// Why a request is refused: Kafka's error for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    #[error(
        "The transaction timeout is larger than the maximum value allowed by the broker (as configured by transaction.max.timeout.ms)."
    )]
    InvalidTransactionTimeout,
    #[error(
        "The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing."
    )]
    ConcurrentTransactions,
    #[error(
        "There is a newer producer with the same transactionalId which fences the current one."
    )]
    ProducerFenced,
    #[error(
        "The producer attempted to use a producer id which is not currently assigned to its transactional id."
    )]
    InvalidProducerIdMapping,
    #[error("The producer attempted a transactional operation in an invalid state.")]
    InvalidTxnState,
}

/// Limits of the coordinator (Kafka's broker configs).
#[derive(Debug, Clone, Copy)]
pub struct TxnLimits {
    /// `transaction.max.timeout.ms`.
    pub max_timeout_ms: i32,
}

/// Epochs run up to here; the next bump takes a new producer id (Kafka's
/// `Short.MAX_VALUE - 1`, keeping MAX_VALUE for the fencing bump).
const EPOCH_MAX: i16 = i16::MAX - 1;

/// What InitProducerId needs done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitDecision {
    /// The transactional id is new, or its epochs ran out: allocate a producer id and ask
    /// again with it.
    NeedsProducerId,
    /// Write this; the producer gets its id and epoch.
    Write(TxnMetadata),
    /// An open transaction of an older instance: abort it (epoch bumped, which fences the
    /// zombie), then the client retries (it is answered CONCURRENT_TRANSACTIONS).
    AbortFirst(TxnMetadata),
}

/// Kafka's transaction version (the `transaction.version` feature, KIP-890 part 2) a request
/// speaks: version 2 clients send EndTxn v5+, Produce v12+ and TxnOffsetCommit v5+, add
/// partitions implicitly by writing to them, and take a new epoch from every EndTxn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnVersion {
    V1,
    V2,
}

/// EndTxn's decision: the Prepare transition to write (`None` when there is none), and the
/// producer id and epoch to answer.
pub type EndAnswer = Result<(Option<TxnMetadata>, ProducerRef), TxnError>;

/// The request's producer id and epoch, as it claims them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerRef {
    pub producer_id: i64,
    pub epoch: i16,
}

#[derive(Debug, Default)]
pub struct Transactions {
    txns: HashMap<String, TxnMetadata>,
    /// Transactional ids with a transition being written.
    pending: BTreeSet<String>,
}

impl Transactions {
    pub fn get(&self, transactional_id: &str) -> Option<&TxnMetadata> {
        self.txns.get(transactional_id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &TxnMetadata> {
        self.txns.values()
    }

    /// Marks the id as being written; CONCURRENT_TRANSACTIONS if it already is.
    fn begin(&mut self, transactional_id: &str) -> Result<(), TxnError> {
        match self.pending.insert(transactional_id.to_string()) {
            true => Ok(()),
            false => Err(TxnError::ConcurrentTransactions),
        }
    }

    /// The transition is durable: it is the state now.
    pub fn apply(&mut self, metadata: TxnMetadata) {
        self.pending.remove(&metadata.transactional_id);
        self.txns
            .insert(metadata.transactional_id.clone(), metadata);
    }

    /// The transition was not written: the id is free again, its state unchanged.
    pub fn abandon(&mut self, transactional_id: &str) {
        self.pending.remove(transactional_id);
    }

    /// A record replayed from the log (no pending marks: loading precedes serving).
    pub fn load(&mut self, transactional_id: String, metadata: Option<TxnMetadata>) {
        match metadata {
            Some(metadata) => self.txns.insert(transactional_id, metadata),
            None => self.txns.remove(&transactional_id),
        };
    }

    /// Forgets the ids for which `keep` is false (their partition is led elsewhere now).
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.txns.retain(|id, _| keep(id));
        self.pending.retain(|id| keep(id));
    }

    /// InitProducerId with a transactional id. `new_producer_id` is the id allocated after a
    /// `NeedsProducerId` answer. `expected` is KIP-360's producer id and epoch (v3+), when the
    /// client sends them to recover from an abortable error.
    pub fn init_producer_id(
        &mut self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<ProducerRef>,
        new_producer_id: Option<i64>,
        limits: TxnLimits,
        now_ms: i64,
    ) -> Result<InitDecision, TxnError> {
        if timeout_ms <= 0 || timeout_ms > limits.max_timeout_ms {
            return Err(TxnError::InvalidTransactionTimeout);
        }
        if self.pending.contains(transactional_id) {
            return Err(TxnError::ConcurrentTransactions);
        }
        let Some(current) = self.txns.get(transactional_id) else {
            let Some(producer_id) = new_producer_id else {
                return Ok(InitDecision::NeedsProducerId);
            };
            self.begin(transactional_id)?;
            return Ok(InitDecision::Write(TxnMetadata {
                transactional_id: transactional_id.to_string(),
                producer_id,
                producer_epoch: 0,
                timeout_ms,
                state: TxnState::Empty,
                partitions: BTreeSet::new(),
                last_update_ms: now_ms,
                start_ms: -1,
            }));
        };
        if let Some(expected) = expected
            && (expected.producer_id != current.producer_id
                || expected.epoch != current.producer_epoch)
        {
            return Err(TxnError::ProducerFenced);
        }
        match current.state {
            TxnState::Ongoing => {
                let mut next = current.clone();
                next.producer_epoch = next.producer_epoch.saturating_add(1);
                next.state = TxnState::PrepareAbort;
                next.last_update_ms = now_ms;
                self.begin(transactional_id)?;
                Ok(InitDecision::AbortFirst(next))
            }
            state if state.can_start_new() => {
                let mut next = current.clone();
                if current.producer_epoch >= EPOCH_MAX {
                    let Some(producer_id) = new_producer_id else {
                        return Ok(InitDecision::NeedsProducerId);
                    };
                    next.producer_id = producer_id;
                    next.producer_epoch = 0;
                } else {
                    next.producer_epoch += 1;
                }
                next.timeout_ms = timeout_ms;
                next.state = TxnState::Empty;
                next.partitions.clear();
                next.last_update_ms = now_ms;
                next.start_ms = -1;
                self.begin(transactional_id)?;
                Ok(InitDecision::Write(next))
            }
            // Markers are being written (Prepare*), or the id is being fenced/removed.
            _ => Err(TxnError::ConcurrentTransactions),
        }
    }

    /// The current metadata if `producer` owns the transactional id; Kafka's checks, in order.
    fn owned(
        &self,
        transactional_id: &str,
        producer: ProducerRef,
    ) -> Result<&TxnMetadata, TxnError> {
        let current = self
            .txns
            .get(transactional_id)
            .ok_or(TxnError::InvalidProducerIdMapping)?;
        if current.producer_id != producer.producer_id {
            return Err(TxnError::InvalidProducerIdMapping);
        }
        if current.producer_epoch != producer.epoch {
            return Err(TxnError::ProducerFenced);
        }
        if self.pending.contains(transactional_id) {
            return Err(TxnError::ConcurrentTransactions);
        }
        Ok(current)
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, whose partition is the group's offsets
    /// partition): `None` when every partition is in the transaction already.
    pub fn add_partitions(
        &mut self,
        transactional_id: &str,
        producer: ProducerRef,
        partitions: &BTreeSet<(String, i32)>,
        now_ms: i64,
    ) -> Result<Option<TxnMetadata>, TxnError> {
        let current = self.owned(transactional_id, producer)?;
        match current.state {
            TxnState::Ongoing if partitions.is_subset(&current.partitions) => return Ok(None),
            TxnState::Ongoing => {}
            state if state.can_start_new() => {}
            _ => return Err(TxnError::ConcurrentTransactions),
        }
        let mut next = current.clone();
        if next.state != TxnState::Ongoing {
            next.start_ms = now_ms;
            next.partitions.clear();
        }
        next.state = TxnState::Ongoing;
        next.partitions.extend(partitions.iter().cloned());
        next.last_update_ms = now_ms;
        self.begin(transactional_id)?;
        Ok(Some(next))
    }

    /// Checks that `producer` may write offsets in its ongoing transaction (TxnOffsetCommit).
    pub fn check_ongoing(
        &self,
        transactional_id: &str,
        producer: ProducerRef,
    ) -> Result<(), TxnError> {
        match self.owned(transactional_id, producer)?.state {
            TxnState::Ongoing => Ok(()),
            _ => Err(TxnError::InvalidTxnState),
        }
    }

    /// EndTxn of transaction version 1: the Prepare transition to write, or `None` for a
    /// retry of an end already done.
    pub fn end(
        &mut self,
        transactional_id: &str,
        producer: ProducerRef,
        commit: bool,
        now_ms: i64,
    ) -> Result<Option<TxnMetadata>, TxnError> {
        self.end_txn(transactional_id, producer, commit, TxnVersion::V1, now_ms)
            .map(|(next, _)| next)
    }

    /// EndTxn: the Prepare transition to write (`None` for a retry of an end already done),
    /// and the producer id and epoch the client goes on with. Under transaction version 2
    /// (KIP-890 part 2, EndTxn v5) every end bumps the epoch, which fences the transaction's
    /// late writes: the markers carry the new epoch and the client takes it from the answer.
    pub fn end_txn(
        &mut self,
        transactional_id: &str,
        producer: ProducerRef,
        commit: bool,
        version: TxnVersion,
        now_ms: i64,
    ) -> EndAnswer {
        if version == TxnVersion::V2
            && let Some(retried) = self.retried_end(transactional_id, producer, commit)
        {
            return retried;
        }
        let current = self.owned(transactional_id, producer)?;
        let next_state = match (current.state, commit, version) {
            (TxnState::Ongoing, true, _) => TxnState::PrepareCommit,
            (TxnState::Ongoing, false, _) => TxnState::PrepareAbort,
            (TxnState::CompleteCommit, true, TxnVersion::V1)
            | (TxnState::CompleteAbort, false, TxnVersion::V1) => return Ok((None, producer)),
            (TxnState::PrepareCommit, true, _) | (TxnState::PrepareAbort, false, _) => {
                return Err(TxnError::ConcurrentTransactions);
            }
            // Kafka lets a producer abort a transaction it never added anything to; under
            // version 2 that abort bumps the epoch too (the client takes the new one).
            (TxnState::Empty, false, TxnVersion::V1) => return Ok((None, producer)),
            (
                TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort,
                false,
                TxnVersion::V2,
            ) => TxnState::PrepareAbort,
            _ => return Err(TxnError::InvalidTxnState),
        };
        let mut next = current.clone();
        if version == TxnVersion::V2 {
            // Kafka moves to a new producer id here; vltava fences the producer instead,
            // whose next InitProducerId then gets a new id (see `init_producer_id`).
            if next.producer_epoch >= EPOCH_MAX {
                return Err(TxnError::ProducerFenced);
            }
            next.producer_epoch += 1;
        }
        if next.state != TxnState::Ongoing {
            next.partitions.clear();
        }
        next.state = next_state;
        next.last_update_ms = now_ms;
        self.begin(transactional_id)?;
        let answer = ProducerRef {
            producer_id: next.producer_id,
            epoch: next.producer_epoch,
        };
        Ok((Some(next), answer))
    }

    /// A version 2 EndTxn retried after its epoch bump was logged: it names the epoch before
    /// the bump. Done already: answered with the bumped epoch; still writing markers:
    /// CONCURRENT_TRANSACTIONS (the client retries). `None` when it is no such retry.
    fn retried_end(
        &self,
        transactional_id: &str,
        producer: ProducerRef,
        commit: bool,
    ) -> Option<EndAnswer> {
        let current = self.txns.get(transactional_id)?;
        if current.producer_id != producer.producer_id
            || producer.epoch.checked_add(1) != Some(current.producer_epoch)
        {
            return None;
        }
        let answer = ProducerRef {
            producer_id: current.producer_id,
            epoch: current.producer_epoch,
        };
        Some(match (current.state, commit) {
            _ if self.pending.contains(transactional_id) => Err(TxnError::ConcurrentTransactions),
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => {
                Ok((None, answer))
            }
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Err(TxnError::ConcurrentTransactions)
            }
            _ => Err(TxnError::ProducerFenced),
        })
    }

    /// The Complete transition after every marker of a Prepare state is written.
    pub fn complete(&mut self, transactional_id: &str, now_ms: i64) -> Option<TxnMetadata> {
        let current = self.txns.get(transactional_id)?;
        let state = match current.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            TxnState::PrepareAbort => TxnState::CompleteAbort,
            _ => return None,
        };
        let mut next = current.clone();
        next.state = state;
        next.partitions.clear();
        next.last_update_ms = now_ms;
        self.begin(transactional_id).ok()?;
        Some(next)
    }

    /// Ongoing transactions older than their timeout, as the PrepareAbort to write for each
    /// (epoch bumped, as Kafka does, so the producer is fenced rather than carrying on).
    pub fn timed_out(&mut self, now_ms: i64) -> Vec<TxnMetadata> {
        let expired: Vec<TxnMetadata> = self
            .txns
            .values()
            .filter(|t| {
                t.state == TxnState::Ongoing
                    && !self.pending.contains(&t.transactional_id)
                    && now_ms.saturating_sub(t.start_ms) > i64::from(t.timeout_ms)
            })
            .cloned()
            .collect();
        expired
            .into_iter()
            .filter_map(|mut next| {
                self.begin(&next.transactional_id).ok()?;
                next.producer_epoch = next.producer_epoch.saturating_add(1);
                next.state = TxnState::PrepareAbort;
                next.last_update_ms = now_ms;
                Some(next)
            })
            .collect()
    }

    /// Transactional ids with no transaction open or ending and no state change for
    /// `expiration_ms` (Kafka's `transactional.id.expiration.ms`), each marked as being
    /// written: their tombstones are to be written, then each [`Self::forget`]-ed (or
    /// [`Self::abandon`]-ed when its tombstone was not written).
    pub fn expired_ids(&mut self, now_ms: i64, expiration_ms: i64) -> Vec<String> {
        let idle: Vec<String> = self
            .txns
            .values()
            .filter(|t| {
                matches!(
                    t.state,
                    TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
                ) && !self.pending.contains(&t.transactional_id)
                    && now_ms.saturating_sub(t.last_update_ms) >= expiration_ms
            })
            .map(|t| t.transactional_id.clone())
            .collect();
        idle.into_iter()
            .filter(|id| self.begin(id).is_ok())
            .collect()
    }

    /// The id's tombstone is durable: it is gone, and its next InitProducerId starts afresh
    /// with a new producer id.
    pub fn forget(&mut self, transactional_id: &str) {
        self.pending.remove(transactional_id);
        self.txns.remove(transactional_id);
    }

    /// Transactions left in a Prepare state (loaded from the log): their markers must be
    /// (re)written and the transaction completed.
    pub fn preparing(&self) -> Vec<String> {
        self.txns
            .values()
            .filter(|t| matches!(t.state, TxnState::PrepareCommit | TxnState::PrepareAbort))
            .map(|t| t.transactional_id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]

    use super::*;

    const LIMITS: TxnLimits = TxnLimits {
        max_timeout_ms: 900_000,
    };

    fn parts(names: &[(&str, i32)]) -> BTreeSet<(String, i32)> {
        names.iter().map(|(t, p)| (t.to_string(), *p)).collect()
    }

    /// Inits "tx" with producer id 7 and applies it.
    fn initialised(txns: &mut Transactions) -> TxnMetadata {
        assert_eq!(
            txns.init_producer_id("tx", 60_000, None, None, LIMITS, 0),
            Ok(InitDecision::NeedsProducerId)
        );
        let Ok(InitDecision::Write(metadata)) =
            txns.init_producer_id("tx", 60_000, None, Some(7), LIMITS, 0)
        else {
            panic!("expected a write");
        };
        txns.apply(metadata.clone());
        metadata
    }

    fn producer(epoch: i16) -> ProducerRef {
        ProducerRef {
            producer_id: 7,
            epoch,
        }
    }

    #[test]
    fn a_timeout_above_the_maximum_is_refused() {
        let mut txns = Transactions::default();
        assert_eq!(
            txns.init_producer_id("tx", 900_001, None, None, LIMITS, 0),
            Err(TxnError::InvalidTransactionTimeout)
        );
    }

    #[test]
    fn a_new_instance_bumps_the_epoch_and_fences_the_old_one() {
        let mut txns = Transactions::default();
        let first = initialised(&mut txns);
        assert_eq!((first.producer_id, first.producer_epoch), (7, 0));
        let Ok(InitDecision::Write(second)) =
            txns.init_producer_id("tx", 60_000, None, None, LIMITS, 1)
        else {
            panic!("expected a write");
        };
        txns.apply(second.clone());
        assert_eq!((second.producer_id, second.producer_epoch), (7, 1));
        assert_eq!(
            txns.add_partitions("tx", producer(0), &parts(&[("t", 0)]), 2),
            Err(TxnError::ProducerFenced)
        );
        assert_eq!(
            txns.end("tx", producer(0), true, 2),
            Err(TxnError::ProducerFenced)
        );
    }

    #[test]
    fn an_open_transaction_is_aborted_with_a_bumped_epoch_before_a_new_instance_starts() {
        let mut txns = Transactions::default();
        initialised(&mut txns);
        let ongoing = txns
            .add_partitions("tx", producer(0), &parts(&[("t", 0)]), 5)
            .unwrap_or_default();
        txns.apply(ongoing.unwrap_or_else(|| panic!("a transition")));
        let Ok(InitDecision::AbortFirst(abort)) =
            txns.init_producer_id("tx", 60_000, None, None, LIMITS, 6)
        else {
            panic!("expected an abort");
        };
        assert_eq!(
            (abort.state, abort.producer_epoch),
            (TxnState::PrepareAbort, 1)
        );
        assert_eq!(abort.partitions, parts(&[("t", 0)]));
        // While the abort is written, the new instance is told to retry.
        assert_eq!(
            txns.init_producer_id("tx", 60_000, None, None, LIMITS, 6),
            Err(TxnError::ConcurrentTransactions)
        );
        txns.apply(abort);
        let complete = txns.complete("tx", 7);
        txns.apply(complete.unwrap_or_else(|| panic!("a completion")));
        let Ok(InitDecision::Write(next)) =
            txns.init_producer_id("tx", 60_000, None, None, LIMITS, 8)
        else {
            panic!("expected a write");
        };
        assert_eq!((next.producer_epoch, next.state), (2, TxnState::Empty));
    }

    #[test]
    fn commit_goes_through_prepare_to_complete_and_a_retry_succeeds() {
        let mut txns = Transactions::default();
        initialised(&mut txns);
        let added = txns.add_partitions("tx", producer(0), &parts(&[("t", 0), ("u", 1)]), 10);
        let added = added
            .unwrap_or_default()
            .unwrap_or_else(|| panic!("a transition"));
        assert_eq!((added.state, added.start_ms), (TxnState::Ongoing, 10));
        txns.apply(added);
        assert_eq!(
            txns.add_partitions("tx", producer(0), &parts(&[("t", 0)]), 11),
            Ok(None),
            "a partition already in the transaction needs no write"
        );
        let prepare = txns.end("tx", producer(0), true, 12);
        let prepare = prepare
            .unwrap_or_default()
            .unwrap_or_else(|| panic!("a prepare"));
        assert_eq!(prepare.state, TxnState::PrepareCommit);
        txns.apply(prepare);
        assert_eq!(
            txns.end("tx", producer(0), true, 13),
            Err(TxnError::ConcurrentTransactions)
        );
        assert_eq!(txns.preparing(), vec!["tx".to_string()]);
        let complete = txns
            .complete("tx", 14)
            .unwrap_or_else(|| panic!("complete"));
        assert!(complete.partitions.is_empty());
        txns.apply(complete);
        assert_eq!(txns.end("tx", producer(0), true, 15), Ok(None));
        assert_eq!(
            txns.end("tx", producer(0), false, 15),
            Err(TxnError::InvalidTxnState)
        );
    }

    /// Drives "tx" (producer 7) through a version 2 transaction on partition t-0 ended with
    /// `commit`, applying each transition; the epoch the client goes on with.
    fn v2_transaction(txns: &mut Transactions, epoch: i16, commit: bool) -> ProducerRef {
        let added = txns.add_partitions("tx", producer(epoch), &parts(&[("t", 0)]), 20);
        txns.apply(added.ok().flatten().unwrap_or_else(|| panic!("an add")));
        let Ok((Some(prepare), answer)) =
            txns.end_txn("tx", producer(epoch), commit, TxnVersion::V2, 21)
        else {
            panic!("expected a prepare");
        };
        assert_eq!(
            prepare.producer_epoch,
            epoch + 1,
            "the prepare carries the new epoch"
        );
        assert_eq!(answer, producer(epoch + 1));
        txns.apply(prepare);
        let complete = txns
            .complete("tx", 22)
            .unwrap_or_else(|| panic!("complete"));
        txns.apply(complete);
        answer
    }

    #[test]
    fn a_version_2_end_bumps_the_epoch_and_fences_the_ended_transaction() {
        let mut txns = Transactions::default();
        initialised(&mut txns);
        let next = v2_transaction(&mut txns, 0, true);
        // A late write of the committed transaction (epoch 0) is fenced.
        assert_eq!(
            txns.add_partitions("tx", producer(0), &parts(&[("t", 1)]), 23),
            Err(TxnError::ProducerFenced)
        );
        // The client goes on with epoch 1: abort, then commit again.
        let next = v2_transaction(&mut txns, next.epoch, false);
        let next = v2_transaction(&mut txns, next.epoch, true);
        assert_eq!(next, producer(3));
    }

    #[test]
    fn a_retried_version_2_end_is_answered_with_the_new_epoch() {
        let mut txns = Transactions::default();
        initialised(&mut txns);
        let added = txns.add_partitions("tx", producer(0), &parts(&[("t", 0)]), 1);
        txns.apply(added.ok().flatten().unwrap_or_else(|| panic!("an add")));
        let Ok((Some(prepare), _)) = txns.end_txn("tx", producer(0), true, TxnVersion::V2, 2)
        else {
            panic!("expected a prepare");
        };
        txns.apply(prepare);
        assert_eq!(
            txns.end_txn("tx", producer(0), true, TxnVersion::V2, 3),
            Err(TxnError::ConcurrentTransactions),
            "markers still being written"
        );
        let complete = txns.complete("tx", 4).unwrap_or_else(|| panic!("complete"));
        txns.apply(complete);
        assert_eq!(
            txns.end_txn("tx", producer(0), true, TxnVersion::V2, 5),
            Ok((None, producer(1)))
        );
        assert_eq!(
            txns.end_txn("tx", producer(0), false, TxnVersion::V2, 5),
            Err(TxnError::ProducerFenced),
            "an abort is no retry of a commit"
        );
    }

    #[test]
    fn a_version_2_abort_of_an_empty_transaction_bumps_the_epoch() {
        let mut txns = Transactions::default();
        initialised(&mut txns);
        let Ok((Some(prepare), answer)) = txns.end_txn("tx", producer(0), false, TxnVersion::V2, 1)
        else {
            panic!("expected a prepare");
        };
        assert_eq!(
            (prepare.state, answer),
            (TxnState::PrepareAbort, producer(1))
        );
        assert!(prepare.partitions.is_empty(), "no markers to write");
        assert_eq!(
            txns.end_txn("tx", producer(0), true, TxnVersion::V2, 1),
            Err(TxnError::ConcurrentTransactions)
        );
    }

    #[test]
    fn a_version_1_end_keeps_the_epoch() {
        let mut txns = Transactions::default();
        initialised(&mut txns);
        let added = txns.add_partitions("tx", producer(0), &parts(&[("t", 0)]), 1);
        txns.apply(added.ok().flatten().unwrap_or_else(|| panic!("an add")));
        let Ok((Some(prepare), answer)) = txns.end_txn("tx", producer(0), true, TxnVersion::V1, 2)
        else {
            panic!("expected a prepare");
        };
        assert_eq!((prepare.producer_epoch, answer), (0, producer(0)));
    }

    #[test]
    fn an_abandoned_write_leaves_the_state_as_it_was() {
        let mut txns = Transactions::default();
        initialised(&mut txns);
        let added = txns.add_partitions("tx", producer(0), &parts(&[("t", 0)]), 1);
        assert!(matches!(added, Ok(Some(_))));
        txns.abandon("tx");
        assert_eq!(txns.get("tx").map(|t| t.state), Some(TxnState::Empty));
        assert!(matches!(
            txns.add_partitions("tx", producer(0), &parts(&[("t", 0)]), 1),
            Ok(Some(_))
        ));
    }

    #[test]
    fn a_transaction_past_its_timeout_is_aborted_and_its_producer_fenced() {
        let mut txns = Transactions::default();
        initialised(&mut txns);
        let added = txns.add_partitions("tx", producer(0), &parts(&[("t", 0)]), 1_000);
        txns.apply(
            added
                .unwrap_or_default()
                .unwrap_or_else(|| panic!("a transition")),
        );
        assert!(txns.timed_out(61_000).is_empty());
        let aborts = txns.timed_out(61_001);
        assert_eq!(aborts.len(), 1);
        assert_eq!(
            (aborts[0].state, aborts[0].producer_epoch),
            (TxnState::PrepareAbort, 1)
        );
        assert!(txns.timed_out(99_999).is_empty(), "already being aborted");
    }

    #[test]
    fn an_idle_transactional_id_expires_but_not_before_its_time_nor_twice() {
        const EXPIRATION_MS: i64 = 1_000;
        let mut txns = Transactions::default();
        let idle = initialised(&mut txns);
        let due = idle.last_update_ms + EXPIRATION_MS;
        assert!(
            txns.expired_ids(due - 1, EXPIRATION_MS).is_empty(),
            "expired before its time"
        );
        assert_eq!(txns.expired_ids(due, EXPIRATION_MS), vec!["tx".to_string()]);
        // While its tombstone is written, nothing else may change it, nor expire it again.
        assert!(txns.expired_ids(due, EXPIRATION_MS).is_empty());
        assert_eq!(txns.begin("tx"), Err(TxnError::ConcurrentTransactions));
        txns.forget("tx");
        assert!(txns.get("tx").is_none());
        assert_eq!(
            txns.begin("tx"),
            Ok(()),
            "the id stays busy after it is forgotten"
        );
    }

    #[test]
    fn an_open_transaction_never_expires() {
        let mut txns = Transactions::default();
        let mut open = initialised(&mut txns);
        open.state = TxnState::Ongoing;
        txns.apply(open);
        assert!(txns.expired_ids(i64::MAX, 1).is_empty());
    }

    #[test]
    fn an_unknown_producer_id_is_not_mapped() {
        let mut txns = Transactions::default();
        initialised(&mut txns);
        let stranger = ProducerRef {
            producer_id: 8,
            epoch: 0,
        };
        assert_eq!(
            txns.end("tx", stranger, true, 0),
            Err(TxnError::InvalidProducerIdMapping)
        );
        assert_eq!(
            txns.end("other", producer(0), true, 0),
            Err(TxnError::InvalidProducerIdMapping)
        );
    }
}
