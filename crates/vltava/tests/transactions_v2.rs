//! Transaction version 2 (KIP-890 part 2) as a Kafka 4 client speaks it, over raw TCP.
//!
//! Guards against:
//! - `kafka_4_clients_are_offered_transaction_version_2`: ApiVersions without the
//!   `transaction.version` feature (Java 4.x clients then fall back to version 1) or without
//!   EndTxn v5; and the features sent to a librdkafka older than 2.2, which mis-skips them.
//! - `a_version_2_transaction_adds_partitions_by_writing_and_bumps_the_epoch_at_each_end`: a
//!   Produce v12 to a partition never named in AddPartitionsToTxn appended outside any
//!   transaction (read_committed readers then see it before the commit, and no marker ends
//!   it); EndTxn v5 answered without the bumped epoch, or the ended transaction's epoch still
//!   accepted (a late write joining the next transaction).
//! - `a_version_2_commit_survives_kill_9_and_its_retry_gets_the_new_epoch`: whether an end was
//!   of version 2 is not logged, so after a restart a client retrying its EndTxn v5 under the
//!   epoch before the bump must still be recognised and answered with the bumped epoch, and the
//!   commit must complete with its marker.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, EndTxnRequest, FindCoordinatorRequest,
    InitProducerIdRequest, ProducerId, RequestKind, ResponseKind, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

use common::requests::{BatchOf, READ_COMMITTED, READ_UNCOMMITTED, record_batch};
use common::wire;
use common::{BoxError, TestResult};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a retriable answer (coordinator loading, markers being written) is retried.
const RETRY_FOR: Duration = Duration::from_secs(20);
const RETRY_PAUSE: Duration = Duration::from_millis(50);

const NONE: i16 = 0;
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;
const NOT_ENOUGH_REPLICAS: i16 = 19;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const CONCURRENT_TRANSACTIONS: i16 = 51;
const PRODUCER_FENCED: i16 = 90;
const RETRIABLE: [i16; 5] = [
    COORDINATOR_LOAD_IN_PROGRESS,
    COORDINATOR_NOT_AVAILABLE,
    NOT_COORDINATOR,
    NOT_ENOUGH_REPLICAS,
    CONCURRENT_TRANSACTIONS,
];

const TOPIC: &str = "txn-v2";
const TRANSACTIONAL_ID: &str = "txn-v2-id";
const BATCH_RECORDS: i32 = 5;

/// One connection to the broker, with the requests of a transactional producer.
struct Client(wire::Client);

impl Client {
    fn connect(bootstrap: &str) -> Result<Self, BoxError> {
        Ok(Client(wire::Client::connect(bootstrap, REQUEST_TIMEOUT)?))
    }

    fn exchange(
        &mut self,
        key: ApiKey,
        version: i16,
        request: RequestKind,
    ) -> Result<ResponseKind, BoxError> {
        self.0.exchange(key, version, &request)
    }

    fn api_versions(&mut self, name: &str, version: &str) -> Result<ApiVersionsResponse, BoxError> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_string(name.into()))
            .with_client_software_version(StrBytes::from_string(version.into()));
        match self.exchange(ApiKey::ApiVersions, 3, RequestKind::ApiVersions(request))? {
            ResponseKind::ApiVersions(response) => Ok(response),
            _ => Err("ApiVersions answered with another API".into()),
        }
    }

    fn create_topic(&mut self) -> TestResult {
        self.0.create_topic(TOPIC, 1)
    }

    /// FindCoordinator for the transactional id, until it is found (this one node).
    fn find_coordinator(&mut self) -> TestResult {
        retry("FindCoordinator", || {
            let request = FindCoordinatorRequest::default()
                .with_key_type(1)
                .with_coordinator_keys(vec![StrBytes::from_static_str(TRANSACTIONAL_ID)]);
            let ResponseKind::FindCoordinator(response) = self.exchange(
                ApiKey::FindCoordinator,
                4,
                RequestKind::FindCoordinator(request),
            )?
            else {
                return Err("FindCoordinator answered with another API".into());
            };
            let found = response.coordinators.first().ok_or("no coordinator")?;
            Ok((found.error_code, ()))
        })
    }

    fn init_producer_id(&mut self) -> Result<(i64, i16), BoxError> {
        retry("InitProducerId", || {
            let request = InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str(
                    TRANSACTIONAL_ID,
                ))))
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1);
            let ResponseKind::InitProducerId(response) = self.exchange(
                ApiKey::InitProducerId,
                5,
                RequestKind::InitProducerId(request),
            )?
            else {
                return Err("InitProducerId answered with another API".into());
            };
            Ok((
                response.error_code,
                (response.producer_id.0, response.producer_epoch),
            ))
        })
    }

    /// Produce v12 (transaction version 2) of a transactional batch; error code and base offset.
    fn produce(
        &mut self,
        producer_id: i64,
        epoch: i16,
        base_sequence: i32,
    ) -> Result<(i16, i64), BoxError> {
        let batch = transactional_batch(producer_id, epoch, base_sequence)?;
        let partition = self
            .0
            .produce_batch(12, TOPIC, Some(TRANSACTIONAL_ID), batch)?;
        Ok((partition.error_code, partition.base_offset))
    }

    /// EndTxn v5; the producer id and epoch it answers.
    fn end_txn(
        &mut self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
    ) -> Result<(i64, i16), BoxError> {
        retry("EndTxn", || {
            let request = EndTxnRequest::default()
                .with_transactional_id(TransactionalId(StrBytes::from_static_str(TRANSACTIONAL_ID)))
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(epoch)
                .with_committed(commit);
            let ResponseKind::EndTxn(response) =
                self.exchange(ApiKey::EndTxn, 5, RequestKind::EndTxn(request))?
            else {
                return Err("EndTxn answered with another API".into());
            };
            Ok((
                response.error_code,
                (response.producer_id.0, response.producer_epoch),
            ))
        })
    }

    /// The offset a read_committed consumer reads up to (the last stable offset).
    fn last_stable_offset(&mut self) -> Result<i64, BoxError> {
        self.latest_offset(READ_COMMITTED)
    }

    /// The latest offset at `isolation_level` (READ_UNCOMMITTED: the log end offset).
    fn latest_offset(&mut self, isolation_level: i8) -> Result<i64, BoxError> {
        self.0.latest_offset(TOPIC, isolation_level)
    }
}

/// Calls `attempt` until its error code is not a retriable one, for at most RETRY_FOR.
fn retry<T>(
    what: &str,
    mut attempt: impl FnMut() -> Result<(i16, T), BoxError>,
) -> Result<T, BoxError> {
    let deadline = Instant::now() + RETRY_FOR;
    loop {
        let (code, value) = attempt()?;
        match code {
            NONE => return Ok(value),
            code if RETRIABLE.contains(&code) && Instant::now() < deadline => {
                std::thread::sleep(RETRY_PAUSE); // the client's retry backoff
            }
            code => return Err(format!("{what}: error {code}").into()),
        }
    }
}

fn transactional_batch(
    producer_id: i64,
    epoch: i16,
    base_sequence: i32,
) -> Result<Bytes, BoxError> {
    let of = BatchOf {
        producer_id,
        epoch,
        base_sequence,
        records: BATCH_RECORDS,
        transactional: true,
    };
    record_batch(of, |sequence| {
        (None, Bytes::from(format!("e{epoch}-{sequence}")))
    })
}

/// Produces until the answer is not NOT_ENOUGH_REPLICAS (the coordinator still writing the
/// previous transaction's markers); the error code and base offset.
fn produce_retrying(
    client: &mut Client,
    producer_id: i64,
    epoch: i16,
    sequence: i32,
) -> Result<(i16, i64), BoxError> {
    let deadline = Instant::now() + RETRY_FOR;
    loop {
        let answer = client.produce(producer_id, epoch, sequence)?;
        if answer.0 != NOT_ENOUGH_REPLICAS || Instant::now() >= deadline {
            return Ok(answer);
        }
        std::thread::sleep(RETRY_PAUSE);
    }
}

#[test]
fn kafka_4_clients_are_offered_transaction_version_2() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let mut client = Client::connect(broker.bootstrap())?;
    let java = client.api_versions("apache-kafka-java", "4.4.0")?;
    let finalized: Vec<(String, i16, i16)> = java
        .finalized_features
        .iter()
        .map(|f| (f.name.to_string(), f.min_version_level, f.max_version_level))
        .collect();
    assert_eq!(finalized, vec![("transaction.version".to_string(), 2, 2)]);
    assert!(java.finalized_features_epoch >= 0);
    let end_txn_max = java
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::EndTxn as i16)
        .map(|k| k.max_version);
    assert_eq!(end_txn_max, Some(5));
    let old_kcat = client.api_versions("librdkafka", "2.0.2")?;
    assert!(old_kcat.finalized_features.is_empty() && old_kcat.supported_features.is_empty());
    Ok(())
}

#[test]
fn a_version_2_transaction_adds_partitions_by_writing_and_bumps_the_epoch_at_each_end() -> TestResult
{
    let broker = vltava_testkit::start_broker(&[])?;
    let mut client = Client::connect(broker.bootstrap())?;
    client.create_topic()?;
    client.find_coordinator()?;
    let (producer_id, epoch) = client.init_producer_id()?;

    // No AddPartitionsToTxn: the write itself adds the partition.
    let (code, base) = produce_retrying(&mut client, producer_id, epoch, 0)?;
    assert_eq!((code, base), (NONE, 0));
    assert_eq!(
        client.last_stable_offset()?,
        0,
        "the open transaction holds the LSO"
    );

    let (id, next) = client.end_txn(producer_id, epoch, true)?;
    assert_eq!(
        (id, next),
        (producer_id, epoch + 1),
        "the commit bumps the epoch"
    );

    // A late write of the committed transaction is fenced, not joined to the next one.
    let (late, _) = client.produce(producer_id, epoch, BATCH_RECORDS)?;
    assert!(
        [INVALID_PRODUCER_EPOCH, PRODUCER_FENCED].contains(&late),
        "a write under the ended epoch answered {late}"
    );

    // The next transaction goes on with the new epoch, its sequence from 0, after the marker.
    let (code, base) = produce_retrying(&mut client, producer_id, next, 0)?;
    assert_eq!((code, base), (NONE, i64::from(BATCH_RECORDS) + 1));
    let (_, after_abort) = client.end_txn(producer_id, next, false)?;
    assert_eq!(after_abort, next + 1, "the abort bumps the epoch too");

    // Both markers written: nothing is open, read_committed reads to the end (2 batches, 2 markers).
    let end = 2 * i64::from(BATCH_RECORDS) + 2;
    let deadline = Instant::now() + RETRY_FOR;
    while client.last_stable_offset()? != end && Instant::now() < deadline {
        std::thread::sleep(RETRY_PAUSE); // the abort marker is written after EndTxn's answer
    }
    assert_eq!(client.last_stable_offset()?, end);
    Ok(())
}

#[test]
fn a_version_2_commit_survives_kill_9_and_its_retry_gets_the_new_epoch() -> TestResult {
    let mut broker = vltava_testkit::start_broker(&[])?;
    let mut client = Client::connect(broker.bootstrap())?;
    client.create_topic()?;
    client.find_coordinator()?;
    let (producer_id, epoch) = client.init_producer_id()?;
    let (code, _) = produce_retrying(&mut client, producer_id, epoch, 0)?;
    assert_eq!(code, NONE);
    let ended = client.end_txn(producer_id, epoch, true)?;
    assert_eq!(ended, (producer_id, epoch + 1));

    broker.kill9()?;
    broker.restart()?;
    let mut client = Client::connect(broker.bootstrap())?;
    client.find_coordinator()?;
    // The client never saw the answer: it retries under the epoch it had.
    let retried = client.end_txn(producer_id, epoch, true)?;
    assert_eq!(
        retried,
        (producer_id, epoch + 1),
        "the retry after the restart"
    );
    // The marker may be written twice (before the kill, and again by the reloaded
    // coordinator, as Kafka's does after a failover): the LSO reaches the log's end either way.
    let deadline = Instant::now() + RETRY_FOR;
    let mut ends = (
        client.last_stable_offset()?,
        client.latest_offset(READ_UNCOMMITTED)?,
    );
    while (ends.0 != ends.1 || ends.0 <= i64::from(BATCH_RECORDS)) && Instant::now() < deadline {
        std::thread::sleep(RETRY_PAUSE); // the marker may still be being written
        ends = (
            client.last_stable_offset()?,
            client.latest_offset(READ_UNCOMMITTED)?,
        );
    }
    assert!(
        ends.0 == ends.1 && ends.0 > i64::from(BATCH_RECORDS),
        "the commit's marker ends the transaction: LSO {} of log end {}",
        ends.0,
        ends.1
    );
    Ok(())
}
