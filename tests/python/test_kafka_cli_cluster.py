"""Kafka's own command-line tools against a 3-node vltava cluster and a 3-node Kafka 4.4.0 cluster
(issue 14).

test_kafka_cli.py compares the tools on one vltava node and one Kafka node; this module runs the
tools whose answers depend on there being several brokers and a quorum of several voters, on the
session's 3-node vltava cluster (conftest's VltavaCluster, node N on 127.0.0.N) and on a private
3-node Apache Kafka 4.4.0 cluster in combined KRaft mode (scripts/kafka-cluster, node N on
127.0.0.N), and compares what they print, as test_kafka_cli.py does (its runner, comparison and
normalisation are reused):

- kafka-topics --create --replica-assignment 3,2,1 and --alter --partitions 5
  --replica-assignment 3,2,1,2,3: the same output, and --describe shows each partition on the
  broker named (the full describe is compared); an assignment naming an unregistered broker is
  refused with Kafka's words, on create and on alter;
- kafka-topics --create --partitions 6 (the controller places the partitions): which broker leads
  which partition may differ, so leaders are normalised away and the structure is asserted on
  both: every partition led by one of the 3 brokers, Replicas and Isr equal to the leader
  (replication factor 1), the 6 partitions spread evenly (2 per broker);
- kafka-topics --describe through each single node's address: every node answers for the whole
  cluster, the same as through the 3-node bootstrap list;
- kafka-topics --describe --under-replicated-partitions / --unavailable-partitions: nothing;
- kafka-leader-election --election-type preferred (one partition, a JSON file of every partition
  of this module's topics, --all-topic-partitions) and unclean, and one for an unknown partition;
- kafka-metadata-quorum describe --status (through the bootstrap list and through node 2 alone)
  and --replication: 3 voters, voter N's controller endpoint on 127.0.0.N, one leader among
  them, two followers, zero lag; ids, epochs, offsets, timestamps and which node leads are
  normalised away.

- kafka-reassign-partitions --execute / --verify moving a 2-replica partition (issue 15), and
  its refusals of a target naming an unregistered broker or one broker twice.

Runs only with VLTAVA_TEST_BROKER=vltava-cluster (skipped at collection otherwise, so it starts
nothing). About 50 s on the 2-core machine: 11 s to start the Kafka cluster, 8 s to stop it, and
about 24 pairs of tool JVMs (each pair run in parallel, 1-2 s) for the rest.
"""

import json
import re
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import BROKER_KIND, CLUSTER_NODES, KafkaCluster
from helpers import wait_for_leaders
from test_kafka_cli import (FETCH_TIMEOUT_S, KAFKA_REFERENCE, QUORUM, STACK_FRAME, TOPICS,
                            Differences, Run, Tools, clean_lines, describe_run, only_lines_with,
                            unique, without_bootstrap_configs)

if BROKER_KIND != "vltava-cluster":
    pytest.skip(f"compares a 3-node vltava cluster with a 3-node Kafka cluster: runs only with "
                f"VLTAVA_TEST_BROKER=vltava-cluster (this run: {BROKER_KIND})",
                allow_module_level=True)

# kafka-reference's watchdog kills each Kafka JVM after this long (its default is 2 h): the
# bound if pytest-timeout ends the run (os._exit) before this module's teardown stops them.
KAFKA_MAX_LIFETIME_S = 1800
LEADERS = {str(n) for n in range(1, CLUSTER_NODES + 1)}
QUORUM_LAG_ATTEMPTS = 5         # describe --status runs until both quorums show no follower lag

PARTITION_LINE = re.compile(r"^Topic: (?P<topic>\S+) Partition: (?P<partition>\d+) "
                            r"Leader: (?P<leader>\S+) Replicas: (?P<replicas>\S*) Isr: (?P<isr>\S*)"
                            r" Elr: ?(?P<elr>\S*) LastKnownElr: ?(?P<last_known_elr>\S*)$")


@pytest.fixture(scope="module")
def clusters(request, tmp_path_factory):
    """{"vltava": the session's vltava cluster, "kafka": a private Kafka cluster}."""
    vltava = request.getfixturevalue("broker")
    assert vltava.kind == "vltava-cluster" and len(vltava.nodes) == CLUSTER_NODES, vltava
    base = tmp_path_factory.mktemp("kafka-cli-cluster")
    # A start that fails stops what it started (KafkaCluster).
    kafka = KafkaCluster(Path(tempfile.mkdtemp(prefix="kafka-cluster-", dir=base)),
                         max_lifetime_s=KAFKA_MAX_LIFETIME_S)
    try:
        yield {"vltava": vltava, "kafka": kafka}
    finally:
        kafka.stop()


@pytest.fixture(scope="module")
def classpath():
    result = subprocess.run([str(KAFKA_REFERENCE), "classpath"], capture_output=True, text=True,
                            timeout=FETCH_TIMEOUT_S, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        pytest.fail(f"kafka-reference classpath failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def tools(clusters, classpath, tmp_path_factory):
    """The tools through each cluster's 3-node bootstrap list."""
    t = Tools(clusters, classpath, tmp_path_factory.mktemp("kafka-cli-cluster-tools"))
    yield t
    t.close()


@pytest.fixture(scope="module")
def node_tools(clusters, classpath, tmp_path_factory):
    """node_tools(n): the tools through node n's address alone, in both clusters."""
    made = {}

    def through(n: int) -> Tools:
        if n not in made:
            made[n] = Tools({kind: cluster.nodes[n - 1] for kind, cluster in clusters.items()},
                            classpath, tmp_path_factory.mktemp(f"kafka-cli-node{n}-tools"))
        return made[n]

    yield through
    for t in made.values():
        t.close()


@pytest.fixture
def differences():
    return Differences()


def create_on_both(tools: Tools, d: Differences, step: str, topic: str, partitions: int,
                   *args: str) -> None:
    runs = tools.run(TOPICS, "--create", "--topic", topic, *args)
    d.compare(step, runs, expect=lambda n: n["stdout"] == [f"Created topic {topic}."])
    for kind, cluster in tools.brokers.items():
        if runs[kind].rc == 0:
            wait_for_leaders(cluster.bootstrap, topic, partitions)


def describe_lines(lines: list[str]) -> list[str]:
    """kafka-topics --describe without the cluster bootstrap configs (test_kafka_cli.py); a
    topic with no other config keeps a bare `Configs:`."""
    return [line.rstrip() for line in without_bootstrap_configs(lines)]


def partitions_of(lines: list[str]) -> list[dict]:
    return [m.groupdict() for m in map(PARTITION_LINE.match, lines) if m]


def placed_by_controller(lines: list[str]) -> list[str]:
    """Describe, with which broker leads each partition left out (the controller's choice)."""
    out = []
    for line in describe_lines(lines):
        match = PARTITION_LINE.match(line)
        if match and match["leader"] == match["replicas"] == match["isr"]:
            line = re.sub(r"Leader: \S+ Replicas: \S+ Isr: \S+",
                          "Leader: <broker> Replicas: <broker> Isr: <broker>", line)
        out.append(line)
    return out


def structure_problems(lines: list[str], partitions: int) -> list[str]:
    """Every partition once, led by one of the brokers, Replicas = Isr = [leader], spread evenly."""
    rows = partitions_of(lines)
    problems = []
    if sorted(int(r["partition"]) for r in rows) != list(range(partitions)):
        problems.append(f"partitions described: {[r['partition'] for r in rows]}, "
                        f"expected 0..{partitions - 1}")
    for r in rows:
        if r["leader"] not in LEADERS or not r["leader"] == r["replicas"] == r["isr"]:
            problems.append(f"partition {r['partition']}: Leader {r['leader']} Replicas "
                            f"{r['replicas']} Isr {r['isr']} (expected one broker of "
                            f"{sorted(LEADERS)} in all three)")
    led = Counter(r["leader"] for r in rows)
    if sorted(led.values()) != [partitions // len(LEADERS)] * len(LEADERS):
        problems.append(f"partitions led per broker {dict(led)}, expected "
                        f"{partitions // len(LEADERS)} each")
    return problems


def assert_structure(d: Differences, step: str, runs: dict[str, Run], partitions: int) -> None:
    problems = {kind: structure_problems(clean_lines(run.stdout, run), partitions)
                for kind, run in runs.items()}
    if problems["kafka"]:
        pytest.fail(f"[{step}] Kafka's own output is not what this test expects: "
                    f"{problems['kafka']}\n{describe_run(runs['kafka'])}")
    if problems["vltava"]:
        d.add(step, runs, detail="  " + "\n  ".join(problems["vltava"]))


def assigned(topic: str, brokers: list[int]) -> list[str]:
    """Describe's partition lines for partition i on brokers[i] (replication factor 1)."""
    return [f"Topic: {topic} Partition: {i} Leader: {b} Replicas: {b} Isr: {b} Elr: LastKnownElr:"
            for i, b in enumerate(brokers)]


def without_stack_frames(lines: list[str]) -> list[str]:
    return [line for line in lines if not STACK_FRAME.match(" " + line)]


# ----------------------------------------------------------------------------- kafka-topics

def test_kafka_topics_on_a_cluster_match_kafka(tools, node_tools, differences):
    d = differences
    named, placed = unique("assigned"), unique("placed")

    # Partition i on the broker the assignment names, whichever node receives the request.
    create_on_both(tools, d, "kafka-topics --create --replica-assignment 3,2,1", named, 3,
                   "--replica-assignment", "3,2,1")
    d.compare("kafka-topics --describe (after --replica-assignment 3,2,1)",
              tools.run(TOPICS, "--describe", "--topic", named), describe_lines,
              expect=lambda n: n["rc"] == 0 and n["stdout"][1:] == assigned(named, [3, 2, 1]))

    d.compare("kafka-topics --alter --partitions 5 --replica-assignment 3,2,1,2,3",
              tools.run(TOPICS, "--alter", "--topic", named, "--partitions", "5",
                        "--replica-assignment", "3,2,1,2,3"),
              expect=lambda n: n["rc"] == 0 and n["stdout"] == [])
    for cluster in tools.brokers.values():
        wait_for_leaders(cluster.bootstrap, named, 5)
    d.compare("kafka-topics --describe (after --alter --replica-assignment 3,2,1,2,3)",
              tools.run(TOPICS, "--describe", "--topic", named), describe_lines,
              expect=lambda n: n["rc"] == 0
              and n["stdout"][1:] == assigned(named, [3, 2, 1, 2, 3])
              and "PartitionCount: 5" in n["stdout"][0])

    # An assignment naming a broker that is not registered: INVALID_REPLICA_ASSIGNMENT.
    refused = unique("refused")
    d.compare("kafka-topics --create --replica-assignment 1,4 (unregistered broker refused)",
              tools.run(TOPICS, "--create", "--topic", refused, "--replica-assignment", "1,4"),
              without_stack_frames,
              expect=lambda n: n["rc"] == 1 and any(
                  "includes broker 4, but no such broker is registered" in line
                  for line in n["stdout"]))
    d.compare("kafka-topics --alter --replica-assignment ...,7 (unregistered broker refused)",
              tools.run(TOPICS, "--alter", "--topic", named, "--partitions", "6",
                        "--replica-assignment", "3,2,1,2,3,7"), without_stack_frames,
              expect=lambda n: n["rc"] == 1 and any(
                  "includes broker 7, but no such broker is registered" in line
                  for line in n["stdout"]))

    # The controller places the partitions: structure on both, the rest compared.
    create_on_both(tools, d, "kafka-topics --create --partitions 6", placed, 6,
                   "--partitions", "6")
    runs = tools.run(TOPICS, "--describe", "--topic", placed)
    d.compare("kafka-topics --describe (partitions placed by the controller)", runs,
              placed_by_controller, expect=lambda n: n["rc"] == 0 and len(n["stdout"]) == 7)
    assert_structure(d, "kafka-topics --describe (partitions placed by the controller)", runs, 6)

    # Every node answers for the whole cluster, as the 3-node bootstrap list does.
    both = f"{re.escape(named)}|{re.escape(placed)}"
    whole = {kind: clean_lines(run.stdout, run)
             for kind, run in tools.run(TOPICS, "--describe", "--topic", both).items()}
    for n in range(1, CLUSTER_NODES + 1):
        step = f"kafka-topics --describe through node {n} alone"
        runs = node_tools(n).run(TOPICS, "--describe", "--topic", both)
        d.compare(step, runs, placed_by_controller,
                  expect=lambda out: out["rc"] == 0 and len(out["stdout"]) == 13)
        for kind, run in runs.items():
            if clean_lines(run.stdout, run) != whole[kind]:
                if kind == "kafka":
                    pytest.fail(f"[{step}] Kafka's node answers differently from the cluster:\n"
                                f"{describe_run(run)}")
                d.add(step, runs, detail=(
                    "  vltava's node answers differently from the whole cluster:\n    "
                    + "\n    ".join(whole["vltava"])))

    for flag in ("--under-replicated-partitions", "--unavailable-partitions"):
        d.compare(f"kafka-topics --describe {flag}",
                  tools.run(TOPICS, "--describe", "--topic", both, flag),
                  expect=lambda n: n["rc"] == 0 and n["stdout"] == [])
    d.assert_none()


# ----------------------------------------------------------------------------- kafka-leader-election

ELECTION = "org.apache.kafka.tools.LeaderElectionCommand"  # kafka-leader-election


def test_kafka_leader_election_on_a_cluster_matches_kafka(tools, differences):
    d = differences
    named, placed = unique("elect"), unique("elect-placed")
    create_on_both(tools, d, "kafka-topics --create --replica-assignment 3,2,1", named, 3,
                   "--replica-assignment", "3,2,1")
    create_on_both(tools, d, "kafka-topics --create --partitions 3", placed, 3,
                   "--partitions", "3")

    # With one replica each partition's leader is its preferred replica: nothing to elect.
    d.compare("kafka-leader-election --election-type preferred (one partition)",
              tools.run(ELECTION, "--election-type", "preferred", "--topic", named,
                        "--partition", "0"),
              expect=lambda n: n["rc"] == 0
              and n["stdout"] == [f"Valid replica already elected for partitions {named}-0"])
    partitions = tools.file(f"{named}-elect.json", json.dumps({"partitions": [
        {"topic": topic, "partition": p} for topic in (named, placed) for p in range(3)]}))
    expected = ", ".join(sorted(f"{topic}-{p}" for topic in (named, placed) for p in range(3)))

    def sorted_partitions(lines: list[str]) -> list[str]:
        prefix = "Valid replica already elected for partitions "
        return [prefix + ", ".join(sorted(line[len(prefix):].split(", ")))
                if line.startswith(prefix) else line for line in lines]

    d.compare("kafka-leader-election --election-type preferred --path-to-json-file",
              tools.run(ELECTION, "--election-type", "preferred",
                        "--path-to-json-file", partitions), sorted_partitions,
              expect=lambda n: n["rc"] == 0 and n["stdout"] == [
                  f"Valid replica already elected for partitions {expected}"])
    # Every partition of the cluster (the vltava one is shared with other tests: only this
    # module's names are compared, and the exit code).
    d.compare("kafka-leader-election --election-type preferred --all-topic-partitions",
              tools.run(ELECTION, "--election-type", "preferred", "--all-topic-partitions"),
              only_lines_with(named), expect=lambda n: n["rc"] == 0 and n["stdout"] == [])
    d.compare("kafka-leader-election --election-type unclean (one partition)",
              tools.run(ELECTION, "--election-type", "unclean", "--topic", placed,
                        "--partition", "1"),
              expect=lambda n: n["rc"] == 0
              and n["stdout"] == [f"Valid replica already elected for partitions {placed}-1"])
    d.compare("kafka-leader-election (unknown partition)",
              tools.run(ELECTION, "--election-type", "preferred", "--topic", named,
                        "--partition", "9"), without_stack_frames,
              expect=lambda n: n["rc"] == 1 and any(
                  f"No such partition as {named}-9" in line for line in n["stdout"]))
    d.assert_none()


# -------------------------------------------------------------------------- kafka-reassign-partitions

REASSIGN = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand"  # kafka-reassign-partitions
VERIFY_ATTEMPTS = 20    # --verify runs until the reassignment is complete on both clusters


def test_kafka_reassign_partitions_on_a_cluster_matches_kafka(tools, differences):
    """--execute moves a replicated partition to another broker pair, --verify reports it
    complete, and --describe shows it there, on both clusters; a target naming an unregistered
    broker and one naming a broker twice are refused with Kafka's words."""
    d = differences
    topic = unique("moved")
    create_on_both(tools, d, "kafka-topics --create --replica-assignment 1:2", topic, 1,
                   "--replica-assignment", "1:2")

    def plan(replicas: list[int]) -> str:
        return tools.file(f"{topic}-{'-'.join(map(str, replicas))}.json", json.dumps(
            {"version": 1, "partitions": [{"topic": topic, "partition": 0,
                                           "replicas": replicas}]}))

    def without_log_dirs(lines: list[str]) -> list[str]:
        """The rollback plan names each cluster's own data directories."""
        return [re.sub(r'"log_dirs":\[[^\]]*\]', '"log_dirs":[<dirs>]', line) for line in lines]

    started = f"Successfully started partition reassignment for {topic}-0"
    d.compare("kafka-reassign-partitions --execute",
              tools.run(REASSIGN, "--execute", "--reassignment-json-file", plan([3, 1])),
              without_log_dirs, expect=lambda n: n["rc"] == 0 and n["stdout"][-1:] == [started])
    done = f"Reassignment of partition {topic}-0 is completed."
    for attempt in range(VERIFY_ATTEMPTS):
        runs = tools.run(REASSIGN, "--verify", "--reassignment-json-file", plan([3, 1]))
        if all(done in run.stdout for run in runs.values()) or attempt == VERIFY_ATTEMPTS - 1:
            break
        time.sleep(0.5)  # polling: the copy's progress has no event a tool can await
    d.compare("kafka-reassign-partitions --verify", runs,
              expect=lambda n: n["rc"] == 0 and done in n["stdout"])
    d.compare("kafka-topics --describe after the move",
              tools.run(TOPICS, "--describe", "--topic", topic), describe_lines,
              expect=lambda n: [(p["replicas"], p["isr"]) for p in partitions_of(n["stdout"])]
              == [("3,1", "1,3")])
    for replicas, step in (([3, 9], "an unregistered broker"), ([2, 2], "a broker twice")):
        d.compare(f"kafka-reassign-partitions --execute ({step})",
                  tools.run(REASSIGN, "--execute", "--reassignment-json-file", plan(replicas)),
                  without_stack_frames, expect=lambda n: n["rc"] != 0)
    d.assert_none()


# ----------------------------------------------------------------------------- kafka-metadata-quorum

QUORUM_VALUES = [
    (re.compile(r"^(ClusterId|LeaderId|LeaderEpoch|HighWatermark|MaxFollowerLagTimeMs):.*"),
     r"\1: <value>"),
    # The controller ports are each cluster's own (voter N's host is checked on its own).
    (re.compile(r':\d+"'), ':<port>"'),
]
VOTERS = re.compile(r"^CurrentVoters:\s*(\[.*\])\s*$", re.M)


def quorum_status_lines(lines: list[str]) -> list[str]:
    for pattern, replacement in QUORUM_VALUES:
        lines = [pattern.sub(replacement, line) for line in lines]
    return lines


def quorum_status_problems(run: Run) -> list[str]:
    """3 voters, voter N's controller endpoint on 127.0.0.N, a leader among them, zero lag."""
    fields = dict(re.findall(r"^(\w+):\s*(.*?)\s*$", run.stdout, re.M))
    problems = []
    if run.rc != 0:
        problems.append(f"exit code {run.rc}")
    match = VOTERS.search(run.stdout)
    voters = json.loads(match.group(1)) if match else []
    ids = sorted(v.get("id") for v in voters)
    if ids != list(range(1, CLUSTER_NODES + 1)):
        problems.append(f"voters {ids}, expected {list(range(1, CLUSTER_NODES + 1))}")
    for v in voters:
        hosts = [re.sub(r"^CONTROLLER://|:\d+$", "", e) for e in v.get("endpoints", [])]
        if hosts != [f"127.0.0.{v.get('id')}"]:
            problems.append(f"voter {v.get('id')} endpoints {v.get('endpoints')}, "
                            f"expected one on 127.0.0.{v.get('id')}")
    if fields.get("LeaderId") not in LEADERS:
        problems.append(f"LeaderId {fields.get('LeaderId')!r} is not a voter")
    if fields.get("MaxFollowerLag") != "0":
        problems.append(f"MaxFollowerLag {fields.get('MaxFollowerLag')!r}")
    if fields.get("CurrentObservers") != "[]":
        problems.append(f"CurrentObservers {fields.get('CurrentObservers')!r}")
    return problems


def caught_up(run: Run) -> bool:
    """No follower lags (describe --status: MaxFollowerLag; --replication: every Lag cell)."""
    if run.rc != 0:
        return True  # nothing to wait for: the failure is compared as it is
    status = re.search(r"^MaxFollowerLag:\s+(\d+)\s*$", run.stdout, re.M)
    if status:
        return status.group(1) == "0"
    rows = [line.split() for line in run.stdout.splitlines()[1:] if line.strip()]
    return all(len(r) == 7 and r[3] == "0" for r in rows)


def quorum(tools: Tools, *args: str) -> dict[str, Run]:
    """kafka-metadata-quorum ARGS, again (bounded) while either quorum shows a follower lagging:
    a record just written (a new topic, Kafka's periodic no-op records) is a lag for a moment."""
    for _ in range(QUORUM_LAG_ATTEMPTS):
        runs = tools.run(QUORUM, *args)
        if all(caught_up(run) for run in runs.values()):
            break
    return runs


def check_status(d: Differences, step: str, runs: dict[str, Run]) -> None:
    problems = {kind: quorum_status_problems(run) for kind, run in runs.items()}
    if problems["kafka"]:
        pytest.fail(f"[{step}] Kafka's own output is not what this test expects: "
                    f"{problems['kafka']}\n{describe_run(runs['kafka'])}")
    d.compare(step, runs, quorum_status_lines)
    if problems["vltava"]:
        d.add(step, runs, detail="  " + "\n  ".join(problems["vltava"]))


def quorum_replication_rows(lines: list[str]) -> list[str]:
    """The header, then Lag and Status per row (NodeId: which node leads is the quorum's choice;
    DirectoryId, LogEndOffset and the timestamps are the cluster's own)."""
    header, *rows = lines
    return [header, *(" ".join([cells[3], cells[-1]]) if len(cells) == 7 else " ".join(cells)
                      for cells in (row.split(" ") for row in rows))]


def replication_problems(run: Run) -> list[str]:
    lines = clean_lines(run.stdout, run)
    rows = [line.split(" ") for line in lines[1:]]
    problems = [] if run.rc == 0 else [f"exit code {run.rc}"]
    if sorted(r[0] for r in rows) != sorted(LEADERS) or any(len(r) != 7 for r in rows):
        problems.append(f"rows {lines[1:]}, expected one of 7 cells per node {sorted(LEADERS)}")
    elif sorted(r[-1] for r in rows) != ["Follower", "Follower", "Leader"]:
        problems.append(f"statuses {[r[-1] for r in rows]}, expected a Leader and 2 Followers")
    return problems


def test_kafka_metadata_quorum_describes_a_quorum_of_three(tools, node_tools, differences):
    d = differences
    check_status(d, "kafka-metadata-quorum describe --status",
                 quorum(tools, "describe", "--status"))
    check_status(d, "kafka-metadata-quorum describe --status (through node 2 alone)",
                 quorum(node_tools(2), "describe", "--status"))

    step = "kafka-metadata-quorum describe --replication"
    runs = quorum(tools, "describe", "--replication")
    problems = {kind: replication_problems(run) for kind, run in runs.items()}
    if problems["kafka"]:
        pytest.fail(f"[{step}] Kafka's own output is not what this test expects: "
                    f"{problems['kafka']}\n{describe_run(runs['kafka'])}")
    d.compare(step, runs, quorum_replication_rows,
              expect=lambda n: n["stdout"][1:] == ["0 Leader", "0 Follower", "0 Follower"])
    if problems["vltava"]:
        d.add(step, runs, detail="  " + "\n  ".join(problems["vltava"]))
    d.assert_none()
