//! `wire-produce` and `wire-fetch` against a real vltava broker: the counts a benchmark reports
//! must be the records the broker stored, and an error answer must fail the run instead of
//! being timed as a fast success (a benchmark that counts rejected requests is the bug).

mod common;

use common::{TestResult, bench, number};
use serde_json::Value;

/// `bench` for the wire tools, each bounded to a minute.
fn wire(args: &[&str]) -> Result<(bool, Value), Box<dyn std::error::Error>> {
    let mut bounded = args.to_vec();
    bounded.extend(["--duration-s-max", "60"]);
    bench(&bounded)
}

#[test]
fn wire_fetch_reads_exactly_what_wire_produce_had_acknowledged() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let bootstrap = broker.bootstrap();
    let (ok, produced) = wire(&[
        "wire-produce",
        "--bootstrap",
        bootstrap,
        "--topic",
        "counted",
        "--connections",
        "4",
        "--records",
        "200000",
        "--batch-records",
        "1000",
        "--in-flight",
        "4",
        "--acks",
        "all",
    ])?;
    assert!(ok, "wire-produce failed: {produced}");
    assert_eq!(number(&produced, "records_acked")?, 200_000.0);
    assert_eq!(number(&produced, "requests_acked")?, 200.0);
    assert_eq!(number(&produced, "requests_failed")?, 0.0);
    assert_eq!(number(&produced["latency_us"], "count")?, 200.0);

    let (ok, fetched) = wire(&[
        "wire-fetch",
        "--bootstrap",
        bootstrap,
        "--topic",
        "counted",
        "--connections",
        "2",
        "--verify-crc",
    ])?;
    assert!(ok, "wire-fetch failed: {fetched}");
    assert_eq!(number(&fetched, "records_expected")?, 200_000.0);
    assert_eq!(number(&fetched, "records_read")?, 200_000.0);
    assert_eq!(fetched["partitions"].as_u64(), Some(4));
    Ok(())
}

#[test]
fn an_error_answer_is_counted_as_a_failure_and_fails_the_run() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    // 100 records of 100 B make a batch of about 11 KB, over the topic's limit.
    let (ok, report) = wire(&[
        "wire-produce",
        "--bootstrap",
        broker.bootstrap(),
        "--topic",
        "small-batches",
        "--topic-config",
        "max.message.bytes=1000",
        "--connections",
        "2",
        "--records",
        "1000",
        "--batch-records",
        "100",
    ])?;
    assert!(!ok, "a run of rejected requests exited 0: {report}");
    assert_eq!(number(&report, "requests_sent")?, 10.0);
    assert_eq!(number(&report, "requests_failed")?, 10.0);
    assert_eq!(number(&report, "records_acked")?, 0.0);
    let error = report["first_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("error 10 MessageTooLarge"),
        "first error: {error}"
    );
    Ok(())
}
