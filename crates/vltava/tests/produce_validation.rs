//! What the broker checks in a Produce request before it appends, spoken over raw TCP.
//!
//! Guards against:
//! - `a_batch_with_a_bad_crc_is_refused_as_corrupt_message`: a batch whose CRC-32C does not match
//!   being appended anyway (corrupt bytes served to consumers), or refused without moving the
//!   log end offset back (a hole or a half-written batch).
//! - `a_retried_idempotent_batch_is_acknowledged_without_appending_again`: an idempotent
//!   producer's retry (same producer id, epoch and sequence) written twice, or refused with an
//!   error that makes the client give up, instead of acknowledged at its first offset.
//! - `a_corrupt_retry_of_an_appended_idempotent_batch_is_refused_as_corrupt_message`: the
//!   sequence checked before the batch was validated, so that a retry with the producer id,
//!   epoch and sequence of an appended batch but corrupt records got the duplicate's success.
//! - `a_sequence_gap_is_refused_as_out_of_order`: a batch whose base sequence skips ahead being
//!   appended (records silently lost in between), or the refusal poisoning the producer state so
//!   that the next in-order batch is refused too.
//! - `an_older_producer_epoch_is_fenced`: a zombie producer with an older epoch still writing
//!   after a newer epoch of the same producer id has written.
//! - `idempotent_state_survives_a_restart`: producer sequence state kept only in memory, so that
//!   a retry arriving after a broker restart is appended a second time, or the next sequence is
//!   refused as out of order.
//! - `a_silent_producer_expires_and_starts_afresh`: producer state that never expires
//!   (`producer.id.expiration.ms`), so memory grows with every producer id ever seen; or that
//!   expires before its time.

mod common;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreateTopicsRequest, InitProducerIdRequest, ListOffsetsRequest,
    ProduceRequest, ProducerId, RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use common::wire;
use common::{BoxError, TestResult};

/// How long any single request may take to be answered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long an acks=all produce may wait for the batch to be durable, in the request.
const PRODUCE_TIMEOUT_MS: i32 = 10_000;

const PRODUCE_VERSION: i16 = 9;
const CREATE_TOPICS_VERSION: i16 = 7;
const INIT_PRODUCER_ID_VERSION: i16 = 4;
const LIST_OFFSETS_VERSION: i16 = 7;

const ACKS_ALL: i16 = -1;
/// ListOffsets timestamp asking for the log end offset.
const LATEST_TIMESTAMP: i64 = -1;
/// Records per batch in these tests.
const BATCH_RECORDS: i32 = 5;

const NONE: i16 = 0;
const CORRUPT_MESSAGE: i16 = 2;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;

/// Offset of the CRC field (4 bytes, big-endian) in a v2 record batch header.
const CRC_OFFSET: usize = 17;

/// One connection to the broker, with the requests these tests send.
struct Client(wire::Client);

impl Client {
    fn connect(bootstrap: &str) -> Result<Self, BoxError> {
        Ok(Client(wire::Client::connect(bootstrap, REQUEST_TIMEOUT)?))
    }

    /// Sends `request` at `version` and decodes the whole answer.
    fn exchange(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &RequestKind,
    ) -> Result<ResponseKind, BoxError> {
        self.0.exchange(key, version, request)
    }

    /// Creates `topic` with one partition.
    fn create_topic(&mut self, topic: &str) -> TestResult {
        let request = CreateTopicsRequest::default()
            .with_topics(vec![
                CreatableTopic::default()
                    .with_name(topic_name(topic))
                    .with_num_partitions(1)
                    .with_replication_factor(1),
            ])
            .with_timeout_ms(i32::try_from(REQUEST_TIMEOUT.as_millis())?);
        let ResponseKind::CreateTopics(response) = self.exchange(
            ApiKey::CreateTopics,
            CREATE_TOPICS_VERSION,
            &RequestKind::CreateTopics(request),
        )?
        else {
            return Err("CreateTopics answered with another API".into());
        };
        let result = response.topics.first().ok_or("CreateTopics: no topic")?;
        if result.error_code != NONE {
            return Err(format!(
                "creating {topic}: error {} {:?}",
                result.error_code, result.error_message
            )
            .into());
        }
        Ok(())
    }

    /// A new idempotent producer id and its epoch.
    fn init_producer_id(&mut self) -> Result<Producer, BoxError> {
        let request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let ResponseKind::InitProducerId(response) = self.exchange(
            ApiKey::InitProducerId,
            INIT_PRODUCER_ID_VERSION,
            &RequestKind::InitProducerId(request),
        )?
        else {
            return Err("InitProducerId answered with another API".into());
        };
        if response.error_code != NONE || response.producer_id.0 < 0 {
            return Err(format!("InitProducerId: {response:?}").into());
        }
        Ok(Producer {
            id: response.producer_id.0,
            epoch: response.producer_epoch,
        })
    }

    /// Produces `batch` to partition 0 of `topic` with acks=all; the partition's answer.
    fn produce(&mut self, topic: &str, batch: Bytes) -> Result<PartitionProduceResponse, BoxError> {
        let request = ProduceRequest::default()
            .with_acks(ACKS_ALL)
            .with_timeout_ms(PRODUCE_TIMEOUT_MS)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(topic_name(topic))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(batch)),
                    ]),
            ]);
        let ResponseKind::Produce(response) = self.exchange(
            ApiKey::Produce,
            PRODUCE_VERSION,
            &RequestKind::Produce(request),
        )?
        else {
            return Err("Produce answered with another API".into());
        };
        let partition = response
            .responses
            .into_iter()
            .next()
            .and_then(|topic| topic.partition_responses.into_iter().next())
            .ok_or("Produce: no partition in the answer")?;
        assert_eq!(partition.index, 0);
        Ok(partition)
    }

    /// The log end offset of partition 0 of `topic`.
    fn latest_offset(&mut self, topic: &str) -> Result<i64, BoxError> {
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(0)
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(vec![
                        ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_current_leader_epoch(-1)
                            .with_timestamp(LATEST_TIMESTAMP),
                    ]),
            ]);
        let ResponseKind::ListOffsets(response) = self.exchange(
            ApiKey::ListOffsets,
            LIST_OFFSETS_VERSION,
            &RequestKind::ListOffsets(request),
        )?
        else {
            return Err("ListOffsets answered with another API".into());
        };
        let partition = response
            .topics
            .first()
            .and_then(|topic| topic.partitions.first())
            .ok_or("ListOffsets: no partition in the answer")?;
        if partition.error_code != NONE {
            return Err(format!("ListOffsets: error {}", partition.error_code).into());
        }
        Ok(partition.offset)
    }
}

fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// An idempotent producer's identity.
#[derive(Debug, Clone, Copy)]
struct Producer {
    id: i64,
    epoch: i16,
}

/// A v2 batch of `BATCH_RECORDS` records from `producer` at `epoch`, starting at
/// `base_sequence`, as a client would send it (base offset 0, CRC-32C over the batch).
fn idempotent_batch(producer: Producer, epoch: i16, base_sequence: i32) -> Result<Bytes, BoxError> {
    let records: Vec<Record> = (0..BATCH_RECORDS)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: producer.id,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i64::from(i),
            sequence: base_sequence + i,
            timestamp: 1_700_000_000_000 + i64::from(i),
            key: Some(Bytes::from(format!("key-{}", base_sequence + i))),
            value: Some(Bytes::from(format!("value-{}", base_sequence + i))),
            headers: IndexMap::new(),
        })
        .collect();
    let mut buffer = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buffer,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| format!("encode batch: {e}"))?;
    Ok(buffer.freeze())
}

/// Asserts `response` accepted its batch at `base_offset`.
fn assert_accepted(response: &PartitionProduceResponse, base_offset: i64, what: &str) {
    assert_eq!(
        (response.error_code, response.base_offset),
        (NONE, base_offset),
        "{what}: {response:?}"
    );
}

#[test]
fn a_batch_with_a_bad_crc_is_refused_as_corrupt_message() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let mut client = Client::connect(broker.bootstrap())?;
    let topic = "bad-crc";
    client.create_topic(topic)?;
    let producer = Producer { id: -1, epoch: -1 };
    let intact = idempotent_batch(producer, -1, -1)?;
    let mut corrupt = BytesMut::from(&intact[..]);
    corrupt[CRC_OFFSET] ^= 0xff;

    let response = client.produce(topic, corrupt.freeze())?;

    assert_eq!(response.error_code, CORRUPT_MESSAGE, "{response:?}");
    assert_eq!(client.latest_offset(topic)?, 0);
    // The same batch with its CRC intact is accepted: the CRC alone was refused.
    assert_accepted(&client.produce(topic, intact)?, 0, "intact batch");
    assert_eq!(client.latest_offset(topic)?, i64::from(BATCH_RECORDS));
    Ok(())
}

#[test]
fn a_retried_idempotent_batch_is_acknowledged_without_appending_again() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let mut client = Client::connect(broker.bootstrap())?;
    let topic = "retried";
    client.create_topic(topic)?;
    let producer = client.init_producer_id()?;
    let batch = idempotent_batch(producer, producer.epoch, 0)?;

    assert_accepted(&client.produce(topic, batch.clone())?, 0, "first send");
    assert_accepted(&client.produce(topic, batch)?, 0, "retry");

    assert_eq!(client.latest_offset(topic)?, i64::from(BATCH_RECORDS));
    Ok(())
}

#[test]
fn a_corrupt_retry_of_an_appended_idempotent_batch_is_refused_as_corrupt_message() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let mut client = Client::connect(broker.bootstrap())?;
    let topic = "corrupt-retry";
    client.create_topic(topic)?;
    let producer = client.init_producer_id()?;
    let batch = idempotent_batch(producer, producer.epoch, 0)?;
    assert_accepted(&client.produce(topic, batch.clone())?, 0, "first send");
    let mut corrupt = BytesMut::from(&batch[..]);
    let last = corrupt.len() - 1;
    // A byte of the last record: the CRC covers it, the header fields stay as sent.
    corrupt[last] ^= 0xff;

    let response = client.produce(topic, corrupt.freeze())?;

    assert_eq!(response.error_code, CORRUPT_MESSAGE, "{response:?}");
    assert_eq!(client.latest_offset(topic)?, i64::from(BATCH_RECORDS));
    Ok(())
}

#[test]
fn a_sequence_gap_is_refused_as_out_of_order() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let mut client = Client::connect(broker.bootstrap())?;
    let topic = "gap";
    client.create_topic(topic)?;
    let producer = client.init_producer_id()?;
    let first = idempotent_batch(producer, producer.epoch, 0)?;
    assert_accepted(&client.produce(topic, first)?, 0, "seq 0..4");

    let skipped = idempotent_batch(producer, producer.epoch, 10)?;
    let response = client.produce(topic, skipped)?;
    assert_eq!(
        response.error_code, OUT_OF_ORDER_SEQUENCE_NUMBER,
        "{response:?}"
    );
    assert_eq!(client.latest_offset(topic)?, i64::from(BATCH_RECORDS));

    let next = idempotent_batch(producer, producer.epoch, BATCH_RECORDS)?;
    assert_accepted(
        &client.produce(topic, next)?,
        i64::from(BATCH_RECORDS),
        "seq 5 after the refused gap",
    );
    assert_eq!(client.latest_offset(topic)?, 2 * i64::from(BATCH_RECORDS));
    Ok(())
}

#[test]
fn an_older_producer_epoch_is_fenced() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let mut client = Client::connect(broker.bootstrap())?;
    let topic = "fenced";
    client.create_topic(topic)?;
    let producer = client.init_producer_id()?;
    let newer = producer.epoch + 1;
    assert_accepted(
        &client.produce(topic, idempotent_batch(producer, newer, 0)?)?,
        0,
        "the newer epoch",
    );

    let response = client.produce(topic, idempotent_batch(producer, producer.epoch, 0)?)?;

    assert_eq!(response.error_code, INVALID_PRODUCER_EPOCH, "{response:?}");
    assert_eq!(client.latest_offset(topic)?, i64::from(BATCH_RECORDS));
    Ok(())
}

#[test]
fn idempotent_state_survives_a_restart() -> TestResult {
    let mut broker = vltava_testkit::start_broker(&[])?;
    let topic = "restarted";
    let producer;
    let first = {
        let mut client = Client::connect(broker.bootstrap())?;
        client.create_topic(topic)?;
        producer = client.init_producer_id()?;
        let first = idempotent_batch(producer, producer.epoch, 0)?;
        assert_accepted(&client.produce(topic, first.clone())?, 0, "before restart");
        first
    };

    broker.terminate()?;
    broker.restart()?;
    let mut client = Client::connect(broker.bootstrap())?;

    assert_accepted(&client.produce(topic, first)?, 0, "retry after restart");
    assert_eq!(client.latest_offset(topic)?, i64::from(BATCH_RECORDS));
    let next = idempotent_batch(producer, producer.epoch, BATCH_RECORDS)?;
    assert_accepted(
        &client.produce(topic, next)?,
        i64::from(BATCH_RECORDS),
        "seq 5 after restart",
    );
    assert_eq!(client.latest_offset(topic)?, 2 * i64::from(BATCH_RECORDS));
    Ok(())
}

#[test]
fn a_silent_producer_expires_and_starts_afresh() -> TestResult {
    const EXPIRATION_MS: u64 = 1_000;
    let broker = vltava_testkit::start_broker(&[
        "--producer-id-expiration-ms",
        "1000",
        "--log-retention-check-interval-ms",
        "50",
    ])?;
    let mut client = Client::connect(broker.bootstrap())?;
    let topic = "expiring";
    client.create_topic(topic)?;
    let producer = client.init_producer_id()?;
    assert_accepted(
        &client.produce(topic, idempotent_batch(producer, producer.epoch, 0)?)?,
        0,
        "seq 0..4",
    );
    let appended = std::time::Instant::now();
    // A gap is refused while the broker remembers the producer, and accepted once it has
    // forgotten it (a batch from an unknown producer may start at any sequence, as in Kafka).
    // The broker announces no expiry, so this polls, bounded.
    let gap = idempotent_batch(producer, producer.epoch, 10)?;
    let accepted_after = loop {
        let response = client.produce(topic, gap.clone())?;
        if response.error_code == 0 {
            break appended.elapsed();
        }
        assert_eq!(
            response.error_code, OUT_OF_ORDER_SEQUENCE_NUMBER,
            "{response:?}"
        );
        assert!(
            appended.elapsed() < Duration::from_secs(20),
            "the producer never expired"
        );
        std::thread::sleep(Duration::from_millis(100)); // poll interval
    };
    assert!(
        accepted_after >= Duration::from_millis(EXPIRATION_MS),
        "forgotten after {accepted_after:?}, before producer.id.expiration.ms"
    );
    assert_eq!(client.latest_offset(topic)?, 2 * i64::from(BATCH_RECORDS));
    Ok(())
}
