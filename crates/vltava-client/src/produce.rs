//! Produce and Fetch, the two requests `vltava produce` and `vltava consume` make of a
//! partition's leader. Batches go out and come back as bytes: encoding and decoding records is
//! the caller's (`crate::batches`).

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, FetchRequest, InitProducerIdRequest, ProduceRequest};
use vltava_wire::frame::{self, RequestId};

use super::*;
use crate::batches::AbortedTransaction;

/// Produce v11: topics by name (v13 names them by id); v9+ is flexible.
const PRODUCE_VERSION: i16 = 11;
/// InitProducerId v4: flexible, with the producer id and epoch fields (KIP-360).
const INIT_PRODUCER_ID_VERSION: i16 = 4;
/// Fetch v12: topics by name (v13 names them by id), sessionless.
const FETCH_VERSION: i16 = 12;
/// A sessionless fetch: every partition named in every request.
const NO_FETCH_SESSION: i32 = 0;
const FINAL_FETCH_EPOCH: i32 = -1;

/// How a produce is acknowledged (Kafka's acks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// No answer at all (acks=0).
    None,
    /// The leader appended (acks=1).
    Leader,
    /// Every in-sync replica has it, durably (acks=all, -1).
    All,
}

impl Acks {
    fn wire(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// One partition's answer to a produce: the offset of its first record, or the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Produced {
    /// acks=0: sent, with no way to know more.
    Sent,
    Appended {
        base_offset: i64,
    },
    Failed {
        code: i16,
        message: Option<String>,
    },
}

/// An idempotent producer: the id the cluster gave it and its epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerId {
    pub id: i64,
    pub epoch: i16,
}

/// What one Fetch asks for.
#[derive(Debug, Clone, Copy)]
pub struct FetchOptions {
    pub max_wait_ms: i32,
    pub response_bytes_max: i32,
    pub partition_bytes_max: i32,
    /// 0: read uncommitted, 1: read committed (up to the last stable offset).
    pub isolation_level: i8,
}

/// One partition of a Fetch answer.
#[derive(Debug)]
pub struct Fetched {
    pub partition: TopicPartition,
    pub error_code: i16,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// Whole batches, possibly followed by a batch cut short by the size limits.
    pub records: Bytes,
    /// Transactions aborted in these records (read committed only).
    pub aborted: Vec<AbortedTransaction>,
}

impl Client {
    /// A new idempotent producer id (InitProducerId with no transactional id; any broker
    /// answers it, from the blocks of ids the controller hands out).
    pub fn init_producer_id(&mut self) -> anyhow::Result<ProducerId> {
        let request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            // What the Java producer sends when it is idempotent but not transactional.
            .with_transaction_timeout_ms(i32::MAX);
        let response = self.call(INIT_PRODUCER_ID_VERSION, &request)?;
        check(response.error_code, || "InitProducerId".to_string())?;
        Ok(ProducerId {
            id: response.producer_id.0,
            epoch: response.producer_epoch,
        })
    }

    /// Sends one batch per partition to this broker, their leader, and returns each
    /// partition's answer. With `Acks::None` the broker answers nothing and every partition is
    /// `Produced::Sent` once the request is written.
    pub fn produce(
        &mut self,
        acks: Acks,
        timeout_ms: i32,
        batches: &[(TopicPartition, Bytes)],
    ) -> anyhow::Result<Vec<(TopicPartition, Produced)>> {
        let topic_data = by_topic(
            batches.iter().map(|(p, batch)| (p, batch.clone())),
            |partition, batch| {
                PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch))
            },
            |name, partitions| {
                TopicProduceData::default()
                    .with_name(name)
                    .with_partition_data(partitions)
            },
        );
        let request = ProduceRequest::default()
            .with_acks(acks.wire())
            .with_timeout_ms(timeout_ms)
            .with_topic_data(topic_data);
        if acks == Acks::None {
            self.send_without_answer(PRODUCE_VERSION, &request)?;
            return Ok(batches
                .iter()
                .map(|(p, _)| (p.clone(), Produced::Sent))
                .collect());
        }
        let response = self.call(PRODUCE_VERSION, &request)?;
        let mut answered = BTreeMap::new();
        for topic in response.responses {
            for p in topic.partition_responses {
                let key = TopicPartition {
                    topic: topic.name.0.to_string(),
                    partition: p.index,
                };
                let produced = match p.error_code {
                    0 => Produced::Appended {
                        base_offset: p.base_offset,
                    },
                    code => Produced::Failed {
                        code,
                        message: p.error_message.map(|m| m.to_string()),
                    },
                };
                answered.insert(key, produced);
            }
        }
        Ok(batches
            .iter()
            .map(|(p, _)| {
                let produced = answered.remove(p).unwrap_or_else(|| Produced::Failed {
                    code: UNKNOWN_SERVER_ERROR,
                    message: Some("not in the broker's answer".to_string()),
                });
                (p.clone(), produced)
            })
            .collect())
    }

    /// Writes a request the broker does not answer (Produce with acks=0).
    fn send_without_answer<R: Request>(&mut self, version: i16, request: &R) -> anyhow::Result<()> {
        let key =
            ApiKey::try_from(R::KEY).map_err(|_| anyhow::anyhow!("unknown API key {}", R::KEY))?;
        let id = RequestId {
            key,
            version,
            // Nothing comes back to match it with.
            correlation_id: 0,
            client_id: self.client_id,
        };
        let frame = frame::request(id, request)?;
        self.connection
            .send_frame(&frame)
            .with_context(|| format!("{} v{version} to {}", api_name::<R>(), self.bootstrap))
    }

    /// Fetches `positions` (each partition from its offset) from this broker, their leader.
    pub fn fetch(
        &mut self,
        positions: &[(TopicPartition, i64)],
        options: FetchOptions,
    ) -> anyhow::Result<Vec<Fetched>> {
        let topics = by_topic(
            positions.iter().map(|(p, offset)| (p, *offset)),
            |partition, offset| {
                FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(options.partition_bytes_max)
            },
            |name, partitions| {
                FetchTopic::default()
                    .with_topic(name)
                    .with_partitions(partitions)
            },
        );
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(CONSUMER_REPLICA_ID))
            .with_max_wait_ms(options.max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(options.response_bytes_max)
            .with_isolation_level(options.isolation_level)
            .with_session_id(NO_FETCH_SESSION)
            .with_session_epoch(FINAL_FETCH_EPOCH)
            .with_topics(topics);
        let response = self.call(FETCH_VERSION, &request)?;
        check(response.error_code, || "Fetch".to_string())?;
        let mut fetched = Vec::new();
        for topic in response.responses {
            for p in topic.partitions {
                fetched.push(Fetched {
                    partition: TopicPartition {
                        topic: topic.topic.0.to_string(),
                        partition: p.partition_index,
                    },
                    error_code: p.error_code,
                    high_watermark: p.high_watermark,
                    last_stable_offset: p.last_stable_offset,
                    log_start_offset: p.log_start_offset,
                    records: p.records.unwrap_or_default(),
                    aborted: p
                        .aborted_transactions
                        .unwrap_or_default()
                        .into_iter()
                        .map(|a| AbortedTransaction {
                            producer_id: a.producer_id.0,
                            first_offset: a.first_offset,
                        })
                        .collect(),
                });
            }
        }
        Ok(fetched)
    }
}
