//! `vltava cluster status` against a real broker (a quorum of one).
//!
//! Guards against: a status that names another cluster id than the data directory's, no
//! controller, a quorum leader that is not the node, a voter reported behind on an idle
//! quorum, or partitions reported without a leader on a healthy node.

mod common;

use common::{TestResult, cli, cli_json};

#[test]
fn cluster_status_shows_the_node_the_controller_and_the_quorum() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let b = broker.bootstrap();
    let created = cli(b, "topic", &["create", "orders", "--partitions", "3"])?;
    assert!(created.status.success());

    let status = cli_json(b, "cluster", &["status"])?;
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(broker.data_dir().join("meta.json"))?)?;
    assert_eq!(status["cluster_id"], meta["cluster_id"]);
    assert_eq!(status["controller_id"], 1);
    let nodes = status["nodes"].as_array().ok_or("no nodes")?;
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0]["id"], 1);
    assert_eq!(nodes[0]["fenced"], false);
    let port = b.rsplit_once(':').ok_or("bootstrap")?.1.parse::<i64>()?;
    assert_eq!(nodes[0]["port"], port);

    let quorum = &status["quorum"];
    assert_eq!(quorum["leader_id"], 1);
    assert!(quorum["leader_epoch"].as_i64() >= Some(1));
    // Registration, unfencing and the topic at least.
    assert!(quorum["high_watermark"].as_i64() >= Some(3));
    let voters = quorum["voters"].as_array().ok_or("no voters")?;
    assert_eq!(voters.len(), 1);
    assert_eq!(voters[0]["id"], 1);
    assert_eq!(voters[0]["lag"], 0);
    assert_eq!(status["partitions_without_leader"], serde_json::json!([]));

    let table = cli(b, "cluster", &["status"])?;
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("controller: 1"), "{text}");
    assert!(text.contains("partitions without a leader: 0"), "{text}");
    Ok(())
}
