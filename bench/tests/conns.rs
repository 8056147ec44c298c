//! `conns` against a real vltava broker, small: the held idle and slow-loris connections must
//! really be open while the healthy client is measured (a benchmark whose connections were
//! refused or closed would report a healthy broker under no load), and every probe request
//! must have succeeded.

mod common;

use common::{TestResult, bench, number};

#[test]
fn conns_holds_its_connections_while_the_healthy_client_is_measured() -> TestResult {
    let broker = vltava_testkit::start_broker(&["--max-connections", "2000"])?;
    let (ok, report) = bench(&[
        "conns",
        "--bootstrap",
        broker.bootstrap(),
        "--idle",
        "300",
        "--slow-loris",
        "50",
        "--requests",
        "50",
        "--settle-ms",
        "200",
    ])?;
    assert!(ok, "conns failed: {report}");
    assert_eq!(number(&report, "still_open")?, 350.0);
    for phase in ["baseline", "held"] {
        for kind in ["produce_us", "fetch_us"] {
            assert_eq!(
                report[phase][kind]["count"].as_f64(),
                Some(50.0),
                "{report}"
            );
        }
    }
    Ok(())
}
