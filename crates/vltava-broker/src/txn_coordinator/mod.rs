//! The transaction coordinator (KIP-98) as the broker runs it: the state machine of
//! [`state`] behind one lock, its log `__transaction_state`, and the markers it writes.
//!
//! Built like the group coordinator: a transactional id lives in the partition Kafka maps it
//! to (`Utils.abs(transactionalId.hashCode()) % partitions`), and the leader of that
//! partition coordinates it. Taking over a partition replays its log; every transition is
//! written there, durably, before it is applied (validate, write, then apply). A transaction
//! left in PrepareCommit/PrepareAbort (the broker stopped while writing markers, or the
//! coordinator moved) is finished by its new coordinator.

pub mod implicit;
mod log_format;
pub mod markers;
pub mod state;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;

use crate::broker::{Broker, now_ms};
use crate::config::BrokerConfig;
use crate::error::{BrokerError, Result};
use crate::internal_topic::{self, BatchProducer, InternalTopic, encode_batch, replay};
use crate::partition::Partition;
use crate::topics::{Topic, Topics};

use state::{
    InitDecision, ProducerRef, Transactions, TxnError, TxnLimits, TxnMetadata, TxnVersion,
};

pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";
/// Kafka's `transaction.state.log.num.partitions` default.
pub const TRANSACTION_STATE_PARTITIONS_DEFAULT: i32 = 50;
/// Kafka's `transaction.state.log.min.isr` default (capped at the replication factor).
const TRANSACTION_STATE_MIN_ISR: i16 = 2;
/// How long a transition's write may take to become durable (Kafka's
/// `transaction.state.log.*` writes use the request timeout; 5 s as for offset commits).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The partition of `__transaction_state` holding a transactional id: Kafka's
/// `Utils.abs(transactionalId.hashCode()) % partitions`.
pub fn txn_partition_for(transactional_id: &str, partitions: i32) -> i32 {
    let hash = transactional_id.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    (hash & 0x7fff_ffff) % partitions.max(1)
}

#[derive(Debug)]
pub struct TransactionCoordinator {
    topics: Arc<Topics>,
    txns: Mutex<Transactions>,
    /// The `__transaction_state` partitions loaded here (led here, replayed).
    loaded: Mutex<BTreeSet<i32>>,
    /// Transactional ids whose markers a task is writing, so that two never race.
    completing: Mutex<BTreeSet<String>>,
    limits: TxnLimits,
    partitions: i32,
    check_interval: Duration,
    /// `transactional.id.expiration.ms`, and how often expired ids are looked for.
    id_expiration_ms: i64,
    expiry_interval: Duration,
}

impl TransactionCoordinator {
    pub fn new(config: &BrokerConfig, topics: Arc<Topics>) -> Self {
        TransactionCoordinator {
            topics,
            txns: Mutex::default(),
            loaded: Mutex::default(),
            completing: Mutex::default(),
            limits: TxnLimits {
                max_timeout_ms: config.transaction_max_timeout_ms,
            },
            partitions: config.transaction_state_partitions,
            check_interval: Duration::from_millis(config.transaction_check_interval_ms.max(1)),
            id_expiration_ms: config.transactional_id_expiration_ms,
            expiry_interval: Duration::from_millis(
                config.transaction_remove_expired_interval_ms.max(1),
            ),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Transactions> {
        // Transitions are validated before they are applied: a panic elsewhere while
        // holding the lock leaves nothing half-done.
        self.txns.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn loaded(&self) -> MutexGuard<'_, BTreeSet<i32>> {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `__transaction_state`, created on first use as Kafka does.
    pub async fn state_topic(&self, broker: &Broker) -> Result<Arc<Topic>> {
        InternalTopic {
            name: TRANSACTION_STATE_TOPIC,
            partitions: self.partitions,
            min_insync_replicas: Some(TRANSACTION_STATE_MIN_ISR),
        }
        .get_or_create(broker)
        .await
    }

    /// The `__transaction_state` partition of `transactional_id` if this broker coordinates
    /// it: NOT_COORDINATOR if another broker leads it, COORDINATOR_LOAD_IN_PROGRESS while
    /// its log is replayed, COORDINATOR_NOT_AVAILABLE before the topic exists.
    pub fn coordinates(&self, transactional_id: &str) -> Result<Arc<Partition>> {
        let topic = self
            .topics
            .get(TRANSACTION_STATE_TOPIC)
            .ok_or(BrokerError::CoordinatorNotAvailable)?;
        let index = txn_partition_for(transactional_id, topic.partition_count());
        let partition = match topic.led_here(index) {
            Ok(partition) => partition.clone(),
            Err(_) => return Err(BrokerError::NotCoordinator),
        };
        match self.loaded().contains(&index) {
            true => Ok(partition),
            false => Err(BrokerError::CoordinatorLoadInProgress),
        }
    }

    /// Takes over the transactional ids of the `__transaction_state` partitions this broker
    /// leads in the published image, and hands over those it no longer leads. Unfinished
    /// transactions of a partition taken over are completed by [`Self::run_timers`].
    pub fn follow_leadership(&self, topics: &Topics) -> Result<()> {
        let Some(topic) = topics.get(TRANSACTION_STATE_TOPIC) else {
            return Ok(());
        };
        let led = topic.led_partitions();
        let loaded = self.loaded().clone();
        let count = topic.partition_count();
        for &resigned in loaded.difference(&led) {
            self.lock()
                .retain(|id| txn_partition_for(id, count) != resigned);
            self.loaded().remove(&resigned);
            tracing::info!(
                partition = resigned,
                "handed over the transactions of {TRANSACTION_STATE_TOPIC}"
            );
        }
        for &elected in led.difference(&loaded) {
            let Some(partition) = topic.partition(elected) else {
                continue;
            };
            let mut txns = self.lock();
            txns.retain(|id| txn_partition_for(id, count) != elected);
            let mut records = 0usize;
            let skipped = replay(partition, |record| {
                let key = record.key.as_deref().ok_or("no key")?;
                let decoded =
                    log_format::decode(key, record.value.as_deref()).map_err(|e| e.to_string())?;
                txns.load(decoded.transactional_id, decoded.metadata);
                records += 1;
                Ok(())
            })?;
            drop(txns);
            self.loaded().insert(elected);
            tracing::info!(
                partition = elected,
                records,
                skipped,
                "loaded transactions from {TRANSACTION_STATE_TOPIC}"
            );
        }
        Ok(())
    }

    /// Writes `next` to the transactional id's partition and applies it once durable; on
    /// failure the id is released unchanged.
    async fn write(&self, broker: &Broker, next: TxnMetadata) -> Result<()> {
        let id = next.transactional_id.clone();
        let written = self.append(broker, &next).await;
        let mut txns = self.lock();
        match written {
            Ok(()) => txns.apply(next),
            Err(_) => txns.abandon(&id),
        }
        written
    }

    async fn append(&self, broker: &Broker, next: &TxnMetadata) -> Result<()> {
        let value = log_format::value(next);
        self.append_record(broker, &next.transactional_id, Some(value))
            .await
    }

    /// Appends the id's record (`None`: its tombstone) to its partition, durably.
    async fn append_record(
        &self,
        broker: &Broker,
        transactional_id: &str,
        value: Option<Bytes>,
    ) -> Result<()> {
        let partition = self.coordinates(transactional_id)?;
        let record = (log_format::key(transactional_id), value);
        let batch = encode_batch(&[record], BatchProducer::NONE, now_ms())?;
        let timed_out = BrokerError::CoordinatorNotAvailable;
        match internal_topic::append_durably(broker, &partition, &batch, WRITE_TIMEOUT, timed_out)
            .await
        {
            Err(BrokerError::NotLeaderOrFollower) => Err(BrokerError::NotCoordinator),
            other => other.map(|_| ()),
        }
    }

    /// InitProducerId with a transactional id: the producer id and epoch of the new instance.
    pub async fn init_producer_id(
        self: &Arc<Self>,
        broker: &Arc<Broker>,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<ProducerRef>,
    ) -> Result<(i64, i16)> {
        self.coordinates(transactional_id)?;
        let mut new_producer_id = None;
        // Bounded: the second pass has the producer id the first asked for.
        for _ in 0..2 {
            let decision = self.lock().init_producer_id(
                transactional_id,
                timeout_ms,
                expected,
                new_producer_id,
                self.limits,
                now_ms(),
            )?;
            match decision {
                InitDecision::NeedsProducerId => {
                    new_producer_id = Some(broker.producer_ids.next(&broker.cluster).await?);
                }
                InitDecision::Write(next) => {
                    let answer = (next.producer_id, next.producer_epoch);
                    self.write(broker, next).await?;
                    return Ok(answer);
                }
                InitDecision::AbortFirst(abort) => {
                    // The older instance's transaction is aborted under a bumped epoch (which
                    // fences it); the new one retries once that is done.
                    self.write(broker, abort).await?;
                    self.spawn_completion(broker, transactional_id);
                    return Err(TxnError::ConcurrentTransactions.into());
                }
            }
        }
        Err(TxnError::ConcurrentTransactions.into())
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn.
    pub async fn add_partitions(
        &self,
        broker: &Broker,
        transactional_id: &str,
        producer: ProducerRef,
        partitions: &BTreeSet<(String, i32)>,
    ) -> Result<()> {
        self.coordinates(transactional_id)?;
        let next = self
            .lock()
            .add_partitions(transactional_id, producer, partitions, now_ms())?;
        match next {
            Some(next) => self.write(broker, next).await,
            None => Ok(()),
        }
    }

    /// TxnOffsetCommit's check: the producer owns the id and its transaction is open.
    pub fn check_ongoing(&self, transactional_id: &str, producer: ProducerRef) -> Result<()> {
        self.coordinates(transactional_id)?;
        Ok(self.lock().check_ongoing(transactional_id, producer)?)
    }

    /// EndTxn: answered once PrepareCommit/PrepareAbort is durable, as in Kafka; the
    /// markers and the Complete state follow in a task. The producer id and epoch the client
    /// goes on with (bumped under transaction version 2).
    pub async fn end(
        self: &Arc<Self>,
        broker: &Arc<Broker>,
        transactional_id: &str,
        producer: ProducerRef,
        commit: bool,
        version: TxnVersion,
    ) -> Result<ProducerRef> {
        self.coordinates(transactional_id)?;
        let (next, answer) =
            self.lock()
                .end_txn(transactional_id, producer, commit, version, now_ms())?;
        if let Some(next) = next {
            self.write(broker, next).await?;
            self.spawn_completion(broker, transactional_id);
        }
        Ok(answer)
    }

    /// Every transaction this broker coordinates (DescribeTransactions, ListTransactions).
    pub fn transactions(&self) -> Vec<TxnMetadata> {
        let mut all: Vec<TxnMetadata> = self.lock().iter().cloned().collect();
        all.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        all
    }

    pub fn get(&self, transactional_id: &str) -> Option<TxnMetadata> {
        self.lock().get(transactional_id).cloned()
    }

    fn spawn_completion(self: &Arc<Self>, broker: &Arc<Broker>, transactional_id: &str) {
        let (coordinator, broker) = (self.clone(), broker.clone());
        let id = transactional_id.to_string();
        tokio::spawn(async move { coordinator.complete(&broker, &id).await });
    }

    /// Writes the markers of a transaction in a Prepare state to each of its partitions,
    /// then its Complete state. A failure leaves it in Prepare for the next timer pass.
    async fn complete(&self, broker: &Broker, transactional_id: &str) {
        let newly = self
            .completing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(transactional_id.to_string());
        if !newly {
            return;
        }
        let result = self.complete_once(broker, transactional_id).await;
        self.completing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(transactional_id);
        if let Err(error) = result {
            tracing::warn!(transactional_id, %error, "cannot complete a transaction yet; retrying later");
        }
    }

    async fn complete_once(&self, broker: &Broker, transactional_id: &str) -> Result<()> {
        let Some(prepared) = self.get(transactional_id) else {
            return Ok(());
        };
        let partition = self.coordinates(transactional_id)?;
        markers::write_markers(broker, &prepared, partition.leader_epoch()).await?;
        let next = self.lock().complete(transactional_id, now_ms());
        match next {
            Some(next) => self.write(broker, next).await,
            None => Ok(()),
        }
    }

    /// The coordinator's timers, for the broker's lifetime: every
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms` it aborts transactions
    /// past their timeout and finishes those left in a Prepare state; every
    /// `transaction.remove.expired.transaction.cleanup.interval.ms` it forgets expired
    /// transactional ids.
    pub async fn run_timers(self: Arc<Self>, broker: std::sync::Weak<Broker>) {
        let mut checks = tokio::time::interval(self.check_interval);
        let mut expiries = tokio::time::interval(self.expiry_interval);
        for interval in [&mut checks, &mut expiries] {
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        loop {
            let expiry = tokio::select! {
                _ = checks.tick() => false,
                _ = expiries.tick() => true,
            };
            let Some(broker) = broker.upgrade() else {
                return;
            };
            match expiry {
                false => self.abort_timed_out(&broker).await,
                true => self.expire_ids(&broker).await,
            }
        }
    }

    /// Aborts transactions past their timeout and finishes those left in a Prepare state.
    async fn abort_timed_out(self: &Arc<Self>, broker: &Arc<Broker>) {
        let timed_out = self.lock().timed_out(now_ms());
        for abort in timed_out {
            let id = abort.transactional_id.clone();
            tracing::info!(transactional_id = %id, "aborting a transaction past its timeout");
            if let Err(error) = self.write(broker, abort).await {
                tracing::warn!(transactional_id = %id, %error, "cannot abort a timed-out transaction");
            }
        }
        let preparing = self.lock().preparing();
        for id in preparing {
            self.spawn_completion(broker, &id);
        }
    }

    /// Forgets the transactional ids past `transactional.id.expiration.ms`, each with a
    /// tombstone in `__transaction_state` first (so that a new leader of its partition, or
    /// this broker after a restart, does not load it again).
    async fn expire_ids(&self, broker: &Broker) {
        let expired = self.lock().expired_ids(now_ms(), self.id_expiration_ms);
        for id in expired {
            let written = self.append_record(broker, &id, None).await;
            let mut txns = self.lock();
            match written {
                Ok(()) => txns.forget(&id),
                Err(error) => {
                    txns.abandon(&id);
                    tracing::warn!(transactional_id = %id, %error, "cannot expire a transactional id yet");
                }
            }
        }
    }
}
