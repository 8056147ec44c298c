//! Sending batches to the leaders of a topic's partitions, retrying those a leader change
//! refused, and counting the records that failed; and Kafka's default partitioner.
//!
//! With acks=all the sender is an idempotent producer, as Kafka's producers are by default
//! (`enable.idempotence`): every batch carries a producer id and sequence number, so a batch
//! sent again after its answer was lost (a broker died, a connection broke) is written once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::bail;
use bytes::Bytes;
use kafka_protocol::records::Compression;

use crate::batches::{self, OutRecord, Sequenced};
use crate::client::{
    Acks, Client, Connections, Leaders, Produced, ProducerId, TopicPartition, error_name,
    leadership_error,
};

/// How long a batch is offered again to a partition whose leader refused it or was
/// unreachable, while a new leader is elected (Kafka's delivery.timeout.ms is 120 s).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often Metadata is asked before a new topic's partitions have leaders.
const METADATA_ATTEMPTS_MAX: u32 = 50;
/// Kafka's DUPLICATE_SEQUENCE_NUMBER.
const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;
/// Pause before asking again where the leaders are.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);
/// How long a leader may take to answer acks=all (Kafka's request.timeout.ms is 30 s).
const PRODUCE_TIMEOUT_MS: i32 = 30_000;

/// What the sender was told to do.
#[derive(Debug, Clone, Copy)]
pub struct SendOptions {
    pub acks: Acks,
    pub compression: Compression,
    /// Write as an idempotent producer (only with acks=all, as Kafka requires).
    pub idempotent: bool,
}

/// An idempotent producer's id and, per partition, the sequence number of its next record.
#[derive(Debug)]
struct Idempotence {
    producer: Option<ProducerId>,
    next_sequence: BTreeMap<i32, i32>,
}

impl Idempotence {
    /// The producer, a new one when there is none: after a batch whose fate is unknown, the
    /// sequence numbers the broker expects are unknown too, and a new producer starts again
    /// from 0 (the Java producer bumps its epoch instead; the outcome is the same).
    fn producer(&mut self, client: &mut Client) -> anyhow::Result<ProducerId> {
        if let Some(producer) = self.producer {
            return Ok(producer);
        }
        let mut attempts = 0;
        let producer = loop {
            attempts += 1;
            match client.init_producer_id() {
                Ok(producer) => break producer,
                Err(e) if attempts >= METADATA_ATTEMPTS_MAX => return Err(e),
                // A cluster electing its controller answers COORDINATOR_NOT_AVAILABLE a moment.
                Err(_) => std::thread::sleep(RETRY_BACKOFF),
            }
        };
        self.next_sequence.clear();
        self.producer = Some(producer);
        Ok(producer)
    }

    /// Who writes the next `count` records of `partition`; `None` when its sequence numbers
    /// would pass `i32::MAX`, which needs a new producer first.
    fn writer(&self, producer: ProducerId, partition: i32, count: usize) -> Option<Sequenced> {
        let base_sequence = self.next_sequence.get(&partition).copied().unwrap_or(0);
        let count = i32::try_from(count).ok()?;
        base_sequence.checked_add(count)?;
        Some(Sequenced {
            producer_id: producer.id,
            producer_epoch: producer.epoch,
            base_sequence,
        })
    }

    fn written(&mut self, partition: i32, count: usize) {
        let next = self.next_sequence.entry(partition).or_insert(0);
        *next = next.saturating_add(i32::try_from(count).unwrap_or(i32::MAX));
    }
}

/// Sends batches of one topic and keeps the count of records that failed.
#[derive(Debug)]
pub struct Sender {
    bootstrap: Client,
    topic: String,
    options: SendOptions,
    leaders: Leaders,
    connections: Connections,
    idempotence: Option<Idempotence>,
    pub failed: u64,
}

impl Sender {
    /// Asks where the partitions of `topic` are led, creating the topic if the broker creates
    /// topics on first use, and waiting (bounded) for a new topic's leaders.
    pub fn new(mut bootstrap: Client, topic: &str, options: SendOptions) -> anyhow::Result<Sender> {
        let topics = [topic.to_string()];
        let mut attempts = 0;
        let leaders = loop {
            attempts += 1;
            let leaders = bootstrap.leaders(&topics, true)?;
            let error = leaders.topic_errors.get(topic).copied();
            let led = leaders
                .partitions
                .values()
                .all(|l| leaders.brokers.contains_key(l));
            match error {
                None if led && !leaders.partitions.is_empty() => break leaders,
                Some(code) if !leadership_error(code) => {
                    bail!("topic {topic}: {}", error_name(code))
                }
                _ if attempts >= METADATA_ATTEMPTS_MAX => {
                    bail!("topic {topic}: its partitions have no leader (LEADER_NOT_AVAILABLE)")
                }
                _ => std::thread::sleep(RETRY_BACKOFF),
            }
        };
        let idempotence = (options.idempotent && options.acks == Acks::All).then(|| Idempotence {
            producer: None,
            next_sequence: BTreeMap::new(),
        });
        Ok(Sender {
            bootstrap,
            topic: topic.to_string(),
            options,
            leaders,
            connections: Connections::default(),
            idempotence,
            failed: 0,
        })
    }

    /// How many partitions the topic has.
    pub fn partition_count(&self) -> i32 {
        i32::try_from(self.leaders.partitions.len()).unwrap_or(i32::MAX)
    }

    /// Sends one batch per partition; records the leaders refuse for good, or still refuse
    /// after `DELIVERY_TIMEOUT`, count as failed, each failure reported on stderr.
    pub fn send(&mut self, pending: BTreeMap<i32, Vec<OutRecord>>) -> anyhow::Result<()> {
        let mut waiting: BTreeMap<i32, (Bytes, usize)> = BTreeMap::new();
        for (partition, records) in pending {
            match self.encode(partition, &records) {
                Ok(batch) => {
                    waiting.insert(partition, (batch, records.len()));
                }
                Err(e) => self.fail(partition, records.len(), &format!("encoding: {e:#}")),
            }
        }
        let deadline = Instant::now() + DELIVERY_TIMEOUT;
        loop {
            let retry = self.attempt(&mut waiting);
            if waiting.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                for (partition, reason) in retry {
                    let count = waiting.remove(&partition).map_or(0, |(_, n)| n);
                    self.fail(partition, count, &reason);
                }
                return Ok(());
            }
            std::thread::sleep(RETRY_BACKOFF);
            // A broker that does not answer now may be back, or replaced, before the deadline.
            let topics = std::slice::from_ref(&self.topic);
            if let Ok(leaders) = self
                .bootstrap
                .leaders_failing_over(&self.leaders, topics, false)
            {
                self.leaders = leaders;
            }
        }
    }

    /// `records` as a batch, with the producer id and sequence numbers when idempotent.
    fn encode(&mut self, partition: i32, records: &[OutRecord]) -> anyhow::Result<Bytes> {
        let compression = self.options.compression;
        let Some(idempotence) = self.idempotence.as_mut() else {
            return batches::encode(records, compression);
        };
        let producer = idempotence.producer(&mut self.bootstrap)?;
        let writer = match idempotence.writer(producer, partition, records.len()) {
            Some(writer) => writer,
            None => {
                idempotence.producer = None;
                let producer = idempotence.producer(&mut self.bootstrap)?;
                idempotence
                    .writer(producer, partition, records.len())
                    .ok_or_else(|| anyhow::anyhow!("too many records for one batch"))?
            }
        };
        batches::encode_as(records, compression, Some(writer))
    }

    /// One round: each leader gets its partitions' batches. Batches answered go from
    /// `waiting` (counted as failed if refused for good); those to retry stay, with why.
    fn attempt(&mut self, waiting: &mut BTreeMap<i32, (Bytes, usize)>) -> Vec<(i32, String)> {
        let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, Bytes)>> = BTreeMap::new();
        let mut retry = Vec::new();
        for (partition, (batch, _)) in waiting.iter() {
            let tp = TopicPartition {
                topic: self.topic.clone(),
                partition: *partition,
            };
            match self.leaders.partitions.get(&tp) {
                Some(l) if self.leaders.brokers.contains_key(l) => {
                    by_leader.entry(*l).or_default().push((tp, batch.clone()));
                }
                _ => retry.push((*partition, "LEADER_NOT_AVAILABLE".to_string())),
            }
        }
        for (leader, batches) in by_leader {
            let acks = self.options.acks;
            let answers = match self.connections.to(leader, &self.leaders) {
                Ok(client) => client.produce(acks, PRODUCE_TIMEOUT_MS, &batches),
                Err(e) => Err(e),
            };
            let answers = match answers {
                Ok(answers) => answers,
                Err(e) => {
                    self.connections.close(leader);
                    let reason = format!("{e:#}");
                    retry.extend(batches.iter().map(|(tp, _)| (tp.partition, reason.clone())));
                    continue;
                }
            };
            for (tp, produced) in answers {
                match produced {
                    Produced::Sent | Produced::Appended { .. } => {
                        self.written(waiting, tp.partition)
                    }
                    // The broker had this batch already: it was written the first time.
                    Produced::Failed { code, .. } if code == DUPLICATE_SEQUENCE_NUMBER => {
                        self.written(waiting, tp.partition)
                    }
                    Produced::Failed { code, message } => {
                        let reason = match message {
                            Some(m) if !m.is_empty() => format!("{}: {m}", error_name(code)),
                            _ => error_name(code),
                        };
                        if leadership_error(code) {
                            retry.push((tp.partition, reason));
                        } else {
                            let count = waiting.remove(&tp.partition).map_or(0, |(_, n)| n);
                            self.fail(tp.partition, count, &reason);
                        }
                    }
                }
            }
        }
        retry
    }

    /// A batch was answered as written: its partition's sequence moves past it.
    fn written(&mut self, waiting: &mut BTreeMap<i32, (Bytes, usize)>, partition: i32) {
        let count = waiting.remove(&partition).map_or(0, |(_, n)| n);
        if let Some(idempotence) = self.idempotence.as_mut() {
            idempotence.written(partition, count);
        }
    }

    /// Records given up on; whether the broker wrote them is unknown, so an idempotent sender
    /// takes a new producer id before its next batch.
    fn fail(&mut self, partition: i32, records: usize, reason: &str) {
        if let Some(idempotence) = self.idempotence.as_mut() {
            idempotence.producer = None;
        }
        eprintln!(
            "vltava: {records} record(s) to {}-{partition} failed: {reason}",
            self.topic
        );
        self.failed += records as u64;
    }
}
