//! `wire-produce` and `wire-fetch` against a real vltava broker: the counts a benchmark reports
//! must be the records the broker stored, and an error answer must fail the run instead of
//! being timed as a fast success (a benchmark that counts rejected requests is the bug).

use std::process::Command;

use serde_json::Value;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Runs `vltava-bench ARGS --json`: whether it exited 0, and the JSON object it printed.
fn bench(args: &[&str]) -> Result<(bool, Value), Box<dyn std::error::Error>> {
    let output = Command::new(env!("CARGO_BIN_EXE_vltava-bench"))
        .args(args)
        .args(["--json", "--duration-s-max", "60"])
        .output()?;
    let stdout = String::from_utf8(output.stdout)?;
    let line = stdout.lines().last().ok_or_else(|| {
        format!(
            "no output; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    Ok((output.status.success(), serde_json::from_str(line)?))
}

fn count(report: &Value, field: &str) -> Result<u64, Box<dyn std::error::Error>> {
    report[field]
        .as_u64()
        .ok_or_else(|| format!("no {field} in {report}").into())
}

#[test]
fn wire_fetch_reads_exactly_what_wire_produce_had_acknowledged() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let bootstrap = broker.bootstrap();
    let (ok, produced) = bench(&[
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
    assert_eq!(count(&produced, "records_acked")?, 200_000);
    assert_eq!(count(&produced, "requests_acked")?, 200);
    assert_eq!(count(&produced, "requests_failed")?, 0);
    assert_eq!(count(&produced["latency_us"], "count")?, 200);

    let (ok, fetched) = bench(&[
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
    assert_eq!(count(&fetched, "records_expected")?, 200_000);
    assert_eq!(count(&fetched, "records_read")?, 200_000);
    assert_eq!(fetched["partitions"].as_u64(), Some(4));
    Ok(())
}

#[test]
fn an_error_answer_is_counted_as_a_failure_and_fails_the_run() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    // 100 records of 100 B make a batch of about 11 KB, over the topic's limit.
    let (ok, report) = bench(&[
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
    assert_eq!(count(&report, "requests_sent")?, 10);
    assert_eq!(count(&report, "requests_failed")?, 10);
    assert_eq!(count(&report, "records_acked")?, 0);
    let error = report["first_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("error 10 MessageTooLarge"),
        "first error: {error}"
    );
    Ok(())
}
