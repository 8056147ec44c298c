//! Dispatch is a lookup: one table names every API vltava serves, its advertised version range
//! and its handler. ApiVersions answers from the same table, so what we advertise and what we
//! serve cannot drift apart, and a key listed twice fails to compile (unreachable pattern).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};
use kafka_protocol::protocol::{Message, decode_request_header_from_buffer};

use crate::api;
use crate::broker::Broker;
use crate::security::Session;
use crate::security::acl::Authorization;
use vltava_storage::ReadSlice;

/// An API and the versions ApiVersions advertises for it.
#[derive(Debug, Clone, Copy)]
pub struct ApiRange {
    pub key: ApiKey,
    pub min: i16,
    pub max: i16,
    /// The oldest version the codec reads; below it (Produce v0-2) a request is refused.
    pub decodable_min: i16,
}

const fn min_version(a: i16, b: i16) -> i16 {
    if a < b { a } else { b }
}

/// What a handler gives back.
pub enum Reply {
    /// The response is ready.
    Now(Box<ResponseKind>),
    /// The response waits on an event (fsync for acks=all, new data for a long-polling fetch).
    /// It runs as a task; the connection dispatches a later request before it ends only if
    /// both are Produce (see server/connection.rs), and responses go out in request order.
    Later(Pin<Box<dyn Future<Output = Response> + Send>>),
    /// acks=0 produce: Kafka sends nothing back.
    Nothing,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reply::Now(_) => "Reply::Now",
            Reply::Later(_) => "Reply::Later",
            Reply::Nothing => "Reply::Nothing",
        })
    }
}

/// A response that waited, with the record bytes of a Fetch response, which stay in their
/// segment files until the connection writes the response (server/send_file.rs).
pub struct Response {
    pub kind: ResponseKind,
    /// For a Fetch response: one slice per partition, in the order the response lists them
    /// (empty where a partition carries no records), whose records field in `kind` is empty.
    /// Empty for any other response.
    pub records: Vec<ReadSlice>,
}

impl<T: Into<ResponseKind>> From<T> for Response {
    fn from(response: T) -> Self {
        Response {
            kind: response.into(),
            records: Vec::new(),
        }
    }
}

impl<T: Into<ResponseKind>> From<T> for Reply {
    fn from(response: T) -> Self {
        Reply::Now(Box::new(response.into()))
    }
}

/// Everything a handler may know about the request besides its body.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub broker: Arc<Broker>,
    pub api_version: i16,
    pub header: RequestHeader,
    /// The client's address (JoinGroup reports it as the member's host).
    pub peer: SocketAddr,
    /// The listener the client came in on (its addresses are the ones to answer with) and
    /// the principal it acts as.
    pub session: Arc<Session>,
}

impl RequestContext {
    /// The header's client id, empty when the client sent none.
    pub fn client_id(&self) -> String {
        self.header
            .client_id
            .as_ref()
            .map(|id| id.to_string())
            .unwrap_or_default()
    }

    /// What this request's principal may do, judged on the current metadata image.
    pub fn authorization(&self) -> Authorization {
        Authorization::new(
            self.broker.config.authorizer.as_ref(),
            self.broker.image(),
            self.session.principal.to_string(),
            self.peer.ip(),
        )
    }
}

/// Why a request gets no Kafka answer and its connection is closed, as Kafka does.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("frame too short for a request header")]
    Truncated,
    #[error("cannot decode the request header: {source}")]
    Header {
        #[source]
        source: anyhow::Error,
    },
    #[error("api key {0} is not supported")]
    UnknownApiKey(i16),
    #[error("{key:?} version {version} is not supported")]
    UnsupportedVersion { key: ApiKey, version: i16 },
    #[error("cannot decode {key:?} v{version}: {source}")]
    Decode {
        key: ApiKey,
        version: i16,
        #[source]
        source: anyhow::Error,
    },
}

macro_rules! apis {
    ($($key:ident($request:ident) $min:literal ..= $max:literal => $handler:path,)*) => {
        /// Every API vltava serves, with the versions it advertises: never above what the
        /// request codec can decode, so advertising and serving cannot disagree.
        pub const SUPPORTED_APIS: &[ApiRange] = &[
            $(ApiRange {
                key: ApiKey::$key,
                min: $min,
                max: min_version($max, <kafka_protocol::messages::$request as Message>::VERSIONS.max),
                decodable_min: <kafka_protocol::messages::$request as Message>::VERSIONS.min,
            },)*
        ];

        async fn call(context: RequestContext, request: RequestKind) -> Reply {
            match request {
                $(RequestKind::$key(request) => $handler(context, request).await,)*
                // Unreachable: `dispatch` decodes only keys of the table.
                _ => Reply::Nothing,
            }
        }
    };
}

apis! {
    // Kafka 4 advertises Produce from v0 although it serves v3+ only: librdkafka refuses to
    // produce compressed batches to a broker whose minimum is above 0 (KAFKA-18659).
    Produce(ProduceRequest) 0..=13 => api::produce::handle,
    Fetch(FetchRequest) 4..=18 => api::fetch::handle,
    ListOffsets(ListOffsetsRequest) 1..=10 => api::list_offsets::handle,
    OffsetForLeaderEpoch(OffsetForLeaderEpochRequest) 2..=4 => api::offset_for_leader_epoch::handle,
    Metadata(MetadataRequest) 0..=13 => api::metadata::handle,
    ApiVersions(ApiVersionsRequest) 0..=4 => api::api_versions::handle,
    CreateTopics(CreateTopicsRequest) 2..=7 => api::create_topics::handle,
    DeleteTopics(DeleteTopicsRequest) 1..=6 => api::delete_topics::handle,
    InitProducerId(InitProducerIdRequest) 0..=6 => api::init_producer_id::handle,
    AddPartitionsToTxn(AddPartitionsToTxnRequest) 0..=5 => api::add_partitions_to_txn::handle,
    AddOffsetsToTxn(AddOffsetsToTxnRequest) 0..=4 => api::add_offsets_to_txn::handle,
    // v5 belongs to transaction version 2 (KIP-890 part 2), which vltava does not serve yet.
    EndTxn(EndTxnRequest) 0..=5 => api::end_txn::handle,
    WriteTxnMarkers(WriteTxnMarkersRequest) 1..=2 => api::write_txn_markers::handle,
    TxnOffsetCommit(TxnOffsetCommitRequest) 0..=6 => api::txn_offset_commit::handle,
    DescribeTransactions(DescribeTransactionsRequest) 0..=0 => api::describe_transactions::handle,
    // v2's transactional id pattern (KIP-1152) is not served.
    ListTransactions(ListTransactionsRequest) 0..=1 => api::list_transactions::handle,
    DescribeCluster(DescribeClusterRequest) 0..=2 => api::describe_cluster::handle,
    DescribeConfigs(DescribeConfigsRequest) 1..=4 => api::describe_configs::handle,
    CreatePartitions(CreatePartitionsRequest) 0..=3 => api::create_partitions::handle,
    DeleteRecords(DeleteRecordsRequest) 0..=2 => api::delete_records::handle,
    DescribeLogDirs(DescribeLogDirsRequest) 1..=4 => api::describe_log_dirs::handle,
    DescribeProducers(DescribeProducersRequest) 0..=0 => api::describe_producers::handle,
    DescribeQuorum(DescribeQuorumRequest) 0..=2 => api::describe_quorum::handle,
    ElectLeaders(ElectLeadersRequest) 0..=2 => api::elect_leaders::handle,
    AlterPartitionReassignments(AlterPartitionReassignmentsRequest) 0..=1 => api::alter_partition_reassignments::handle,
    ListPartitionReassignments(ListPartitionReassignmentsRequest) 0..=0 => api::list_partition_reassignments::handle,
    DescribeTopicPartitions(DescribeTopicPartitionsRequest) 0..=0 => api::describe_topic_partitions::handle,
    AlterConfigs(AlterConfigsRequest) 0..=2 => api::alter_configs::handle,
    IncrementalAlterConfigs(IncrementalAlterConfigsRequest) 0..=1 => api::incremental_alter_configs::handle,
    FindCoordinator(FindCoordinatorRequest) 0..=6 => api::find_coordinator::handle,
    JoinGroup(JoinGroupRequest) 0..=9 => api::join_group::handle,
    SyncGroup(SyncGroupRequest) 0..=5 => api::sync_group::handle,
    Heartbeat(HeartbeatRequest) 0..=4 => api::heartbeat::handle,
    LeaveGroup(LeaveGroupRequest) 0..=5 => api::leave_group::handle,
    OffsetCommit(OffsetCommitRequest) 2..=9 => api::offset_commit::handle,
    OffsetFetch(OffsetFetchRequest) 1..=9 => api::offset_fetch::handle,
    OffsetDelete(OffsetDeleteRequest) 0..=0 => api::offset_delete::handle,
    DescribeGroups(DescribeGroupsRequest) 0..=6 => api::describe_groups::handle,
    ListGroups(ListGroupsRequest) 0..=5 => api::list_groups::handle,
    DeleteGroups(DeleteGroupsRequest) 0..=2 => api::delete_groups::handle,
    ConsumerGroupHeartbeat(ConsumerGroupHeartbeatRequest) 0..=1 => api::consumer_group_heartbeat::handle,
    ConsumerGroupDescribe(ConsumerGroupDescribeRequest) 0..=1 => api::consumer_group_describe::handle,
    // Answered by the connection while it authenticates (security/sasl); these handlers see
    // only requests sent outside that exchange.
    // v0 is advertised because librdkafka gives up on SASL without it, but a v0 handshake is
    // followed by SaslAuthenticate as after v1: the raw tokens of pre-KIP-152 clients are not
    // read (Kafka 4 removed them with KIP-896).
    SaslHandshake(SaslHandshakeRequest) 0..=1 => api::sasl::handshake,
    SaslAuthenticate(SaslAuthenticateRequest) 0..=2 => api::sasl::authenticate,
    DescribeUserScramCredentials(DescribeUserScramCredentialsRequest) 0..=0 => api::describe_user_scram_credentials::handle,
    AlterUserScramCredentials(AlterUserScramCredentialsRequest) 0..=0 => api::alter_user_scram_credentials::handle,
    DescribeClientQuotas(DescribeClientQuotasRequest) 0..=1 => api::describe_client_quotas::handle,
    AlterClientQuotas(AlterClientQuotasRequest) 0..=1 => api::alter_client_quotas::handle,
    CreateAcls(CreateAclsRequest) 1..=3 => api::create_acls::handle,
    DescribeAcls(DescribeAclsRequest) 1..=3 => api::describe_acls::handle,
    DeleteAcls(DeleteAclsRequest) 1..=3 => api::delete_acls::handle,
}

pub fn supported(key: ApiKey) -> Option<&'static ApiRange> {
    SUPPORTED_APIS.iter().find(|api| api.key == key)
}

/// A request as decoded from its frame.
#[derive(Debug)]
pub enum Decoded {
    Request {
        key: ApiKey,
        header: RequestHeader,
        request: Box<RequestKind>,
    },
    /// KIP-511: an ApiVersions version we do not know; answered with v0 and UNSUPPORTED_VERSION
    /// so that the client can retry with a version we do.
    UnsupportedApiVersions(RequestHeader),
}

impl Decoded {
    /// How the response is framed: API, version and correlation id. The fallback answer to an
    /// unknown ApiVersions version is encoded as v0, which every client can read.
    pub fn response_framing(&self) -> (ApiKey, i16, i32) {
        match self {
            Decoded::UnsupportedApiVersions(header) => {
                (ApiKey::ApiVersions, 0, header.correlation_id)
            }
            Decoded::Request { key, header, .. } => {
                (*key, header.request_api_version, header.correlation_id)
            }
        }
    }

    /// The header's client id, empty when the client sent none.
    pub fn client_id(&self) -> &str {
        let header = match self {
            Decoded::UnsupportedApiVersions(header) | Decoded::Request { header, .. } => header,
        };
        header.client_id.as_deref().unwrap_or_default()
    }
}

/// Decodes one whole frame (without its length prefix). Never panics, whatever the bytes:
/// this is the fuzz target's entry point too.
pub fn decode_request(frame: Bytes) -> Result<Decoded, DispatchError> {
    let mut body = frame;
    if body.len() < 4 {
        return Err(DispatchError::Truncated);
    }
    let key_code = i16::from_be_bytes([body[0], body[1]]);
    let key = ApiKey::try_from(key_code).map_err(|_| DispatchError::UnknownApiKey(key_code))?;
    let Some(range) = supported(key) else {
        return Err(DispatchError::UnknownApiKey(key_code));
    };
    let header = decode_request_header_from_buffer(&mut body)
        .map_err(|source| DispatchError::Header { source })?;
    let version = header.request_api_version;
    // Versions we advertise but the codec cannot read (Produce v0-2) are refused like unknown ones.
    if version < range.min.max(range.decodable_min) || version > range.max {
        if key == ApiKey::ApiVersions {
            return Ok(Decoded::UnsupportedApiVersions(header));
        }
        return Err(DispatchError::UnsupportedVersion { key, version });
    }
    let request =
        RequestKind::decode(key, &mut body, version).map_err(|source| DispatchError::Decode {
            key,
            version,
            source,
        })?;
    Ok(Decoded::Request {
        key,
        header,
        request: Box::new(request),
    })
}

/// Calls the handler of a decoded request.
pub async fn dispatch(
    broker: &Arc<Broker>,
    peer: SocketAddr,
    session: &Arc<Session>,
    decoded: Decoded,
) -> Reply {
    match decoded {
        Decoded::UnsupportedApiVersions(_) => api::api_versions::unsupported_version(),
        Decoded::Request {
            header, request, ..
        } => {
            let context = RequestContext {
                broker: broker.clone(),
                api_version: header.request_api_version,
                header,
                peer,
                session: session.clone(),
            };
            call(context, *request).await
        }
    }
}
