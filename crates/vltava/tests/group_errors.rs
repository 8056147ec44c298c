//! Group requests that must be refused get the Kafka error code a Kafka broker sends, over the
//! raw protocol: clients decide whether to rejoin, reset or give up from these codes alone.

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::TestResult;
use common::wire::{connect, coordinator_of, exchange};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    ApiKey, DeleteGroupsRequest, DescribeGroupsRequest, GroupId, HeartbeatRequest,
    JoinGroupRequest, OffsetCommitRequest, RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;

const TIMEOUT: Duration = Duration::from_secs(10);

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn join(group: &str, member_id: &str) -> RequestKind {
    JoinGroupRequest::default()
        .with_group_id(GroupId(text(group)))
        .with_member_id(text(member_id))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(text("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(text("range"))
                .with_metadata(bytes::Bytes::from_static(b"\x00\x00")),
        ])
        .into()
}

fn call(
    stream: &mut TcpStream,
    key: ApiKey,
    version: i16,
    request: RequestKind,
) -> Result<ResponseKind, common::BoxError> {
    exchange(stream, key, version, 1, &request)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_requests_are_refused_with_kafkas_error_codes() -> TestResult {
    let broker = vltava_testkit::start_broker(&["--group-initial-rebalance-delay-ms", "0"])?;
    // As clients do: the coordinator first (its `__consumer_offsets` is created then).
    coordinator_of(broker.bootstrap(), "g", TIMEOUT)?;
    let mut stream = connect(broker.bootstrap(), TIMEOUT)?;

    let ResponseKind::JoinGroup(empty) = call(&mut stream, ApiKey::JoinGroup, 9, join("", ""))?
    else {
        return Err("not a JoinGroup response".into());
    };
    assert_eq!(empty.error_code, ResponseError::InvalidGroupId.code());

    // KIP-394: a first join without a member id is told the id to rejoin with.
    let ResponseKind::JoinGroup(first) = call(&mut stream, ApiKey::JoinGroup, 9, join("g", ""))?
    else {
        return Err("not a JoinGroup response".into());
    };
    assert_eq!(first.error_code, ResponseError::MemberIdRequired.code());
    assert!(
        first.member_id.starts_with("vltava-wire-test-"),
        "{:?}",
        first.member_id
    );
    let ResponseKind::JoinGroup(joined) = call(
        &mut stream,
        ApiKey::JoinGroup,
        9,
        join("g", &first.member_id),
    )?
    else {
        return Err("not a JoinGroup response".into());
    };
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader, first.member_id);

    let heartbeat = HeartbeatRequest::default()
        .with_group_id(GroupId(text("g")))
        .with_member_id(text("stranger"))
        .with_generation_id(1);
    let ResponseKind::Heartbeat(stranger) =
        call(&mut stream, ApiKey::Heartbeat, 4, heartbeat.into())?
    else {
        return Err("not a Heartbeat response".into());
    };
    assert_eq!(stranger.error_code, ResponseError::UnknownMemberId.code());

    // A member of the group commits with a stale generation; a stranger with a generation
    // commits to a group that does not exist: GROUP_ID_NOT_FOUND from v9 on, and, as Kafka 4
    // answers older clients, ILLEGAL_GENERATION before.
    for (group, member, generation, version, expected) in [
        (
            "g",
            first.member_id.as_str(),
            0,
            9,
            ResponseError::IllegalGeneration,
        ),
        ("nowhere", "ghost", 3, 9, ResponseError::GroupIdNotFound),
        ("nowhere", "ghost", 3, 8, ResponseError::IllegalGeneration),
    ] {
        let commit = OffsetCommitRequest::default()
            .with_group_id(GroupId(text(group)))
            .with_member_id(text(member))
            .with_generation_id_or_member_epoch(generation)
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(text("t")))
                    .with_partitions(vec![OffsetCommitRequestPartition::default()]),
            ]);
        let ResponseKind::OffsetCommit(answer) =
            call(&mut stream, ApiKey::OffsetCommit, version, commit.into())?
        else {
            return Err("not an OffsetCommit response".into());
        };
        assert_eq!(
            answer.topics[0].partitions[0].error_code,
            expected.code(),
            "{group} v{version}"
        );
    }

    let delete = DeleteGroupsRequest::default()
        .with_groups_names(vec![GroupId(text("g")), GroupId(text("nowhere"))]);
    let ResponseKind::DeleteGroups(deleted) =
        call(&mut stream, ApiKey::DeleteGroups, 2, delete.into())?
    else {
        return Err("not a DeleteGroups response".into());
    };
    assert_eq!(
        deleted.results[0].error_code,
        ResponseError::NonEmptyGroup.code()
    );
    assert_eq!(
        deleted.results[1].error_code,
        ResponseError::GroupIdNotFound.code()
    );

    // KIP-1043: DescribeGroups v6 reports an unknown group as GROUP_ID_NOT_FOUND; v5 as Dead.
    for (version, expected) in [(5, 0), (6, ResponseError::GroupIdNotFound.code())] {
        let describe = DescribeGroupsRequest::default().with_groups(vec![GroupId(text("nowhere"))]);
        let ResponseKind::DescribeGroups(described) = call(
            &mut stream,
            ApiKey::DescribeGroups,
            version,
            describe.into(),
        )?
        else {
            return Err("not a DescribeGroups response".into());
        };
        assert_eq!(described.groups[0].error_code, expected, "v{version}");
        assert_eq!(
            described.groups[0].group_state.as_str(),
            "Dead",
            "v{version}"
        );
    }
    Ok(())
}
