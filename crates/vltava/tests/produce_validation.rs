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
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, ProducerId, RequestKind, ResponseKind,
};

use common::requests::{BatchOf, READ_UNCOMMITTED, record_batch};
use common::wire;
use common::{BoxError, TestResult};

/// How long any single request may take to be answered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

const PRODUCE_VERSION: i16 = 9;
const INIT_PRODUCER_ID_VERSION: i16 = 4;

/// Records per batch in these tests.
const BATCH_RECORDS: i32 = 5;

const NONE: i16 = 0;
const CORRUPT_MESSAGE: i16 = 2;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;

/// Offset of the CRC field (4 bytes, big-endian) in a v2 record batch header.
const CRC_OFFSET: usize = 17;

/// A new idempotent producer id and its epoch.
fn init_producer_id(client: &mut wire::Client) -> Result<Producer, BoxError> {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let ResponseKind::InitProducerId(response) = client.exchange(
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
fn produce(
    client: &mut wire::Client,
    topic: &str,
    batch: Bytes,
) -> Result<PartitionProduceResponse, BoxError> {
    client.produce_batch(PRODUCE_VERSION, topic, None, batch)
}

/// The log end offset of partition 0 of `topic`.
fn log_end_offset(client: &mut wire::Client, topic: &str) -> Result<i64, BoxError> {
    client.latest_offset(topic, READ_UNCOMMITTED)
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
    let of = BatchOf {
        producer_id: producer.id,
        epoch,
        base_sequence,
        records: BATCH_RECORDS,
        transactional: false,
    };
    record_batch(of, |sequence| {
        (
            Some(Bytes::from(format!("key-{sequence}"))),
            Bytes::from(format!("value-{sequence}")),
        )
    })
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
    let mut client = wire::Client::connect(broker.bootstrap(), REQUEST_TIMEOUT)?;
    let topic = "bad-crc";
    client.create_topic(topic, 1)?;
    let producer = Producer { id: -1, epoch: -1 };
    let intact = idempotent_batch(producer, -1, -1)?;
    let mut corrupt = BytesMut::from(&intact[..]);
    corrupt[CRC_OFFSET] ^= 0xff;

    let response = produce(&mut client, topic, corrupt.freeze())?;

    assert_eq!(response.error_code, CORRUPT_MESSAGE, "{response:?}");
    assert_eq!(log_end_offset(&mut client, topic)?, 0);
    // The same batch with its CRC intact is accepted: the CRC alone was refused.
    assert_accepted(&produce(&mut client, topic, intact)?, 0, "intact batch");
    assert_eq!(
        log_end_offset(&mut client, topic)?,
        i64::from(BATCH_RECORDS)
    );
    Ok(())
}

#[test]
fn a_retried_idempotent_batch_is_acknowledged_without_appending_again() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let mut client = wire::Client::connect(broker.bootstrap(), REQUEST_TIMEOUT)?;
    let topic = "retried";
    client.create_topic(topic, 1)?;
    let producer = init_producer_id(&mut client)?;
    let batch = idempotent_batch(producer, producer.epoch, 0)?;

    assert_accepted(
        &produce(&mut client, topic, batch.clone())?,
        0,
        "first send",
    );
    assert_accepted(&produce(&mut client, topic, batch)?, 0, "retry");

    assert_eq!(
        log_end_offset(&mut client, topic)?,
        i64::from(BATCH_RECORDS)
    );
    Ok(())
}

#[test]
fn a_corrupt_retry_of_an_appended_idempotent_batch_is_refused_as_corrupt_message() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let mut client = wire::Client::connect(broker.bootstrap(), REQUEST_TIMEOUT)?;
    let topic = "corrupt-retry";
    client.create_topic(topic, 1)?;
    let producer = init_producer_id(&mut client)?;
    let batch = idempotent_batch(producer, producer.epoch, 0)?;
    assert_accepted(
        &produce(&mut client, topic, batch.clone())?,
        0,
        "first send",
    );
    let mut corrupt = BytesMut::from(&batch[..]);
    let last = corrupt.len() - 1;
    // A byte of the last record: the CRC covers it, the header fields stay as sent.
    corrupt[last] ^= 0xff;

    let response = produce(&mut client, topic, corrupt.freeze())?;

    assert_eq!(response.error_code, CORRUPT_MESSAGE, "{response:?}");
    assert_eq!(
        log_end_offset(&mut client, topic)?,
        i64::from(BATCH_RECORDS)
    );
    Ok(())
}

#[test]
fn a_sequence_gap_is_refused_as_out_of_order() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let mut client = wire::Client::connect(broker.bootstrap(), REQUEST_TIMEOUT)?;
    let topic = "gap";
    client.create_topic(topic, 1)?;
    let producer = init_producer_id(&mut client)?;
    let first = idempotent_batch(producer, producer.epoch, 0)?;
    assert_accepted(&produce(&mut client, topic, first)?, 0, "seq 0..4");

    let skipped = idempotent_batch(producer, producer.epoch, 10)?;
    let response = produce(&mut client, topic, skipped)?;
    assert_eq!(
        response.error_code, OUT_OF_ORDER_SEQUENCE_NUMBER,
        "{response:?}"
    );
    assert_eq!(
        log_end_offset(&mut client, topic)?,
        i64::from(BATCH_RECORDS)
    );

    let next = idempotent_batch(producer, producer.epoch, BATCH_RECORDS)?;
    assert_accepted(
        &produce(&mut client, topic, next)?,
        i64::from(BATCH_RECORDS),
        "seq 5 after the refused gap",
    );
    assert_eq!(
        log_end_offset(&mut client, topic)?,
        2 * i64::from(BATCH_RECORDS)
    );
    Ok(())
}

#[test]
fn an_older_producer_epoch_is_fenced() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let mut client = wire::Client::connect(broker.bootstrap(), REQUEST_TIMEOUT)?;
    let topic = "fenced";
    client.create_topic(topic, 1)?;
    let producer = init_producer_id(&mut client)?;
    let newer = producer.epoch + 1;
    assert_accepted(
        &produce(&mut client, topic, idempotent_batch(producer, newer, 0)?)?,
        0,
        "the newer epoch",
    );

    let response = produce(
        &mut client,
        topic,
        idempotent_batch(producer, producer.epoch, 0)?,
    )?;

    assert_eq!(response.error_code, INVALID_PRODUCER_EPOCH, "{response:?}");
    assert_eq!(
        log_end_offset(&mut client, topic)?,
        i64::from(BATCH_RECORDS)
    );
    Ok(())
}

#[test]
fn idempotent_state_survives_a_restart() -> TestResult {
    let mut broker = vltava_testkit::start_broker(&[])?;
    let topic = "restarted";
    let producer;
    let first = {
        let mut client = wire::Client::connect(broker.bootstrap(), REQUEST_TIMEOUT)?;
        client.create_topic(topic, 1)?;
        producer = init_producer_id(&mut client)?;
        let first = idempotent_batch(producer, producer.epoch, 0)?;
        assert_accepted(
            &produce(&mut client, topic, first.clone())?,
            0,
            "before restart",
        );
        first
    };

    broker.terminate()?;
    broker.restart()?;
    let mut client = wire::Client::connect(broker.bootstrap(), REQUEST_TIMEOUT)?;

    assert_accepted(
        &produce(&mut client, topic, first)?,
        0,
        "retry after restart",
    );
    assert_eq!(
        log_end_offset(&mut client, topic)?,
        i64::from(BATCH_RECORDS)
    );
    let next = idempotent_batch(producer, producer.epoch, BATCH_RECORDS)?;
    assert_accepted(
        &produce(&mut client, topic, next)?,
        i64::from(BATCH_RECORDS),
        "seq 5 after restart",
    );
    assert_eq!(
        log_end_offset(&mut client, topic)?,
        2 * i64::from(BATCH_RECORDS)
    );
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
    let mut client = wire::Client::connect(broker.bootstrap(), REQUEST_TIMEOUT)?;
    let topic = "expiring";
    client.create_topic(topic, 1)?;
    let producer = init_producer_id(&mut client)?;
    assert_accepted(
        &produce(
            &mut client,
            topic,
            idempotent_batch(producer, producer.epoch, 0)?,
        )?,
        0,
        "seq 0..4",
    );
    let appended = std::time::Instant::now();
    // A gap is refused while the broker remembers the producer, and accepted once it has
    // forgotten it (a batch from an unknown producer may start at any sequence, as in Kafka).
    // The broker announces no expiry, so this polls, bounded.
    let gap = idempotent_batch(producer, producer.epoch, 10)?;
    let accepted_after = loop {
        let response = produce(&mut client, topic, gap.clone())?;
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
    assert_eq!(
        log_end_offset(&mut client, topic)?,
        2 * i64::from(BATCH_RECORDS)
    );
    Ok(())
}
