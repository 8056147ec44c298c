//! Memory follows the bytes received, never the sizes a request claims.
//!
//! Guards against the class of Kafka's CVE-2022-34917 (unauthenticated memory exhaustion), and
//! the report of a 20-byte CreateTopics frame that made another Rust broker built on
//! `kafka-protocol` ask for ~481 GB: the generated decoders pre-allocated `Vec::with_capacity`
//! from the array count on the wire. Our vendored codec caps that by the bytes left
//! (vendor/kafka-protocol/PATCHES.md); these tests fail if the cap is lost, for example on an
//! upgrade of the crate that drops the patch.
//!
//! Every decode here runs under a counting global allocator (`fuzz/src/alloc_guard.rs`, shared
//! with the cargo-fuzz targets so that both enforce one bound) and must allocate no more than
//! `ALLOC_BYTES_PER_INPUT_BYTE * frame.len() + ALLOC_BYTES_BASE`. That module carries the
//! `#![allow(unsafe_code)]` the workspace otherwise denies: `GlobalAlloc` is an unsafe trait.
//!
//! The random test is seeded and replayable: a failure prints its seed; rerun with
//! `DECODE_MEMORY_SEED=<seed>`.
#![allow(clippy::unwrap_used, clippy::panic)]

#[path = "../../../fuzz/src/alloc_guard.rs"]
mod alloc_guard;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use alloc_guard::{AllocGuard, OnExceed, Usage, measure};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_request::ApiVersionsRequest;
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig, CreateTopicsRequest,
};
use kafka_protocol::messages::delete_topics_request::{DeleteTopicState, DeleteTopicsRequest};
use kafka_protocol::messages::describe_cluster_request::DescribeClusterRequest;
use kafka_protocol::messages::fetch_request::{
    FetchPartition, FetchRequest, FetchTopic, ForgottenTopic, ReplicaState,
};
use kafka_protocol::messages::init_producer_id_request::InitProducerIdRequest;
use kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use kafka_protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use kafka_protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, ProducerId, RequestHeader, RequestKind, TopicName, TransactionalId,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use vltava_broker::dispatch::{SUPPORTED_APIS, decode_request};
use vltava_storage::TestBatch;

#[global_allocator]
static GUARD: AllocGuard = AllocGuard;

/// Iterations of the random-mutation test: a few seconds in a debug build.
const MUTATION_ITERATIONS: usize = 20_000;
/// Seed of the random-mutation test unless `DECODE_MEMORY_SEED` says otherwise.
const MUTATION_SEED_DEFAULT: u64 = 0x5eed_f00d;

// ---------------------------------------------------------------------------------------------
// Measuring one decode.

/// What decoding one frame did.
#[derive(Debug)]
struct Outcome {
    /// `Some(true)` decoded, `Some(false)` refused with an error, `None` panicked.
    decoded: Option<bool>,
    usage: Usage,
}

/// Decodes `frame` under the allocation guard, catching a panic so that the caller can name
/// the input. The error is formatted inside the measurement, as the connection logs it.
fn decode_measured(frame: &[u8]) -> Outcome {
    let frame_bytes = frame.len();
    let frame = Bytes::copy_from_slice(frame);
    let (decoded, usage) = measure(frame_bytes, OnExceed::Record, || {
        catch_unwind(AssertUnwindSafe(|| match decode_request(frame) {
            Ok(decoded) => {
                drop(decoded);
                true
            }
            Err(error) => {
                drop(error.to_string());
                false
            }
        }))
        .ok()
    });
    Outcome { decoded, usage }
}

/// Asserts the decode of `frame` neither panicked nor went over budget; returns whether it
/// decoded. `what` names the input in the failure message.
fn assert_bounded(what: &dyn std::fmt::Display, frame: &[u8]) -> bool {
    assert_bounded_usage(what, frame).0
}

/// [`assert_bounded`], also returning the bytes allocated.
fn assert_bounded_usage(what: &dyn std::fmt::Display, frame: &[u8]) -> (bool, usize) {
    let outcome = decode_measured(frame);
    let Some(decoded) = outcome.decoded else {
        panic!("{what}: decode_request panicked on frame {}", hex(frame));
    };
    assert!(
        !outcome.usage.exceeded,
        "{what}: a {}-byte frame allocated {} bytes (largest {}), budget {}: {}",
        frame.len(),
        outcome.usage.allocated_bytes,
        outcome.usage.largest_bytes,
        outcome.usage.budget_bytes,
        hex(frame)
    );
    (decoded, outcome.usage.allocated_bytes)
}

/// The input that came closest to its budget, for the record (`--nocapture`).
#[derive(Default)]
struct Worst {
    /// Bytes allocated over the budget's bytes.
    ratio: f64,
    allocated_bytes: usize,
    frame_bytes: usize,
    what: String,
}

impl Worst {
    fn see(&mut self, what: impl FnOnce() -> String, frame_bytes: usize, allocated_bytes: usize) {
        let ratio = allocated_bytes as f64 / alloc_guard::alloc_bytes_max(frame_bytes) as f64;
        if ratio > self.ratio {
            *self = Worst {
                ratio,
                allocated_bytes,
                frame_bytes,
                what: what(),
            };
        }
    }
}

impl std::fmt::Display for Worst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "closest to budget: {} bytes allocated for a {}-byte frame ({:.1}% of its budget): {}",
            self.allocated_bytes,
            self.frame_bytes,
            self.ratio * 100.0,
            self.what
        )
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// (a) Forged counts and lengths, written byte by byte.
//
// Each case builds a frame twice: with the field under test honest (zero), which must decode,
// proving the forged field sits where the decoder reads it; and forged, which must be refused
// within budget.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// An honest empty array, string or byte string.
    Zero,
    /// The largest count or length the encoding can carry.
    Forged,
}

/// A tiny wire writer; `flexible` selects compact (varint) counts and strings, as the
/// request's header version does.
struct Wire {
    bytes: Vec<u8>,
    flexible: bool,
}

impl Wire {
    /// The request header of `key` at `version`, with an empty client id.
    fn request(key: ApiKey, version: i16) -> Wire {
        let header_version = key.request_header_version(version);
        let mut wire = Wire {
            bytes: Vec::new(),
            flexible: header_version >= 2,
        };
        wire.i16(key as i16).i16(version).i32(7);
        // The header's client id is a classic string in every header version.
        wire.i16(0).tags();
        wire
    }

    fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(bytes);
        self
    }
    fn i8(&mut self, v: i8) -> &mut Self {
        self.raw(&v.to_be_bytes())
    }
    fn i16(&mut self, v: i16) -> &mut Self {
        self.raw(&v.to_be_bytes())
    }
    fn i32(&mut self, v: i32) -> &mut Self {
        self.raw(&v.to_be_bytes())
    }
    fn uvarint(&mut self, mut v: u32) -> &mut Self {
        while v >= 0x80 {
            self.bytes.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.bytes.push(v as u8);
        self
    }
    /// An array count (classic i32, or compact count + 1) that is honest or forged.
    fn count(&mut self, claim: Claim) -> &mut Self {
        self.length(claim, 0)
    }
    /// An honest array count of `n`.
    fn n(&mut self, n: u32) -> &mut Self {
        if self.flexible {
            self.uvarint(n + 1)
        } else {
            self.i32(n as i32)
        }
    }
    /// A count or byte length: `n` when honest; the most the encoding allows when forged
    /// (i32::MAX classic; u32::MAX - 1 compact, written as the varint ff ff ff ff 0f).
    fn length(&mut self, claim: Claim, n: u32) -> &mut Self {
        match (claim, self.flexible) {
            (Claim::Zero, _) => self.n(n),
            (Claim::Forged, false) => self.i32(i32::MAX),
            (Claim::Forged, true) => self.uvarint(u32::MAX),
        }
    }
    fn string(&mut self, s: &str) -> &mut Self {
        if self.flexible {
            self.uvarint(s.len() as u32 + 1).raw(s.as_bytes())
        } else {
            self.i16(s.len() as i16).raw(s.as_bytes())
        }
    }
    fn null_string(&mut self) -> &mut Self {
        if self.flexible {
            self.uvarint(0)
        } else {
            self.i16(-1)
        }
    }
    /// An empty tagged-field section (flexible versions only).
    fn tags(&mut self) -> &mut Self {
        if self.flexible {
            self.uvarint(0);
        }
        self
    }
    fn done(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }
}

/// CreateTopics v4 (classic): topics count i32::MAX.
fn create_topics_v4_topics(claim: Claim) -> Vec<u8> {
    let mut w = Wire::request(ApiKey::CreateTopics, 4);
    w.count(claim).i32(30_000).i8(0).done()
}

/// CreateTopics v7 (flexible): compact topics count u32::MAX - 1. Its first 20 bytes are the
/// reported attack.
fn create_topics_v7_topics(claim: Claim) -> Vec<u8> {
    let mut w = Wire::request(ApiKey::CreateTopics, 7);
    w.count(claim).i32(30_000).i8(0).tags().done()
}

/// One topic whose replica assignments (nested array) are forged.
fn create_topics_v5_assignments(claim: Claim) -> Vec<u8> {
    let mut w = Wire::request(ApiKey::CreateTopics, 5);
    w.n(1).string("t").i32(-1).i16(-1).count(claim).n(0).tags();
    w.i32(30_000).i8(0).tags().done()
}

/// One assignment whose broker ids (an array of i32 inside a nested array) are forged.
fn create_topics_v2_broker_ids(claim: Claim) -> Vec<u8> {
    let mut w = Wire::request(ApiKey::CreateTopics, 2);
    w.n(1).string("t").i32(-1).i16(-1);
    w.n(1).i32(0).count(claim); // assignments[0]: partition 0, broker ids
    w.n(0).i32(30_000).i8(0).done() // configs, timeout, validate_only
}

fn produce_v3_topic_data(claim: Claim) -> Vec<u8> {
    let mut w = Wire::request(ApiKey::Produce, 3);
    w.null_string().i16(1).i32(30_000).count(claim).done()
}

fn produce_v9_topic_data(claim: Claim) -> Vec<u8> {
    let mut w = Wire::request(ApiKey::Produce, 9);
    w.null_string()
        .i16(1)
        .i32(30_000)
        .count(claim)
        .tags()
        .done()
}

fn produce_v9_partition_data(claim: Claim) -> Vec<u8> {
    let mut w = Wire::request(ApiKey::Produce, 9);
    w.null_string().i16(1).i32(30_000);
    w.n(1).string("t").count(claim).tags();
    w.tags().done()
}

/// The records of one partition claim 2 GiB (classic bytes length).
fn produce_v3_records_length(claim: Claim) -> Vec<u8> {
    let mut w = Wire::request(ApiKey::Produce, 3);
    w.null_string().i16(1).i32(30_000);
    w.n(1).string("t").n(1).i32(0).length(claim, 0).done()
}

/// The records of one partition claim 4 GiB (compact bytes length).
fn produce_v9_records_length(claim: Claim) -> Vec<u8> {
    let mut w = Wire::request(ApiKey::Produce, 9);
    w.null_string().i16(1).i32(30_000);
    w.n(1)
        .string("t")
        .n(1)
        .i32(0)
        .length(claim, 0)
        .tags()
        .tags();
    w.tags().done()
}

fn fetch_v4_topics(claim: Claim) -> Vec<u8> {
    let mut w = Wire::request(ApiKey::Fetch, 4);
    w.i32(-1)
        .i32(500)
        .i32(1)
        .i32(1 << 20)
        .i8(0)
        .count(claim)
        .done()
}

/// A topic whose partitions are forged (classic), beside session fields and forgotten topics.
fn fetch_v7_partitions(claim: Claim) -> Vec<u8> {
    let mut w = Wire::request(ApiKey::Fetch, 7);
    w.i32(-1).i32(500).i32(1).i32(1 << 20).i8(0).i32(0).i32(-1);
    w.n(1).string("t").count(claim);
    w.n(0).done() // forgotten topics
}

fn fetch_v12_topics(claim: Claim) -> Vec<u8> {
    let mut w = Wire::request(ApiKey::Fetch, 12);
    w.i32(-1).i32(500).i32(1).i32(1 << 20).i8(0).i32(0).i32(-1);
    w.count(claim).n(0).string("").tags().done()
}

fn fetch_v12_forgotten_partitions(claim: Claim) -> Vec<u8> {
    let mut w = Wire::request(ApiKey::Fetch, 12);
    w.i32(-1).i32(500).i32(1).i32(1 << 20).i8(0).i32(0).i32(-1);
    w.n(0).n(1).string("t").count(claim).tags();
    w.string("").tags().done()
}

fn metadata_v1_topics(claim: Claim) -> Vec<u8> {
    Wire::request(ApiKey::Metadata, 1).count(claim).done()
}

fn metadata_v12_topics(claim: Claim) -> Vec<u8> {
    let mut w = Wire::request(ApiKey::Metadata, 12);
    w.count(claim).i8(1).i8(0).tags().done()
}

/// A topic name that claims 4 GiB (compact string length).
fn metadata_v9_topic_name_length(claim: Claim) -> Vec<u8> {
    let mut w = Wire::request(ApiKey::Metadata, 9);
    w.n(1).length(claim, 0).tags();
    w.i8(1).i8(0).i8(0).tags().done() // allow auto-creation, cluster and topic operations
}

fn list_offsets_v1_topics(claim: Claim) -> Vec<u8> {
    let mut w = Wire::request(ApiKey::ListOffsets, 1);
    w.i32(-1).count(claim).done()
}

fn list_offsets_v6_partitions(claim: Claim) -> Vec<u8> {
    let mut w = Wire::request(ApiKey::ListOffsets, 6);
    w.i32(-1).i8(0).n(1).string("t").count(claim).tags();
    w.tags().done()
}

fn list_offsets_v10_topics(claim: Claim) -> Vec<u8> {
    let mut w = Wire::request(ApiKey::ListOffsets, 10);
    w.i32(-1).i8(0).count(claim).i32(30_000).tags().done()
}

/// The request header claims u32::MAX tagged fields.
fn header_v2_tagged_field_count(claim: Claim) -> Vec<u8> {
    let mut w = Wire {
        bytes: Vec::new(),
        flexible: true,
    };
    w.i16(ApiKey::Metadata as i16)
        .i16(12)
        .i32(7)
        .i16(1)
        .raw(b"t");
    match claim {
        Claim::Zero => w.uvarint(0),
        Claim::Forged => w.uvarint(u32::MAX),
    };
    w.n(0).i8(1).i8(0).tags().done()
}

/// One unknown tagged field in the body whose size claims 4 GiB.
fn metadata_v12_tagged_field_size(claim: Claim) -> Vec<u8> {
    let mut w = Wire::request(ApiKey::Metadata, 12);
    w.n(0).i8(1).i8(0);
    w.uvarint(1).uvarint(99); // one tagged field, tag 99 (unknown)
    match claim {
        Claim::Zero => w.uvarint(0),
        Claim::Forged => w.uvarint(u32::MAX),
    };
    w.done()
}

type ForgedCase = (&'static str, fn(Claim) -> Vec<u8>);

const FORGED_CASES: &[ForgedCase] = &[
    ("CreateTopics v4 topics", create_topics_v4_topics),
    ("CreateTopics v7 topics", create_topics_v7_topics),
    ("CreateTopics v5 assignments", create_topics_v5_assignments),
    ("CreateTopics v2 broker ids", create_topics_v2_broker_ids),
    ("Produce v3 topic data", produce_v3_topic_data),
    ("Produce v9 topic data", produce_v9_topic_data),
    ("Produce v9 partition data", produce_v9_partition_data),
    ("Produce v3 records length", produce_v3_records_length),
    ("Produce v9 records length", produce_v9_records_length),
    ("Fetch v4 topics", fetch_v4_topics),
    ("Fetch v7 partitions", fetch_v7_partitions),
    ("Fetch v12 topics", fetch_v12_topics),
    (
        "Fetch v12 forgotten partitions",
        fetch_v12_forgotten_partitions,
    ),
    ("Metadata v1 topics", metadata_v1_topics),
    ("Metadata v12 topics", metadata_v12_topics),
    (
        "Metadata v9 topic name length",
        metadata_v9_topic_name_length,
    ),
    ("ListOffsets v1 topics", list_offsets_v1_topics),
    ("ListOffsets v6 partitions", list_offsets_v6_partitions),
    ("ListOffsets v10 topics", list_offsets_v10_topics),
    ("header v2 tagged field count", header_v2_tagged_field_count),
    (
        "Metadata v12 tagged field size",
        metadata_v12_tagged_field_size,
    ),
];

/// The reported attack, in our codec's terms: header (11 bytes), the compact topics count
/// u32::MAX - 1 (5 bytes) and 4 more. Unpatched, `Vec::<CreatableTopic>::with_capacity` asks for
/// `size_of::<CreatableTopic>()` (112 bytes on x86-64) times 4,294,967,294: ~481 GB.
#[test]
fn a_20_byte_create_topics_frame_claiming_481_gb_is_refused_within_budget() {
    let frame = &create_topics_v7_topics(Claim::Forged)[..20];
    let claimed = u128::from(u32::MAX - 1) * std::mem::size_of::<CreatableTopic>() as u128;
    assert!(claimed > 400_000_000_000, "claims only {claimed} bytes");
    let decoded = assert_bounded(&"20-byte CreateTopics", frame);
    assert!(!decoded, "a forged count must not decode");
}

#[test]
fn forged_counts_and_lengths_are_refused_within_budget() {
    for (name, build) in FORGED_CASES {
        let honest = build(Claim::Zero);
        assert!(
            assert_bounded(&format_args!("{name} (honest)"), &honest),
            "{name}: the honest frame must decode, or the forged field is not where the decoder \
             reads it: {}",
            hex(&honest)
        );
        let forged = build(Claim::Forged);
        let decoded = assert_bounded(&format_args!("{name} (forged)"), &forged);
        assert!(!decoded, "{name}: a forged count must not decode");
    }
}

// ---------------------------------------------------------------------------------------------
// Valid frames of every supported API and version, from the codec's own encoders.

/// A valid request of every API and version that dispatch would decode; `(label, header bytes,
/// frame)`. The APIs with a builder below get nested arrays, strings, record bytes and (in
/// flexible versions) unknown tagged fields, so that mutations have every kind of count and
/// length to hit; an API added to dispatch since gets its default request until it has one.
fn valid_frames() -> Vec<(String, usize, Vec<u8>)> {
    let mut frames = Vec::new();
    for range in SUPPORTED_APIS {
        // The versions `decode_request` accepts.
        for version in range.min.max(range.decodable_min)..=range.max {
            let (header_bytes, frame) = encode_frame(range.key, version);
            frames.push((format!("{:?} v{version}", range.key), header_bytes, frame));
        }
    }
    frames
}

macro_rules! default_request {
    ($($key:ident)*) => {
        /// The default-valued request of `key` (empty arrays and strings).
        #[allow(unreachable_patterns)]
        fn default_request(key: ApiKey) -> Option<RequestKind> {
            match key {
                $(ApiKey::$key => Some(RequestKind::$key(Default::default())),)*
                _ => None,
            }
        }
    };
}

default_request! {
    Produce Fetch ListOffsets Metadata OffsetCommit OffsetFetch FindCoordinator JoinGroup
    Heartbeat LeaveGroup SyncGroup DescribeGroups ListGroups SaslHandshake ApiVersions
    CreateTopics DeleteTopics DeleteRecords InitProducerId OffsetForLeaderEpoch
    AddPartitionsToTxn AddOffsetsToTxn EndTxn WriteTxnMarkers TxnOffsetCommit DescribeAcls
    CreateAcls DeleteAcls DescribeConfigs AlterConfigs AlterReplicaLogDirs DescribeLogDirs
    SaslAuthenticate CreatePartitions CreateDelegationToken RenewDelegationToken
    ExpireDelegationToken DescribeDelegationToken DeleteGroups ElectLeaders
    IncrementalAlterConfigs AlterPartitionReassignments ListPartitionReassignments OffsetDelete
    DescribeClientQuotas AlterClientQuotas DescribeUserScramCredentials
    AlterUserScramCredentials Vote BeginQuorumEpoch EndQuorumEpoch DescribeQuorum AlterPartition
    UpdateFeatures Envelope FetchSnapshot DescribeCluster DescribeProducers BrokerRegistration
    BrokerHeartbeat UnregisterBroker DescribeTransactions ListTransactions AllocateProducerIds
    ConsumerGroupHeartbeat ConsumerGroupDescribe ControllerRegistration
    GetTelemetrySubscriptions PushTelemetry AssignReplicasToDirs ListConfigResources
    DescribeTopicPartitions ShareGroupHeartbeat ShareGroupDescribe ShareFetch ShareAcknowledge
    AddRaftVoter RemoveRaftVoter UpdateRaftVoter InitializeShareGroupState
    ReadShareGroupState WriteShareGroupState DeleteShareGroupState ReadShareGroupStateSummary
    DescribeShareGroupOffsets AlterShareGroupOffsets DeleteShareGroupOffsets
}

fn s(value: &'static str) -> StrBytes {
    StrBytes::from_static_str(value)
}

fn tagged() -> BTreeMap<i32, Bytes> {
    BTreeMap::from([(90, Bytes::from_static(b"x")), (91, Bytes::new())])
}

/// The frame of `key` at `version` and the length of its header.
fn encode_frame(key: ApiKey, version: i16) -> (usize, Vec<u8>) {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(s("decode-memory")))
        .with_unknown_tagged_fields(tagged());
    let mut buf = BytesMut::new();
    let header_version = key.request_header_version(version);
    header.encode(&mut buf, header_version).unwrap();
    let header_bytes = buf.len();
    let encoded = match key {
        ApiKey::Produce => produce(version).encode(&mut buf, version),
        ApiKey::Fetch => fetch(version).encode(&mut buf, version),
        ApiKey::ListOffsets => list_offsets(version).encode(&mut buf, version),
        ApiKey::Metadata => metadata(version).encode(&mut buf, version),
        ApiKey::ApiVersions => api_versions(version).encode(&mut buf, version),
        ApiKey::CreateTopics => create_topics().encode(&mut buf, version),
        ApiKey::DeleteTopics => delete_topics(version).encode(&mut buf, version),
        ApiKey::InitProducerId => init_producer_id(version).encode(&mut buf, version),
        ApiKey::DescribeCluster => describe_cluster(version).encode(&mut buf, version),
        other => match default_request(other) {
            Some(request) => request.encode(&mut buf, version),
            None => panic!("{other:?} has no request type in kafka-protocol"),
        },
    };
    if let Err(error) = encoded {
        panic!("cannot encode {key:?} v{version}: {error}");
    }
    (header_bytes, buf.to_vec())
}

fn produce(version: i16) -> ProduceRequest {
    let mut records = TestBatch::new(2, 1_000, b"records").encode();
    records.extend(TestBatch::new(1, 1_001, b"more").encode());
    let partition = |index| {
        PartitionProduceData::default()
            .with_index(index)
            .with_records(Some(Bytes::from(records.clone())))
            .with_unknown_tagged_fields(tagged())
    };
    let mut topic = TopicProduceData::default()
        .with_partition_data(vec![partition(0), partition(1)])
        .with_unknown_tagged_fields(tagged());
    if version >= 13 {
        topic = topic.with_topic_id(uuid::Uuid::from_u128(0x1234));
    } else {
        topic = topic.with_name(TopicName(s("orders")));
    }
    ProduceRequest::default()
        .with_transactional_id(Some(TransactionalId(s("tx"))))
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![topic])
        .with_unknown_tagged_fields(tagged())
}

fn fetch(version: i16) -> FetchRequest {
    let partition = |index| {
        let mut p = FetchPartition::default()
            .with_partition(index)
            .with_fetch_offset(42)
            .with_partition_max_bytes(1 << 20)
            .with_unknown_tagged_fields(tagged());
        if version >= 5 {
            p = p.with_log_start_offset(0);
        }
        if version >= 9 {
            p = p.with_current_leader_epoch(3);
        }
        if version >= 12 {
            p = p.with_last_fetched_epoch(2);
        }
        p
    };
    let mut topic = FetchTopic::default()
        .with_partitions(vec![partition(0), partition(1)])
        .with_unknown_tagged_fields(tagged());
    if version >= 13 {
        topic = topic.with_topic_id(uuid::Uuid::from_u128(0x1234));
    } else {
        topic = topic.with_topic(TopicName(s("orders")));
    }
    let mut request = FetchRequest::default()
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(50 << 20)
        .with_isolation_level(1)
        .with_topics(vec![topic])
        .with_unknown_tagged_fields(tagged());
    if version >= 7 {
        let mut forgotten = ForgottenTopic::default().with_partitions(vec![3, 4]);
        if version >= 13 {
            forgotten = forgotten.with_topic_id(uuid::Uuid::from_u128(0x5678));
        } else {
            forgotten = forgotten.with_topic(TopicName(s("gone")));
        }
        request = request
            .with_session_id(9)
            .with_session_epoch(1)
            .with_forgotten_topics_data(vec![forgotten]);
    }
    if version >= 11 {
        request = request.with_rack_id(s("rack-a"));
    }
    if version >= 12 {
        request = request.with_cluster_id(Some(s("cluster")));
    }
    if version >= 15 {
        request = request.with_replica_state(
            ReplicaState::default()
                .with_replica_id(BrokerId(1))
                .with_replica_epoch(5),
        );
    }
    request
}

fn list_offsets(version: i16) -> ListOffsetsRequest {
    let partition = |index| {
        let mut p = ListOffsetsPartition::default()
            .with_partition_index(index)
            .with_timestamp(-1)
            .with_unknown_tagged_fields(tagged());
        if version >= 4 {
            p = p.with_current_leader_epoch(3);
        }
        p
    };
    let topic = ListOffsetsTopic::default()
        .with_name(TopicName(s("orders")))
        .with_partitions(vec![partition(0), partition(1)])
        .with_unknown_tagged_fields(tagged());
    let mut request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![topic])
        .with_unknown_tagged_fields(tagged());
    if version >= 2 {
        request = request.with_isolation_level(1);
    }
    if version >= 10 {
        request = request.with_timeout_ms(30_000);
    }
    request
}

fn metadata(version: i16) -> MetadataRequest {
    let topic = |name| {
        let mut t = MetadataRequestTopic::default()
            .with_name(Some(TopicName(s(name))))
            .with_unknown_tagged_fields(tagged());
        if version >= 10 {
            t = t.with_topic_id(uuid::Uuid::from_u128(0x1234));
        }
        t
    };
    let mut request = MetadataRequest::default()
        .with_topics(Some(vec![topic("orders"), topic("payments")]))
        .with_unknown_tagged_fields(tagged());
    if version >= 8 {
        request = request.with_include_topic_authorized_operations(true);
    }
    request
}

fn api_versions(version: i16) -> ApiVersionsRequest {
    let mut request = ApiVersionsRequest::default().with_unknown_tagged_fields(tagged());
    if version >= 3 {
        request = request
            .with_client_software_name(s("decode-memory"))
            .with_client_software_version(s("1.0"));
    }
    request
}

fn create_topics() -> CreateTopicsRequest {
    let assignment = CreatableReplicaAssignment::default()
        .with_partition_index(0)
        .with_broker_ids(vec![BrokerId(1), BrokerId(2)])
        .with_unknown_tagged_fields(tagged());
    let config = CreatableTopicConfig::default()
        .with_name(s("retention.ms"))
        .with_value(Some(s("60000")))
        .with_unknown_tagged_fields(tagged());
    let topic = CreatableTopic::default()
        .with_name(TopicName(s("orders")))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_assignments(vec![assignment])
        .with_configs(vec![config])
        .with_unknown_tagged_fields(tagged());
    let plain = CreatableTopic::default()
        .with_name(TopicName(s("payments")))
        .with_num_partitions(3)
        .with_replication_factor(1);
    CreateTopicsRequest::default()
        .with_topics(vec![topic, plain])
        .with_timeout_ms(30_000)
        .with_unknown_tagged_fields(tagged())
}

fn delete_topics(version: i16) -> DeleteTopicsRequest {
    let request = DeleteTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_unknown_tagged_fields(tagged());
    if version >= 6 {
        let state = DeleteTopicState::default()
            .with_name(Some(TopicName(s("orders"))))
            .with_unknown_tagged_fields(tagged());
        request.with_topics(vec![state])
    } else {
        request.with_topic_names(vec![TopicName(s("orders")), TopicName(s("payments"))])
    }
}

fn init_producer_id(version: i16) -> InitProducerIdRequest {
    let mut request = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s("tx"))))
        .with_transaction_timeout_ms(60_000)
        .with_unknown_tagged_fields(tagged());
    if version >= 3 {
        request = request
            .with_producer_id(ProducerId(17))
            .with_producer_epoch(2);
    }
    request
}

fn describe_cluster(version: i16) -> DescribeClusterRequest {
    let mut request = DescribeClusterRequest::default()
        .with_include_cluster_authorized_operations(true)
        .with_unknown_tagged_fields(tagged());
    if version >= 2 {
        request = request.with_include_fenced_brokers(true);
    }
    request
}

#[test]
fn every_valid_frame_decodes_within_budget() {
    let frames = valid_frames();
    assert!(frames.len() > 50, "only {} frames", frames.len());
    let mut worst = Worst::default();
    for (label, _, frame) in &frames {
        let (decoded, allocated) = assert_bounded_usage(label, frame);
        assert!(decoded, "{label} must decode: {}", hex(frame));
        worst.see(|| label.clone(), frame.len(), allocated);
    }
    println!("{} valid frames; {worst}", frames.len());
}

/// Every position of every valid frame, overwritten with the largest count or length each
/// encoding can carry (i16 string length, i32 array count or bytes length, compact varint):
/// covers every count and length field of every supported request without naming them.
#[test]
fn a_forged_count_at_any_position_is_refused_within_budget() {
    const PATTERNS: &[(&str, &[u8], usize)] = &[
        // (name, bytes written, bytes replaced)
        ("i16::MAX", &[0x7f, 0xff], 2),
        ("i32::MAX", &[0x7f, 0xff, 0xff, 0xff], 4),
        ("varint u32::MAX", &[0xff, 0xff, 0xff, 0xff, 0x0f], 1),
    ];
    let (mut decodes, mut worst) = (0, Worst::default());
    for (label, _, frame) in valid_frames() {
        // Keep the api key and version: a forged key is refused before any decoder runs.
        for at in 4..frame.len() {
            for (pattern, bytes, replaced) in PATTERNS {
                let end = (at + replaced).min(frame.len());
                let mut forged = frame[..at].to_vec();
                forged.extend_from_slice(bytes);
                forged.extend_from_slice(&frame[end..]);
                let what = || format!("{label}, {pattern} at {at}");
                let (_, allocated) = assert_bounded_usage(&what(), &forged);
                worst.see(what, forged.len(), allocated);
                decodes += 1;
            }
        }
    }
    println!("{decodes} forged frames; {worst}");
    assert!(decodes > 10_000, "only {decodes} forged frames");
}

// ---------------------------------------------------------------------------------------------
// (b) Random mutations of valid frames.

/// xorshift64*: small, seeded, replayable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Values that sit on the edges of counts and lengths.
const INTERESTING: &[&[u8]] = &[
    &[0x00],
    &[0x01],
    &[0x7f],
    &[0x80],
    &[0xff],
    &[0xff, 0xff],
    &[0x7f, 0xff],
    &[0x80, 0x00],
    &[0x7f, 0xff, 0xff, 0xff],
    &[0xff, 0xff, 0xff, 0xff],
    &[0x80, 0x00, 0x00, 0x00],
    &[0x00, 0x01, 0x00, 0x00],
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
    &[0x80, 0x80, 0x80, 0x80, 0x08],
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
];

/// One to four mutations of `frame`: flipped bits, interesting values written over or
/// inserted, bytes deleted, duplicated, truncated, or spliced in from `other`.
fn mutate(rng: &mut Rng, frame: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = frame.to_vec();
    for _ in 0..1 + rng.below(4) {
        // Mostly leave the api key alone so the body decoders get exercised.
        let from = if rng.below(8) == 0 {
            0
        } else {
            4.min(out.len())
        };
        let at = from + rng.below(out.len() - from + 1); // at most out.len(): may append
        match rng.below(7) {
            0 if at < out.len() => out[at] ^= 1 << rng.below(8),
            1 => {
                let value = INTERESTING[rng.below(INTERESTING.len())];
                let end = (at + value.len()).min(out.len());
                out.splice(at..end, value.iter().copied());
            }
            2 => {
                let value = INTERESTING[rng.below(INTERESTING.len())];
                out.splice(at..at, value.iter().copied());
            }
            3 => {
                let end = (at + 1 + rng.below(8)).min(out.len());
                out.drain(at..end);
            }
            4 => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                let copy = out[at..end].to_vec();
                out.splice(at..at, copy);
            }
            5 => out.truncate(at.max(4)),
            _ => {
                let start = rng.below(other.len());
                let end = (start + 1 + rng.below(32)).min(other.len());
                out.splice(at..at, other[start..end].iter().copied());
            }
        }
    }
    out
}

#[test]
fn mutated_frames_never_panic_and_stay_within_budget() {
    let seed = std::env::var("DECODE_MEMORY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(MUTATION_SEED_DEFAULT);
    let frames = valid_frames();
    let mut rng = Rng(seed.max(1));
    let (mut decoded, mut worst) = (0, Worst::default());
    for iteration in 0..MUTATION_ITERATIONS {
        let (label, _, frame) = &frames[rng.below(frames.len())];
        let (_, _, other) = &frames[rng.below(frames.len())];
        let mutated = mutate(&mut rng, frame, other);
        let what = format!("seed {seed} iteration {iteration}, mutated {label}");
        let (ok, allocated) = assert_bounded_usage(&what, &mutated);
        decoded += usize::from(ok);
        worst.see(|| what, mutated.len(), allocated);
    }
    println!("seed {seed}: {decoded} of {MUTATION_ITERATIONS} mutated frames decoded; {worst}");
    // Most mutations break the frame, but some must survive or the test is not reaching bodies.
    assert!(decoded > 0, "seed {seed}: no mutated frame decoded");
}

// ---------------------------------------------------------------------------------------------
// Seeds for the cargo-fuzz targets.

/// Writes the seed corpora under `fuzz/seeds/` from the frames above:
/// `cargo test -p vltava-broker --test decode_memory -- --ignored write_fuzz_seeds`.
#[test]
#[ignore = "writes fuzz/seeds; run by hand after changing the frames"]
fn write_fuzz_seeds() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds");
    let write = |dir: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    for (label, header_bytes, frame) in valid_frames() {
        let name = label.replace(' ', "-").to_lowercase();
        write("decode_request", &format!("{name}.bin"), &frame);
        // The structured layout (fuzz/src/structured.rs): API index, version offset, body.
        let key = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let index = SUPPORTED_APIS
            .iter()
            .position(|r| r.key as i16 == key)
            .unwrap();
        let range = &SUPPORTED_APIS[index];
        let min = range.min.max(range.decodable_min);
        let mut structured = vec![index as u8, (version - min) as u8];
        structured.extend_from_slice(&frame[header_bytes..]);
        write(
            "decode_request_structured",
            &format!("{name}.bin"),
            &structured,
        );
    }
    for (name, build) in FORGED_CASES {
        let name = name.replace(' ', "-").to_lowercase();
        write(
            "decode_request",
            &format!("forged-{name}.bin"),
            &build(Claim::Forged),
        );
    }
    // The record_batches layout (fuzz/fuzz_targets/record_batches.rs): a mode byte (odd: fix
    // the CRCs up first), then the batches.
    let one = TestBatch::new(3, 1_000, b"three records").encode();
    let mut two = TestBatch::new(1, 1_000, b"x").encode();
    two.extend(TestBatch::new(5, 1_001, b"yyyyy").encode());
    let mut idempotent = TestBatch::new(2, 1_000, b"ab");
    (idempotent.producer_id, idempotent.base_sequence) = (17, i32::MAX - 1);
    let empty = TestBatch::new(0, 0, b"").encode();
    let batches = [
        ("one-batch", one),
        ("two-batches", two),
        ("idempotent-wrapping-sequence", idempotent.encode()),
        ("empty-records", empty),
    ];
    for (name, bytes) in batches {
        for mode in [0u8, 1] {
            let input = [&[mode][..], &bytes].concat();
            write("record_batches", &format!("{name}-mode{mode}.bin"), &input);
        }
    }
}
