//! A tiny blocking Kafka client, what the `vltava` command line and the admin listener's web
//! console ask of a cluster: one connection, one request at a time, fixed API versions (every
//! one of them served by vltava, so no ApiVersions round trip), and the few requests they need,
//! answered as plain values so that callers never see wire types. `batches` encodes and
//! decodes record batches for produce and fetch.
//!
//! Requests go to the bootstrap broker, except those a cluster routes (`routing`): offsets to a
//! partition's leader, group requests to the group's coordinator. A bad answer (short,
//! oversized, undecodable, wrong correlation id) is an error, never a panic.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::{Buf, Bytes};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::DescribedGroupMember;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    BrokerId, ConsumerGroupDescribeRequest, ConsumerProtocolAssignment, DescribeGroupsRequest,
    GroupId, ListGroupsRequest, ListOffsetsRequest, MetadataRequest, OffsetCommitRequest,
    OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, Message, Request, StrBytes};
use serde::Serialize;
use vltava_wire::blocking::{Connection, Options};

mod admin;
pub mod batches;
mod cluster;
mod groups;
pub mod partitioner;
mod produce;
mod routing;

pub use admin::{ConfigOp, ConfigValue, PartitionInfo, Resource, TopicInfo};
pub use cluster::{ClusterInfo, QuorumInfo};
pub use groups::{ConsumerGroupDescription, GroupWithLag, NewOffset, PartitionLag, ResetTarget};
pub use produce::{Acks, FetchOptions, Fetched, Produced, ProducerId};
pub use routing::{Connections, Leaders};

/// How long connecting to the broker may take, per address it resolves to.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request may wait for its response.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest response accepted; a length above it means a broken or hostile peer.
const RESPONSE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// The client id of [`Client::connect`]; [`Client::connect_as`] names another.
pub const CLIENT_ID: &str = "vltava-cli";
const METADATA_VERSION: i16 = 12;
const LIST_OFFSETS_VERSION: i16 = 7;
const LIST_GROUPS_VERSION: i16 = 5;
const CONSUMER_GROUP_DESCRIBE_VERSION: i16 = 0;
const DESCRIBE_GROUPS_VERSION: i16 = 5;
const OFFSET_FETCH_VERSION: i16 = 7;
const OFFSET_COMMIT_VERSION: i16 = 8;
/// ListOffsets asks as a consumer, not as a follower replica.
const CONSUMER_REPLICA_ID: i32 = -1;
/// Member assignments of this protocol type are ConsumerProtocolAssignment bytes.
const CONSUMER_PROTOCOL_TYPE: &str = "consumer";
/// The generation of a commit from outside the group, as Kafka's admin client sends it: the
/// broker accepts it only while the group has no members.
const NO_GENERATION: i32 = -1;

/// Kafka's UNKNOWN_SERVER_ERROR, for an answer the broker left out.
const UNKNOWN_SERVER_ERROR: i16 = -1;

/// ListOffsets' special timestamps.
pub const LATEST_TIMESTAMP: i64 = -1;
pub const EARLIEST_TIMESTAMP: i64 = -2;

/// A partition of a topic, ordered by topic then partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A group as ListGroups shows it.
#[derive(Debug, Serialize)]
pub struct GroupListing {
    pub group: String,
    pub state: String,
    pub protocol_type: String,
    /// "classic" or "consumer" (KIP-848), as ListGroups v5 names it.
    pub group_type: String,
}

/// A group as DescribeGroups shows it; an unknown group is in state Dead.
#[derive(Debug)]
pub struct GroupDescription {
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<GroupMember>,
}

#[derive(Debug, Serialize)]
pub struct GroupMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub host: String,
    /// `None` when the broker sent none (the group is rebalancing) or the group is not a
    /// consumer group, whose assignments we could read.
    pub assignment: Option<Vec<TopicPartition>>,
    /// The member's epoch in a KIP-848 consumer group; `None` in a classic group.
    pub member_epoch: Option<i32>,
}

/// One connection to a broker.
#[derive(Debug)]
pub struct Client {
    connection: Connection,
    bootstrap: String,
    /// Sent with every request, and by the connections this one opens to other brokers.
    client_id: &'static str,
}

impl Client {
    /// Connects to `bootstrap` (HOST:PORT), trying each address it resolves to.
    pub fn connect(bootstrap: &str) -> anyhow::Result<Client> {
        Client::connect_as(bootstrap, CLIENT_ID)
    }

    /// [`Client::connect`] with another client id (brokers log and count requests by it).
    pub fn connect_as(bootstrap: &str, client_id: &'static str) -> anyhow::Result<Client> {
        let options = Options {
            connect_timeout: CONNECT_TIMEOUT,
            io_timeout: REQUEST_TIMEOUT,
            response_bytes_max: RESPONSE_BYTES_MAX,
            client_id,
        };
        Ok(Client {
            connection: Connection::connect(bootstrap, options)?,
            bootstrap: bootstrap.to_string(),
            client_id,
        })
    }

    /// A connection to another broker, with this one's client id.
    pub fn connect_to(&self, address: &str) -> anyhow::Result<Client> {
        Client::connect_as(address, self.client_id)
    }

    /// Sends `request` at `version` and returns the decoded response.
    pub fn call<R: Request>(&mut self, version: i16, request: &R) -> anyhow::Result<R::Response> {
        self.connection
            .call(version, request)
            .with_context(|| format!("{} v{version} to {}", api_name::<R>(), self.bootstrap))
    }
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Per-partition parts of a request nested under their topics, in topic-name order:
/// `partition` makes each partition's part, `topic` a topic's from its name and parts.
fn by_topic<'a, I, P, T>(
    items: impl IntoIterator<Item = (&'a TopicPartition, I)>,
    partition: impl Fn(i32, I) -> P,
    topic: impl Fn(TopicName, Vec<P>) -> T,
) -> Vec<T> {
    let mut grouped: BTreeMap<&str, Vec<P>> = BTreeMap::new();
    for (p, item) in items {
        grouped
            .entry(&p.topic)
            .or_default()
            .push(partition(p.partition, item));
    }
    grouped
        .into_iter()
        .map(|(name, parts)| topic(TopicName(text(name)), parts))
        .collect()
}

fn group_member(m: DescribedGroupMember, consumer: bool) -> anyhow::Result<GroupMember> {
    let assignment = if consumer && !m.member_assignment.is_empty() {
        Some(
            decode_assignment(m.member_assignment)
                .with_context(|| format!("the assignment of member {}", m.member_id))?,
        )
    } else {
        None
    };
    Ok(GroupMember {
        member_id: m.member_id.to_string(),
        group_instance_id: m.group_instance_id.map(|i| i.to_string()),
        client_id: m.client_id.to_string(),
        host: m.client_host.to_string(),
        assignment,
        member_epoch: None,
    })
}

/// A consumer's assignment: an i16 version, then ConsumerProtocolAssignment in that version.
/// A version newer than ours is read as our newest, as Kafka's ConsumerProtocol does: later
/// versions only add fields at the end.
fn decode_assignment(mut bytes: Bytes) -> anyhow::Result<Vec<TopicPartition>> {
    anyhow::ensure!(bytes.remaining() >= 2, "shorter than its version");
    let version = bytes.get_i16();
    anyhow::ensure!(version >= 0, "version {version}");
    let newest = <ConsumerProtocolAssignment as Message>::VERSIONS.max;
    let assignment = ConsumerProtocolAssignment::decode(&mut bytes, version.min(newest))?;
    let mut partitions = Vec::new();
    for topic in assignment.assigned_partitions {
        for partition in topic.partitions {
            let topic = topic.topic.0.to_string();
            partitions.push(TopicPartition { topic, partition });
        }
    }
    partitions.sort();
    Ok(partitions)
}

/// "ListOffsetsRequest" → "ListOffsets", for messages.
fn api_name<R>() -> &'static str {
    let name = std::any::type_name::<R>();
    let name = name.rsplit("::").next().unwrap_or(name);
    name.strip_suffix("Request").unwrap_or(name)
}

/// Kafka's name for an error code, as its tools print it: 25 → "UNKNOWN_MEMBER_ID".
pub fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "NONE".to_string(),
        Some(ResponseError::Unknown(code)) => format!("error code {code}"),
        Some(error) => {
            let mut name = String::new();
            for (i, c) in error.to_string().chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    name.push('_');
                }
                name.push(c.to_ascii_uppercase());
            }
            name
        }
    }
}

/// Whether `code` says the broker is not (or not yet) the partition's leader: the request was
/// not carried out, and may be sent again, without a duplicate, once the leader is known.
pub fn leadership_error(code: i16) -> bool {
    matches!(
        ResponseError::try_from_code(code),
        Some(ResponseError::LeaderNotAvailable | ResponseError::NotLeaderOrFollower)
    )
}

/// `Ok` for error code 0, else an error naming the code and `what` it was about.
pub fn check(code: i16, what: impl FnOnce() -> String) -> anyhow::Result<()> {
    if code == 0 {
        Ok(())
    } else {
        bail!("{}: {}", what(), error_name(code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::messages::ListOffsetsRequest;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn error_names_are_kafkas() {
        assert_eq!(error_name(25), "UNKNOWN_MEMBER_ID");
        assert_eq!(error_name(69), "GROUP_ID_NOT_FOUND");
        assert_eq!(error_name(0), "NONE");
        assert_eq!(error_name(-12345), "error code -12345");
    }

    #[test]
    fn assignments_decode_in_their_version_and_newer_ones_as_our_newest() -> anyhow::Result<()> {
        use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as Assigned;
        let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            Assigned::default()
                .with_topic(TopicName(text("t")))
                .with_partitions(vec![2, 0]),
        ]);
        let expected: Vec<TopicPartition> = [0, 2]
            .map(|partition| TopicPartition {
                topic: "t".to_string(),
                partition,
            })
            .to_vec();
        for (written, announced) in [(0, 0), (3, 3), (3, 7)] {
            let mut bytes = BytesMut::new();
            bytes.put_i16(announced);
            assignment.encode(&mut bytes, written)?;
            assert_eq!(decode_assignment(bytes.freeze())?, expected);
        }
        for bad in [&b"\x00"[..], b"\xff\xff", b"\x00\x00\x7f\xff\xff\xff"] {
            assert!(decode_assignment(Bytes::copy_from_slice(bad)).is_err());
        }
        Ok(())
    }

    #[test]
    fn api_names_drop_the_path_and_suffix() {
        assert_eq!(api_name::<ListOffsetsRequest>(), "ListOffsets");
    }
}
