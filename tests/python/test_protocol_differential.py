"""Protocol differential check: the same raw requests to Apache Kafka 4.4.0 and to vltava.

Each test sends one request (same API version, same fields, same bytes wherever the request does
not have to name something instance-specific such as a topic id) to both brokers over a plain
socket (tests/python/kafka_wire.py), decodes both answers with the Kafka JSON schemas that
kafka-python carries, and compares them field by field as nested dicts. Every difference is a line
`API vN: path.to.field: kafka=... vltava=...`; the test asserts that the lines are exactly the
ones listed for it in KNOWN_DIFFERENCES, so an unknown difference fails and so does a known one
that has gone away (the list must stay true; an empty list is the goal).

Guards against: a wrong error code or a missing field value in an answer to bad input (missing
topic or partition, out-of-range offset, invalid topic name, partitions or replication factor,
unknown config, unknown group, bad coordinator key type), and an API version range in
ApiVersions that drifts from Kafka's without anyone noticing. docs/protocol-differences.md says
what is compared, what is ignored and why.

Both brokers are started privately for this module (auto topic creation off, one partition by
default), whatever VLTAVA_TEST_BROKER says, the way test_kafka_cli.py starts them.
"""

import os
import re
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kafka.protocol.admin.configs import DescribeConfigsRequest
from kafka.protocol.admin.cluster import DescribeClusterRequest
from kafka.protocol.admin.groups import (DeleteGroupsRequest, DescribeGroupsRequest,
                                         ListGroupsRequest)
from kafka.protocol.admin.topics import (CreatePartitionsRequest, CreateTopicsRequest,
                                         DeleteRecordsRequest, DeleteTopicsRequest)
from kafka.protocol.api_key import ApiKey
from kafka.protocol.consumer.fetch import FetchRequest
from kafka.protocol.consumer.group import (HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
                                          OffsetCommitRequest, OffsetFetchRequest,
                                          SyncGroupRequest)
from kafka.protocol.consumer.offsets import ListOffsetsRequest, OffsetForLeaderEpochRequest
from kafka.protocol.metadata.api_versions import ApiVersionsRequest
from kafka.protocol.metadata.find_coordinator import FindCoordinatorRequest
from kafka.protocol.metadata.metadata import MetadataRequest
from kafka.protocol.producer.produce import ProduceRequest
from kafka.protocol.producer.transaction import InitProducerIdRequest
from kafka.record.default_records import DefaultRecordBatchBuilder

from conftest import KafkaBroker, VltavaBroker
from kafka_wire import Connection, build

pytestmark = pytest.mark.single_node(
    "starts its own single vltava node and Kafka node to compare, whatever "
    "VLTAVA_TEST_BROKER says: the single-node run covers it")

TOPIC = "differential"                 # created by the fixture, 2 partitions, 3 records in p0
MISSING_TOPIC = "differential-missing"  # never created (auto creation is off on both)
MISSING_TOPIC_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
RECORD_TIMESTAMPS_MS = [1_700_000_000_000, 1_700_000_001_000, 1_700_000_002_000]
LEADER_WAIT_S = 60.0
COORDINATOR_WAIT_S = 60.0
# COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR
TRANSIENT_COORDINATOR_ERRORS = {14, 15, 16}
POLL_S = 0.1
REQUEST_TIMEOUT_MS = 30_000
EARLIEST, LATEST = -2, -1              # ListOffsets special timestamps
FUTURE_VERSION = 99                    # an API version no broker knows yet
# Set to a file path to have every difference found (known or not) appended there.
REPORT_PATH = os.environ.get("VLTAVA_DIFFERENTIAL_REPORT")

# ------------------------------------------------------------------------------------ ignored

# Fields whose value is instance-specific, removed wherever they occur in an answer.
IGNORED_FIELDS = {
    # Quota throttling depends on the load of the instance, not on the request.
    "throttle_time_ms": "quota state of the instance",
    # Generated at format time (Kafka) or first start (vltava): random per cluster.
    "cluster_id": "random per cluster",
    # The listener of each instance: both bind 127.0.0.1 on different free ports.
    "host": "listener address",
    "port": "listener port",
    # Topic ids are random UUIDs assigned at creation (KIP-516).
    "topic_id": "random per topic",
    # The metadata log offset at which features were finalized: how many records the instance
    # has written, not a property of the answer. The features themselves are compared.
    "finalized_features_epoch": "metadata log offset of the instance",
    # Producer ids come from a per-cluster allocator (Kafka takes blocks from the controller);
    # the value is instance-specific, the epoch and error code are compared.
    "producer_id": "allocated per cluster",
}
# Fields that hold node ids: the broker's own id becomes "<self>" (each instance may number
# itself differently), any other value (-1 for no leader, another node) is compared.
NODE_ID_FIELDS = {"node_id", "leader_id", "controller_id", "replica_nodes", "isr_nodes",
                  "offline_replicas"}
# Order within an answer is not compared (Kafka answers topics and APIs in hash-map order):
# the entries of a list of structs are matched by the first of these fields that all have.
IDENTITY_FIELDS = ("api_key", "name", "topic", "partition_index", "partition", "index",
                   "group_id", "key", "resource_name", "node_id")


# ------------------------------------------------------------------------------ known differences

@dataclass(frozen=True)
class Known:
    line: str      # the difference as printed; `*` stands for any text (one entry, many lines)
    reason: str    # why it differs, and for a vltava bug the precise fix
    issue: int     # 4 consumer groups, 5 compatibility, 7 administration, 16 transactions

    def matches(self, line: str) -> bool:
        pattern = ".*".join(re.escape(part) for part in self.line.split("*"))
        return re.fullmatch(pattern, line) is not None


# ApiVersions: per-API version ranges that differ (informative: a client negotiates the highest
# version both sides offer, so a lower max is not a bug; a missing API is a missing feature).
# "Name(key)": (Kafka's range, vltava's range or None when vltava does not offer it, issue, why).
NEWER_IN_KAFKA = "Kafka 4.4 offers a newer version; clients negotiate down to vltava's"
SECURITY = "no delegation tokens yet (issue 18)"
KRAFT = "vltava has no KRaft quorum or controller to describe, vote in or unregister from"
SHARE = "share groups (KIP-932) are not implemented"
STREAMS = "streams groups (KIP-1071) are not implemented"
API_RANGE_DIFFERENCES: dict[str, tuple[str, str | None, int, str]] = {
    "ListOffsets(2)": ("1..11", "1..10", 5, NEWER_IN_KAFKA),
    "OffsetCommit(8)": ("2..10", "2..9", 4, NEWER_IN_KAFKA + " (v10 names topics by id)"),
    "OffsetFetch(9)": ("1..10", "1..9", 4, NEWER_IN_KAFKA + " (v10 names topics by id)"),
    "ApiVersions(18)": ("0..5", "0..4", 5, NEWER_IN_KAFKA),
    "WriteTxnMarkers(27)": ("1..2", "1..1", 16, NEWER_IN_KAFKA + " (the vendored codec reads v1)"),
    "TxnOffsetCommit(28)": ("0..6", "0..5", 16, NEWER_IN_KAFKA + " (the vendored codec reads v5)"),
    "AlterReplicaLogDirs(34)": ("1..2", None, 7, "one log dir: nothing to move replicas between"),
    "DescribeLogDirs(35)": ("1..5", "1..4", 7, NEWER_IN_KAFKA),
    "CreateDelegationToken(38)": ("1..3", None, 7, SECURITY),
    "RenewDelegationToken(39)": ("1..2", None, 7, SECURITY),
    "ExpireDelegationToken(40)": ("1..2", None, 7, SECURITY),
    "DescribeDelegationToken(41)": ("1..3", None, 7, SECURITY),
    "DeleteGroups(42)": ("0..3", "0..2", 4, NEWER_IN_KAFKA),
    "UpdateFeatures(57)": ("0..2", None, 7, "vltava has no feature flags (see supported_features)"),
    "UnregisterBroker(64)": ("0..0", None, 7, KRAFT),
    "ListTransactions(66)": ("0..2", "0..1", 16,
                             "v2's regular-expression filter (KIP-1152) is not served"),
    "ListConfigResources(74)": ("0..1", None, 7,
                                "not implemented (KIP-1142, Admin.listConfigResources)"),
    "ShareGroupHeartbeat(76)": ("1..1", None, 4, SHARE),
    "ShareGroupDescribe(77)": ("1..1", None, 4, SHARE),
    "ShareFetch(78)": ("1..2", None, 4, SHARE),
    "ShareAcknowledge(79)": ("1..2", None, 4, SHARE),
    "AddRaftVoter(80)": ("0..1", None, 7, KRAFT),
    "RemoveRaftVoter(81)": ("0..0", None, 7, KRAFT),
    "InitializeShareGroupState(83)": ("0..0", None, 4, SHARE),
    "ReadShareGroupState(84)": ("0..0", None, 4, SHARE),
    "WriteShareGroupState(85)": ("0..1", None, 4, SHARE),
    "DeleteShareGroupState(86)": ("0..0", None, 4, SHARE),
    "ReadShareGroupStateSummary(87)": ("0..1", None, 4, SHARE),
    "StreamsGroupHeartbeat(88)": ("0..1", None, 4, STREAMS),
    "StreamsGroupDescribe(89)": ("0..1", None, 4, STREAMS),
    "DescribeShareGroupOffsets(90)": ("0..1", None, 4, SHARE),
    "AlterShareGroupOffsets(91)": ("0..0", None, 4, SHARE),
    "DeleteShareGroupOffsets(92)": ("0..0", None, 4, SHARE),
    "?(93)": ("0..0", None, 5, "an API newer than kafka-python 3.0.12's schemas; not offered"),
    "?(94)": ("0..0", None, 5, "an API newer than kafka-python 3.0.12's schemas; not offered"),
}


def api_range_known() -> list[Known]:
    # `v*`: the same lines for v0 and for the newest version.
    return [Known(f"ApiVersions v*: api_keys[{api}]: kafka={kafka!r} vltava="
                  + ("<absent>" if vltava is None else repr(vltava)), reason, issue)
            for api, (kafka, vltava, issue, reason) in API_RANGE_DIFFERENCES.items()]


ONE_FEATURE = ("vltava lists one feature flag (KIP-584), transaction.version (supported 0..2, "
               "finalized at 2, as Kafka's: Kafka 4 clients then use transaction version 2); "
               "Kafka's others (metadata.version, group.version, ...) mean nothing for vltava, "
               "and Java clients read them only in Admin.describeFeatures")
CLUSTER_BOOTSTRAP = (
    "Kafka 4.x (KIP-966) writes a cluster-wide dynamic default min.insync.replicas=1 when the "
    "cluster is formatted, so its new topics show that config with source "
    "DYNAMIC_DEFAULT_BROKER_CONFIG (3); vltava has no such bootstrap config and reports the same "
    "value 1 as DEFAULT_CONFIG (5), as in DescribeConfigs (see test_kafka_cli.py)")
KNOWN_DIFFERENCES: dict[str, list[Known]] = {
    "api_versions_v0": api_range_known(),
    "api_versions_newest": api_range_known() + [
        Known("ApiVersions v*: supported_features[name=*]: kafka={*} vltava=<absent>",
              ONE_FEATURE, 5),
        Known("ApiVersions v*: finalized_features[name=*]: kafka={*} vltava=<absent>",
              ONE_FEATURE, 5),
    ],
    **{f"create_topics_{case}": [Known(
        f"CreateTopics v*: topics[name=differential-{name}].configs[name=min.insync.replicas]"
        ".config_source: kafka=3 vltava=5", CLUSTER_BOOTSTRAP, 7)]
       for case, name in (("validate_only", "validate"), ("created", "created"))},
    "api_versions_from_the_future": [
        Known("ApiVersions v*: api_keys[ApiVersions(18)]: kafka='0..5' vltava='0..4'",
              NEWER_IN_KAFKA, 5),
        Known("ApiVersions v*: api_keys[*]: kafka=<absent> vltava=*",
              "to a version it does not know Kafka answers UNSUPPORTED_VERSION listing only its "
              "ApiVersions range (all a client needs to retry); vltava lists every API. "
              "Harmless; to match, list only ApiVersions in that answer", 5),
    ],
}


# ------------------------------------------------------------------------------------ brokers

@dataclass
class Side:
    """One broker as the requests see it."""
    kind: str
    conn: Connection
    api_ranges: dict[int, tuple[int, int]] = field(default_factory=dict)
    node_id: int = -1
    topic_ids: dict[str, uuid.UUID] = field(default_factory=dict)


@dataclass
class Brokers:
    kafka: Side
    vltava: Side
    metadata_all: tuple[int, dict] = (0, {})  # (version, answers) taken by the fixture

    def sides(self) -> tuple[Side, Side]:
        return self.kafka, self.vltava


def record_batch(timestamps_ms: list[int], compression_type: int = 0) -> bytes:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=compression_type,
                                        is_transactional=False,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                        batch_size=1 << 20)
    for offset, timestamp in enumerate(timestamps_ms):
        builder.append(offset, timestamp=timestamp, key=f"k{offset}".encode(),
                       value=f"v{offset}".encode(), headers=[])
    return bytes(builder.build())


def wait_for_leaders(side: Side, topic: str, partitions: int) -> dict:
    """Metadata for `topic` once every partition has a leader (bounded)."""
    deadline = time.monotonic() + LEADER_WAIT_S
    while True:
        answer = side.conn.send(MetadataRequest, 12, {"topics": [{"name": topic}],
                                                      "allow_auto_topic_creation": False})
        (described,) = answer["topics"]
        leaders = [p["leader_id"] for p in described["partitions"]]
        if described["error_code"] == 0 and len(leaders) == partitions and -1 not in leaders:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{side.kind}: {topic} has no leaders after {LEADER_WAIT_S}s: "
                                 f"{answer}")
        time.sleep(POLL_S)  # poll interval: Metadata has no way to wait for a leader


NOT_LEADER_OR_FOLLOWER = 6


def produce_once_led(side: Side, request: dict) -> dict:
    """Produce v9, retried while the broker is not yet leader (bounded).

    Kafka publishes a new partition's leader in Metadata a moment before its replica manager
    takes the leadership, so a produce right after can get NOT_LEADER_OR_FOLLOWER; every Kafka
    client retries it, and so does this."""
    deadline = time.monotonic() + LEADER_WAIT_S
    while True:
        produced = side.conn.send(ProduceRequest, 9, request)
        errors = [p["error_code"] for r in produced["responses"]
                  for p in r["partition_responses"]]
        if NOT_LEADER_OR_FOLLOWER not in errors or time.monotonic() > deadline:
            return produced
        time.sleep(POLL_S)  # poll interval: nothing announces the replica manager's change


def prepare(side: Side, metadata_version: int) -> dict:
    """Create TOPIC, write 3 records to its partition 0 and learn the node id and topic id.

    Returns the all-topics Metadata answer, taken before any test could make Kafka create an
    internal topic (FindCoordinator creates __consumer_offsets)."""
    created = side.conn.send(CreateTopicsRequest, 7, {
        "topics": [{"name": TOPIC, "num_partitions": 2, "replication_factor": 1,
                    "assignments": [], "configs": []}],
        "timeout_ms": REQUEST_TIMEOUT_MS, "validate_only": False})
    assert created["topics"][0]["error_code"] == 0, (side.kind, created)
    metadata = wait_for_leaders(side, TOPIC, 2)
    side.node_id = metadata["brokers"][0]["node_id"]
    side.topic_ids[TOPIC] = uuid.UUID(metadata["topics"][0]["topic_id"])
    produced = produce_once_led(side, {
        "transactional_id": None, "acks": -1, "timeout_ms": REQUEST_TIMEOUT_MS,
        "topic_data": [{"name": TOPIC, "partition_data": [
            {"index": 0, "records": record_batch(RECORD_TIMESTAMPS_MS)}]}]})
    error = produced["responses"][0]["partition_responses"][0]["error_code"]
    assert error == 0, (side.kind, produced)
    return side.conn.send(MetadataRequest, metadata_version,
                          {"topics": None, "allow_auto_topic_creation": False})


@pytest.fixture(scope="module")
def brokers(tmp_path_factory):
    base = tmp_path_factory.mktemp("differential")
    started, conns = [], []
    try:
        for cls in (KafkaBroker, VltavaBroker):
            data_dir = Path(tempfile.mkdtemp(prefix=f"{cls.kind}-", dir=base))
            started.append(cls(data_dir, auto_create_topics=False, num_partitions=1,
                               retention_check_interval_ms=None))
        sides = []
        for broker in started:
            conns.append(Connection(broker.bootstrap))
            sides.append(Side(broker.kind, conns[-1]))
        pair = Brokers(*sides)
        for side in pair.sides():
            versions = side.conn.send(ApiVersionsRequest, 0, {})
            side.api_ranges = {k["api_key"]: (k["min_version"], k["max_version"])
                               for k in versions["api_keys"]}
        version = newest_common(pair, MetadataRequest)
        pair.metadata_all = (version, {side.kind: prepare(side, version)
                                       for side in pair.sides()})
        yield pair
    finally:
        for conn in conns:
            conn.close()
        for broker in started:
            broker.stop()


# ------------------------------------------------------------------------------------ comparing

def normalise(value, node_id: int):
    """Drop ignored fields, name the broker's own node id, key unordered lists by identity."""
    if isinstance(value, dict):
        out = {}
        for name, item in value.items():
            if name in IGNORED_FIELDS:
                continue
            if name in NODE_ID_FIELDS:
                item = self_named(item, node_id)
            out[name] = normalise(item, node_id)
        return out
    if isinstance(value, list):
        items = [normalise(item, node_id) for item in value]
        if items and all(isinstance(item, dict) for item in items):
            key = next((k for k in IDENTITY_FIELDS if all(k in item for item in items)), None)
            if key is not None and len({item[key] for item in items}) == len(items):
                return {f"{key}={item[key]}": item for item in items}
            # No identity (e.g. Produce v13 answers by topic id, which is ignored): by position.
            return {f"#{i}": item for i, item in enumerate(items)}
        return items
    return value


def self_named(value, node_id: int):
    if isinstance(value, list):
        return [self_named(item, node_id) for item in value]
    return "<self>" if value == node_id else value


def differences(kafka, vltava, path: str = "") -> list[str]:
    if isinstance(kafka, dict) and isinstance(vltava, dict):
        out = []
        for name in list(kafka) + [n for n in vltava if n not in kafka]:
            if "=" in name or "(" in name or name.startswith("#"):
                where = f"{path}[{name}]"
            else:
                where = f"{path}.{name}" if path else name
            if name not in vltava:
                out.append(f"{where}: kafka={show(kafka[name])} vltava=<absent>")
            elif name not in kafka:
                out.append(f"{where}: kafka=<absent> vltava={show(vltava[name])}")
            else:
                out += differences(kafka[name], vltava[name], where)
        return out
    if kafka != vltava:
        return [f"{path}: kafka={show(kafka)} vltava={show(vltava)}"]
    return []


def show(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return repr(value)


def newest_common(brokers: Brokers, request_class, cap: int | None = None) -> int | None:
    """The newest version both brokers and kafka-python support, or None if vltava lacks it."""
    ranges = [side.api_ranges.get(request_class.API_KEY) for side in brokers.sides()]
    if ranges[1] is None:
        return None
    assert ranges[0] is not None, f"Kafka does not offer {request_class.__name__}"
    version = min(ranges[0][1], ranges[1][1], request_class.max_version)
    return version if cap is None else min(version, cap)


def error_codes(value) -> set[int]:
    if isinstance(value, dict):
        found = {value["error_code"]} if isinstance(value.get("error_code"), int) else set()
        for item in value.values():
            found |= error_codes(item)
        return found
    if isinstance(value, list):
        return set().union(*(error_codes(item) for item in value)) if value else set()
    return set()


def settled(side: Side, request_class, version: int, fields: dict) -> dict:
    """The answer once the broker's coordinators have loaded.

    Right after start Kafka loads each __consumer_offsets partition and its producer-id block
    in the background, and answers COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE or
    NOT_COORDINATOR meanwhile; how long that lasts depends on the instance, not the request,
    so such an answer is retried (bounded). A broker still answering so at the deadline has its
    last answer compared, so a broker that always answers so is reported, not hidden."""
    deadline = time.monotonic() + COORDINATOR_WAIT_S
    while True:
        answer = side.conn.send(request_class, version, fields)
        if not error_codes(answer) & TRANSIENT_COORDINATOR_ERRORS or time.monotonic() > deadline:
            return answer
        time.sleep(POLL_S)  # poll interval: nothing announces that loading has finished


def compare(brokers: Brokers, request_class, version: int | None, fields) -> list[str]:
    """Send the request to both and return the difference lines. `fields` is a dict, or a
    function of the Side when the request must name an instance-specific value."""
    api = request_class.__name__.removesuffix("Request")
    if version is None:
        return [f"{api}: vltava does not offer API key {request_class.API_KEY}"]
    answers = {}
    for side in brokers.sides():
        sent = fields(side) if callable(fields) else fields
        answers[side.kind] = settled(side, request_class, version, sent)
    return compare_answers(api, version, answers, brokers)


def assert_known(case: str, found: list[str]) -> None:
    if REPORT_PATH:  # every difference, known or not, for docs/protocol-differences.md
        with open(REPORT_PATH, "a", encoding="utf-8") as report:
            report.write("".join(f"{case}\t{line}\n" for line in found) or f"{case}\t\n")
    known = KNOWN_DIFFERENCES.get(case, [])
    unknown = [line for line in found if not any(k.matches(line) for k in known)]
    gone = [k.line for k in known if not any(k.matches(line) for line in found)]
    message = []
    if unknown:
        message.append("differences from Kafka 4.4.0 not in KNOWN_DIFFERENCES:\n  "
                       + "\n  ".join(unknown))
    if gone:
        message.append("KNOWN_DIFFERENCES that no longer appear (remove them):\n  "
                       + "\n  ".join(gone))
    assert not message, f"[{case}] " + "\n".join(message)


def compare_answers(api: str, version: int, answers: dict, brokers: Brokers) -> list[str]:
    kafka = normalise(answers["kafka"], brokers.kafka.node_id)
    vltava = normalise(answers["vltava"], brokers.vltava.node_id)
    return [f"{api} v{version}: {line}" for line in differences(kafka, vltava)]


def api_ranges(answer: dict) -> dict:
    """ApiVersions with api_keys as {"Name(key)": "min..max"}: one line per differing API."""
    def name(key: int) -> str:
        try:
            return f"{ApiKey(key).name}({key})"
        except ValueError:  # newer than kafka-python's list of names
            return f"?({key})"
    out = {k: v for k, v in answer.items() if k != "api_keys"}
    out["api_keys"] = {name(k["api_key"]): f"{k['min_version']}..{k['max_version']}"
                       for k in sorted(answer["api_keys"], key=lambda k: k["api_key"])}
    return out


# ------------------------------------------------------------------------------------ tests

@pytest.mark.parametrize("which", ["v0", "newest"])
def test_api_versions(brokers, which):
    version = 0 if which == "v0" else newest_common(brokers, ApiVersionsRequest)
    fields = {} if version < 3 else {"client_software_name": "vltava-differential",
                                     "client_software_version": "1.0"}
    answers = {side.kind: api_ranges(side.conn.send(ApiVersionsRequest, version, fields))
               for side in brokers.sides()}
    assert_known(f"api_versions_{which}",
                 compare_answers("ApiVersions", version, answers, brokers))


def test_api_versions_from_the_future(brokers):
    """A client newer than the broker sends ApiVersions at a version the broker does not know:
    the broker answers UNSUPPORTED_VERSION with its ranges in a v0 body (KIP-511)."""
    body = bytes(build(ApiVersionsRequest, {"client_software_name": "vltava-differential",
                                            "client_software_version": "1.0"}).encode(version=3))
    answers = {side.kind: api_ranges(side.conn.send_body(ApiVersionsRequest, FUTURE_VERSION,
                                                         body, 0))
               for side in brokers.sides()}
    assert answers["kafka"]["error_code"] == 35, answers["kafka"]  # UNSUPPORTED_VERSION
    assert_known("api_versions_from_the_future",
                 compare_answers("ApiVersions", FUTURE_VERSION, answers, brokers))


def test_metadata_all_topics(brokers):
    version, answers = brokers.metadata_all
    assert TOPIC in [t["name"] for t in answers["kafka"]["topics"]], answers["kafka"]
    assert_known("metadata_all_topics", compare_answers("Metadata", version, answers, brokers))


def test_metadata_missing_topic(brokers):
    version = newest_common(brokers, MetadataRequest)
    found = compare(brokers, MetadataRequest, version, {
        "topics": [{"name": MISSING_TOPIC}], "allow_auto_topic_creation": False})
    assert_known("metadata_missing_topic", found)


def test_metadata_missing_topic_asking_for_auto_creation(brokers):
    """The client asks for auto creation, the broker has it off: nothing is created."""
    version = newest_common(brokers, MetadataRequest)
    found = compare(brokers, MetadataRequest, version, {
        "topics": [{"name": MISSING_TOPIC}], "allow_auto_topic_creation": True})
    assert_known("metadata_missing_topic_asking_for_auto_creation", found)


def test_metadata_missing_topic_id(brokers):
    version = newest_common(brokers, MetadataRequest)
    found = compare(brokers, MetadataRequest, version, {
        "topics": [{"name": None, "topic_id": MISSING_TOPIC_ID}],
        "allow_auto_topic_creation": False})
    assert_known("metadata_missing_topic_id", found)


# Produce and Fetch name topics by id from v13 on (KIP-516): the newest version sends each
# broker its own id for TOPIC (the one field that has to differ); v12 sends the same bytes by name.
BY_NAME_VERSION = 12


def produce_fields(topic: str, partition: int, topic_id=None):
    def fields(side: Side) -> dict:
        tid = topic_id if topic_id is not None else side.topic_ids.get(topic, MISSING_TOPIC_ID)
        return {"transactional_id": None, "acks": -1, "timeout_ms": REQUEST_TIMEOUT_MS,
                "topic_data": [{"name": topic, "topic_id": tid, "partition_data": [
                    {"index": partition, "records": record_batch(RECORD_TIMESTAMPS_MS[:1])}]}]}
    return fields


@pytest.mark.parametrize("which", ["newest", "by_name"])
@pytest.mark.parametrize("target", ["missing_partition", "missing_topic"])
def test_produce(brokers, which, target):
    cap = BY_NAME_VERSION if which == "by_name" else None
    version = newest_common(brokers, ProduceRequest, cap)
    topic, partition = (TOPIC, 7) if target == "missing_partition" else (MISSING_TOPIC, 0)
    found = compare(brokers, ProduceRequest, version, produce_fields(topic, partition))
    assert_known(f"produce_{target}_{which}", found)


def test_produce_invalid_acks(brokers):
    version = newest_common(brokers, ProduceRequest, BY_NAME_VERSION)
    fields = produce_fields(TOPIC, 0)
    found = compare(brokers, ProduceRequest, version, lambda side: {**fields(side), "acks": 2})
    assert_known("produce_invalid_acks", found)


def fetch_fields(topic: str, partition: int, offset: int, leader_epoch: int = -1,
                 last_fetched_epoch: int = -1):
    def fields(side: Side) -> dict:
        return {"replica_id": -1, "replica_state": {"replica_id": -1, "replica_epoch": -1},
                "max_wait_ms": 0, "min_bytes": 1, "max_bytes": 1 << 20, "isolation_level": 0,
                "session_id": 0, "session_epoch": -1, "rack_id": "",
                "forgotten_topics_data": [],
                "topics": [{"topic": topic,
                            "topic_id": side.topic_ids.get(topic, MISSING_TOPIC_ID),
                            "partitions": [
                                {"partition": partition, "current_leader_epoch": leader_epoch,
                                 "fetch_offset": offset,
                                 "last_fetched_epoch": last_fetched_epoch,
                                 "log_start_offset": -1, "partition_max_bytes": 1 << 20}]}]}
    return fields


@pytest.mark.parametrize("which", ["newest", "by_name"])
@pytest.mark.parametrize("target", ["missing_partition", "missing_topic"])
def test_fetch_missing(brokers, which, target):
    cap = BY_NAME_VERSION if which == "by_name" else None
    version = newest_common(brokers, FetchRequest, cap)
    topic, partition = (TOPIC, 7) if target == "missing_partition" else (MISSING_TOPIC, 0)
    found = compare(brokers, FetchRequest, version, fetch_fields(topic, partition, 0))
    assert_known(f"fetch_{target}_{which}", found)


@pytest.mark.parametrize("which", ["newest", "by_name"])
def test_fetch_out_of_range_offset(brokers, which):
    cap = BY_NAME_VERSION if which == "by_name" else None
    version = newest_common(brokers, FetchRequest, cap)
    found = compare(brokers, FetchRequest, version, fetch_fields(TOPIC, 0, 100))
    assert_known(f"fetch_out_of_range_{which}", found)


# A current leader epoch from the future (7; the leader's is 0): the consumer knows a newer
# leader than this broker. The only one from the past is -2 (-1 means no check).
@pytest.mark.parametrize("which", ["newest", "by_name"])
@pytest.mark.parametrize("case,leader_epoch", [("future", 7), ("past", -2)])
def test_fetch_leader_epoch(brokers, which, case, leader_epoch):
    cap = BY_NAME_VERSION if which == "by_name" else None
    version = newest_common(brokers, FetchRequest, cap)
    found = compare(brokers, FetchRequest, version, fetch_fields(TOPIC, 0, 0, leader_epoch))
    assert_known(f"fetch_{case}_leader_epoch_{which}", found)


# KIP-320 (v12+): the epoch of the last batch the fetcher has, checked against the leader epoch
# cache before reading. (partition, fetch offset, last fetched epoch); p0 holds 3 records of
# epoch 0, p1 none.
FETCH_LAST_FETCHED_EPOCH_CASES = {
    "same_epoch": (0, 3, 0),
    "same_epoch_empty_partition": (1, 0, 0),
    "offset_past_the_epochs_end": (0, 5, 0),
    "epoch_from_the_future": (0, 3, 5),
}


@pytest.mark.parametrize("case", list(FETCH_LAST_FETCHED_EPOCH_CASES))
def test_fetch_last_fetched_epoch(brokers, case):
    partition, offset, last_fetched_epoch = FETCH_LAST_FETCHED_EPOCH_CASES[case]
    version = newest_common(brokers, FetchRequest)
    found = compare(brokers, FetchRequest, version,
                    fetch_fields(TOPIC, partition, offset, last_fetched_epoch=last_fetched_epoch))
    assert_known(f"fetch_last_fetched_epoch_{case}", found)


LIST_OFFSETS_CASES = {
    "earliest": (TOPIC, 0, EARLIEST),
    "latest": (TOPIC, 0, LATEST),
    "max_timestamp": (TOPIC, 0, -3),
    "by_timestamp": (TOPIC, 0, RECORD_TIMESTAMPS_MS[1]),
    "by_timestamp_after_last": (TOPIC, 0, RECORD_TIMESTAMPS_MS[-1] + 1),
    "empty_partition": (TOPIC, 1, LATEST),
    "missing_partition": (TOPIC, 9, LATEST),
    "missing_topic": (MISSING_TOPIC, 0, LATEST),
    "future_leader_epoch": (TOPIC, 0, LATEST),
    "past_leader_epoch": (TOPIC, 0, LATEST),
}
# current_leader_epoch per case (-1: no check). 7 is from the future: the client knows a newer
# leader than this broker. The leader's epoch is 0 on both, so the only one below it is -2.
LIST_OFFSETS_LEADER_EPOCHS = {"future_leader_epoch": 7, "past_leader_epoch": -2}


@pytest.mark.parametrize("case", list(LIST_OFFSETS_CASES))
def test_list_offsets(brokers, case):
    topic, partition, timestamp = LIST_OFFSETS_CASES[case]
    leader_epoch = LIST_OFFSETS_LEADER_EPOCHS.get(case, -1)
    version = newest_common(brokers, ListOffsetsRequest)
    found = compare(brokers, ListOffsetsRequest, version, {
        "replica_id": -1, "isolation_level": 0, "timeout_ms": REQUEST_TIMEOUT_MS,
        "topics": [{"name": topic, "partitions": [
            {"partition_index": partition, "current_leader_epoch": leader_epoch,
             "timestamp": timestamp,
             "max_num_offsets": 1}]}]})
    assert_known(f"list_offsets_{case}", found)


# OffsetForLeaderEpoch (KIP-101/KIP-320): (topic, partition, current_leader_epoch, leader_epoch).
# The leader's epoch is 0 on both; p0 holds 3 records written in it, p1 none.
OFFSET_FOR_LEADER_EPOCH_CASES = {
    "current_epoch": (TOPIC, 0, -1, 0),
    "current_epoch_empty_partition": (TOPIC, 1, -1, 0),
    "epoch_from_the_future": (TOPIC, 0, -1, 5),
    "undefined_epoch": (TOPIC, 0, -1, -1),
    "future_current_leader_epoch": (TOPIC, 0, 7, 0),
    "past_current_leader_epoch": (TOPIC, 0, -2, 0),
    "missing_partition": (TOPIC, 9, -1, 0),
    "missing_topic": (MISSING_TOPIC, 0, -1, 0),
}


@pytest.mark.parametrize("case", list(OFFSET_FOR_LEADER_EPOCH_CASES))
def test_offset_for_leader_epoch(brokers, case):
    topic, partition, current_leader_epoch, leader_epoch = OFFSET_FOR_LEADER_EPOCH_CASES[case]
    version = newest_common(brokers, OffsetForLeaderEpochRequest)
    found = compare(brokers, OffsetForLeaderEpochRequest, version, {
        "replica_id": -1,
        "topics": [{"topic": topic, "partitions": [
            {"partition": partition, "current_leader_epoch": current_leader_epoch,
             "leader_epoch": leader_epoch}]}]})
    assert_known(f"offset_for_leader_epoch_{case}", found)


GZIP = 1  # the record batch attribute for gzip compression
# The max timestamp is carried by the second record and again by the fourth: the first wins.
COMPRESSED_TIMESTAMPS_MS = [RECORD_TIMESTAMPS_MS[0] + delta for delta in (0, 5_000, 1_000, 5_000)]


def test_list_offsets_inside_a_compressed_batch(brokers):
    # Kafka reads the records of the batch (decompressing it) to name a record: for
    # MAX_TIMESTAMP the first that carries the max timestamp, by time the first at or after
    # it. Either way that is offset 1 here, where the batch's base offset would be 0.
    topic = "differential-gzip"
    for side in brokers.sides():
        created = side.conn.send(CreateTopicsRequest, 7, {
            "topics": [{"name": topic, "num_partitions": 1, "replication_factor": 1,
                        "assignments": [], "configs": []}],
            "timeout_ms": REQUEST_TIMEOUT_MS, "validate_only": False})
        assert created["topics"][0]["error_code"] == 0, (side.kind, created)
        wait_for_leaders(side, topic, 1)
        produced = produce_once_led(side, {
            "transactional_id": None, "acks": -1, "timeout_ms": REQUEST_TIMEOUT_MS,
            "topic_data": [{"name": topic, "partition_data": [
                {"index": 0, "records": record_batch(COMPRESSED_TIMESTAMPS_MS, GZIP)}]}]})
        error = produced["responses"][0]["partition_responses"][0]["error_code"]
        assert error == 0, (side.kind, produced)
    version = newest_common(brokers, ListOffsetsRequest)
    after_first = COMPRESSED_TIMESTAMPS_MS[0] + 1
    for case, timestamp in (("max_timestamp", -3), ("by_timestamp", after_first)):
        request = {"replica_id": -1, "isolation_level": 0, "timeout_ms": REQUEST_TIMEOUT_MS,
                   "topics": [{"name": topic, "partitions": [
                       {"partition_index": 0, "current_leader_epoch": -1,
                        "timestamp": timestamp, "max_num_offsets": 1}]}]}
        for side in brokers.sides():  # the premise, on Kafka; the fix, on vltava
            answer = side.conn.send(ListOffsetsRequest, version, request)
            (partition,) = answer["topics"][0]["partitions"]
            assert (partition["offset"], partition["timestamp"]) == (
                1, max(COMPRESSED_TIMESTAMPS_MS)), (side.kind, case, answer)
        assert_known(f"list_offsets_{case}_compressed",
                     compare(brokers, ListOffsetsRequest, version, request))


CREATE_TOPICS_CASES = {
    # name: (topic name, partitions, replication factor, configs, validate_only)
    "invalid_name": ("bad/name", 1, 1, [], False),
    "name_too_long": ("x" * 250, 1, 1, [], False),
    "existing_topic": (TOPIC, 1, 1, [], False),
    "zero_partitions": ("differential-p0", 0, 1, [], False),
    "replication_factor_above_brokers": ("differential-rf3", 1, 3, [], False),
    "zero_replication_factor": ("differential-rf0", 1, 0, [], False),
    "unknown_config": ("differential-cfg", 1, 1, [("no.such.config", "1")], False),
    "invalid_config_value": ("differential-val", 1, 1, [("retention.ms", "abc")], False),
    "validate_only": ("differential-validate", 3, 1, [("retention.ms", "86400000")], True),
    "null_config_value": ("differential-null", 1, 1, [("retention.ms", None)], False),
    "negative_partitions_other_than_default": ("differential-pneg", -2, 1, [], False),
    # Not bad at all: a real creation, answered with every config of the new topic (KIP-525).
    "created": ("differential-created", 2, -1, [("cleanup.policy", "compact")], False),
}


@pytest.mark.parametrize("case", list(CREATE_TOPICS_CASES))
def test_create_topics_bad_arguments(brokers, case):
    name, partitions, replication, configs, validate_only = CREATE_TOPICS_CASES[case]
    version = newest_common(brokers, CreateTopicsRequest)
    found = compare(brokers, CreateTopicsRequest, version, {
        "topics": [{"name": name, "num_partitions": partitions,
                    "replication_factor": replication, "assignments": [],
                    "configs": [{"name": k, "value": v} for k, v in configs]}],
        "timeout_ms": REQUEST_TIMEOUT_MS, "validate_only": validate_only})
    assert_known(f"create_topics_{case}", found)


@pytest.mark.parametrize("case,key_type", [("group", 0), ("bad_key_type", 9)])
def test_find_coordinator(brokers, case, key_type):
    version = newest_common(brokers, FindCoordinatorRequest)
    found = compare(brokers, FindCoordinatorRequest, version, {
        "key": "differential-group", "key_type": key_type,
        "coordinator_keys": ["differential-group"]})
    assert_known(f"find_coordinator_{case}", found)


# As Kafka's clients send it: the admin client asks for all topics without require_stable, the
# consumer for its partitions with require_stable (KIP-447).
@pytest.mark.parametrize("case", ["all_topics", "one_topic"])
def test_offset_fetch_unknown_group(brokers, case):
    version = newest_common(brokers, OffsetFetchRequest)
    topics = None if case == "all_topics" else [
        {"name": TOPIC, "partition_indexes": [0]}]
    found = compare(brokers, OffsetFetchRequest, version, {
        "group_id": "differential-unknown", "require_stable": case == "one_topic",
        "topics": topics,
        "groups": [{"group_id": "differential-unknown", "member_id": None,
                    "member_epoch": -1, "topics": topics}]})
    assert_known(f"offset_fetch_unknown_group_{case}", found)


def test_describe_groups_unknown_group(brokers):
    version = newest_common(brokers, DescribeGroupsRequest)
    found = compare(brokers, DescribeGroupsRequest, version, {
        "groups": ["differential-unknown"], "include_authorized_operations": False})
    assert_known("describe_groups_unknown_group", found)


def test_delete_topics_missing_topic(brokers):
    version = newest_common(brokers, DeleteTopicsRequest)
    found = compare(brokers, DeleteTopicsRequest, version, {
        "topics": [{"name": MISSING_TOPIC, "topic_id": uuid.UUID(int=0)}],
        "topic_names": [MISSING_TOPIC], "timeout_ms": REQUEST_TIMEOUT_MS})
    assert_known("delete_topics_missing_topic", found)


def test_delete_topics_unknown_topic_id(brokers):
    version = newest_common(brokers, DeleteTopicsRequest)
    found = compare(brokers, DeleteTopicsRequest, version, {
        "topics": [{"name": None, "topic_id": MISSING_TOPIC_ID}],
        "topic_names": [], "timeout_ms": REQUEST_TIMEOUT_MS})
    assert_known("delete_topics_unknown_topic_id", found)


def test_describe_configs_missing_topic(brokers):
    version = newest_common(brokers, DescribeConfigsRequest)
    found = compare(brokers, DescribeConfigsRequest, version, {
        "resources": [{"resource_type": 2, "resource_name": MISSING_TOPIC,
                       "configuration_keys": None}],
        "include_synonyms": False, "include_documentation": False})
    assert_known("describe_configs_missing_topic", found)


def test_describe_configs_other_broker(brokers):
    version = newest_common(brokers, DescribeConfigsRequest)
    found = compare(brokers, DescribeConfigsRequest, version, {
        "resources": [{"resource_type": 4, "resource_name": "99",
                       "configuration_keys": ["num.partitions"]}],
        "include_synonyms": False, "include_documentation": False})
    assert_known("describe_configs_other_broker", found)


def test_init_producer_id_without_transactional_id(brokers):
    version = newest_common(brokers, InitProducerIdRequest)
    found = compare(brokers, InitProducerIdRequest, version, {
        "transactional_id": None, "transaction_timeout_ms": 60_000, "producer_id": -1,
        "producer_epoch": -1})
    assert_known("init_producer_id_without_transactional_id", found)


DELETE_RECORDS_CASES = {
    "beyond_high_watermark": (TOPIC, 0, 10),
    "missing_partition": (TOPIC, 7, 0),
    "missing_topic": (MISSING_TOPIC, 0, 0),
}


@pytest.mark.parametrize("case", list(DELETE_RECORDS_CASES))
def test_delete_records_bad_offsets(brokers, case):
    topic, partition, offset = DELETE_RECORDS_CASES[case]
    version = newest_common(brokers, DeleteRecordsRequest)
    found = compare(brokers, DeleteRecordsRequest, version, {
        "topics": [{"name": topic, "partitions": [
            {"partition_index": partition, "offset": offset}]}],
        "timeout_ms": REQUEST_TIMEOUT_MS})
    assert_known(f"delete_records_{case}", found)


# validate_only throughout: none of these may change TOPIC, which the other tests rely on.
CREATE_PARTITIONS_CASES = {
    "fewer": (TOPIC, 1),
    "same_count": (TOPIC, 2),
    "missing_topic": (MISSING_TOPIC, 3),
}


@pytest.mark.parametrize("case", list(CREATE_PARTITIONS_CASES))
def test_create_partitions_bad_counts(brokers, case):
    topic, count = CREATE_PARTITIONS_CASES[case]
    version = newest_common(brokers, CreatePartitionsRequest)
    found = compare(brokers, CreatePartitionsRequest, version, {
        "topics": [{"name": topic, "count": count, "assignments": None}],
        "timeout_ms": REQUEST_TIMEOUT_MS, "validate_only": True})
    assert_known(f"create_partitions_{case}", found)


def test_delete_groups_unknown_group(brokers):
    version = newest_common(brokers, DeleteGroupsRequest)
    found = compare(brokers, DeleteGroupsRequest, version,
                    {"groups_names": ["differential-unknown"]})
    assert_known("delete_groups_unknown_group", found)


def test_list_groups_none(brokers):
    """No test in this module creates a group, so both list none."""
    version = newest_common(brokers, ListGroupsRequest)
    found = compare(brokers, ListGroupsRequest, version, {"states_filter": [],
                                                          "types_filter": []})
    assert_known("list_groups_none", found)


def test_heartbeat_unknown_group(brokers):
    version = newest_common(brokers, HeartbeatRequest)
    found = compare(brokers, HeartbeatRequest, version, {
        "group_id": "differential-unknown", "generation_id": 1,
        "member_id": "differential-member", "group_instance_id": None})
    assert_known("heartbeat_unknown_group", found)


def test_join_group_invalid_session_timeout(brokers):
    version = newest_common(brokers, JoinGroupRequest)
    found = compare(brokers, JoinGroupRequest, version, {
        "group_id": "differential-join", "session_timeout_ms": 1,
        "rebalance_timeout_ms": 30_000, "member_id": "", "group_instance_id": None,
        "protocol_type": "consumer", "protocols": [{"name": "range", "metadata": b""}],
        "reason": None})
    assert_known("join_group_invalid_session_timeout", found)


def test_describe_cluster(brokers):
    version = newest_common(brokers, DescribeClusterRequest)
    found = compare(brokers, DescribeClusterRequest, version, {
        "include_cluster_authorized_operations": False, "endpoint_type": 1,
        "include_fenced_brokers": False})
    assert_known("describe_cluster", found)


def test_sync_group_unknown_group(brokers):
    version = newest_common(brokers, SyncGroupRequest)
    found = compare(brokers, SyncGroupRequest, version, {
        "group_id": "differential-unknown", "generation_id": 1,
        "member_id": "differential-member", "group_instance_id": None,
        "protocol_type": "consumer", "protocol_name": "range", "assignments": []})
    assert_known("sync_group_unknown_group", found)


def test_leave_group_unknown_group(brokers):
    version = newest_common(brokers, LeaveGroupRequest)
    found = compare(brokers, LeaveGroupRequest, version, {
        "group_id": "differential-unknown", "member_id": "differential-member",
        "members": [{"member_id": "differential-member", "group_instance_id": None,
                     "reason": None}]})
    assert_known("leave_group_unknown_group", found)


# Last in the module: a broker that wrongly accepted this commit would create the group, which
# test_list_groups_none must not see.
def test_offset_commit_unknown_group_with_a_generation(brokers):
    version = newest_common(brokers, OffsetCommitRequest)
    found = compare(brokers, OffsetCommitRequest, version, {
        "group_id": "differential-commit", "generation_id_or_member_epoch": 5,
        "member_id": "differential-member", "group_instance_id": None,
        "retention_time_ms": -1,
        "topics": [{"name": TOPIC, "partitions": [
            {"partition_index": 0, "committed_offset": 1, "committed_leader_epoch": -1,
             "commit_timestamp": -1, "committed_metadata": ""}]}]})
    assert_known("offset_commit_unknown_group_with_a_generation", found)
